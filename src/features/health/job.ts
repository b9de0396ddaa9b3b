import { and, eq, ne, sql } from "drizzle-orm";
import type { Db } from "../../db/client.js";
import { healthChecks, healthState } from "../../db/schema.js";
import type { Services } from "../../core/feature.js";
import { checkHealth, type HealthResult } from "./check.js";
import { escapeMrkdwn } from "../../slack/text.js";
import { formatAge } from "../../time.js";
import type { JobOutcome } from "../../core/jobs/registry.js";

type HealthChange = { kind: "failing"; detail: string } | { kind: "recovered"; detail: string; failingSince: Date | null };

/**
 * Stores one check and moves the environment's state. The change is decided by a single conditional
 * statement (insert … on conflict do nothing, or update … where ok <> new), so when two runs race only
 * one of them sees the change and alerts.
 */
export async function recordHealth(db: Db, environment: string, result: HealthResult): Promise<HealthChange | undefined> {
  await db.insert(healthChecks).values({
    environment,
    ok: result.ok,
    statusCode: result.statusCode ?? null,
    latencyMs: result.latencyMs,
    error: result.ok ? null : result.detail,
  });
  const [first] = await db.insert(healthState).values({ environment, ok: result.ok, since: sql`now()` }).onConflictDoNothing().returning();
  if (first) return result.ok ? undefined : { kind: "failing", detail: result.detail };
  const [before] = await db.select({ since: healthState.since }).from(healthState).where(eq(healthState.environment, environment));
  const [moved] = await db
    .update(healthState)
    .set({ ok: result.ok, since: sql`now()` })
    .where(and(eq(healthState.environment, environment), ne(healthState.ok, result.ok)))
    .returning();
  if (!moved) return undefined;
  return result.ok ? { kind: "recovered", detail: result.detail, failingSince: before?.since ?? null } : { kind: "failing", detail: result.detail };
}

/**
 * The health-check job (and `/orch health`): every environment's `health.url` (or only `only`), stored,
 * with an alert on each change of state.
 */
export async function healthCheckJob(services: Services, signal: AbortSignal, only?: string): Promise<JobOutcome> {
  const { config, db, poster, log } = services;
  const environments = config.environments.filter((env) => env.health && (only === undefined || env.name === only));
  if (environments.length === 0) {
    return { status: "succeeded", summary: `No environment${only ? ` named ${only}` : ""} has a health URL (environments[].health.url), so there was nothing to check.` };
  }
  const results = await Promise.all(environments.map(async (env) => ({ env, result: await checkHealth(env.health as NonNullable<typeof env.health>, signal) })));
  const lines: string[] = [];
  const changes: Array<{ environment: string; change: HealthChange["kind"] }> = [];
  const unposted: string[] = [];
  for (const { env, result } of results) {
    lines.push(`${env.name} ${result.ok ? "healthy" : result.detail.startsWith("slow: ") ? "slow" : "failing"}: ${result.detail.replace(/^slow: /, "")}`);
    const change = await recordHealth(db, env.name, result);
    if (!change) continue;
    changes.push({ environment: env.name, change: change.kind });
    const url = env.health?.url ?? "";
    const slow = /^slow: /.exec(change.detail);
    const text =
      change.kind === "failing"
        ? `${slow ? ":large_orange_circle:" : ":red_circle:"} *${env.name}* is ${slow ? "slow" : "failing"}: ${escapeMrkdwn(change.detail.replace(/^slow: /, ""))} (<${url}|health check>)`
        : `:large_green_circle: *${env.name}* recovered: ${escapeMrkdwn(change.detail)}${change.failingSince ? `, after ${formatAge(change.failingSince)} failing` : ""}.`;
    try {
      await poster.post(config.channels.alerts, { text });
    } catch (error) {
      log.error("could not post a health alert", { environment: env.name, change: change.kind, error });
      unposted.push(env.name);
    }
  }
  const summary = `${lines.join("; ")}.${changes.length > 0 ? ` Alerted: ${changes.map((c) => `${c.environment} ${c.change}`).join(", ")}.` : ""}`;
  const details = {
    environments: results.map(({ env, result }) => ({ environment: env.name, ok: result.ok, latencyMs: result.latencyMs, statusCode: result.statusCode ?? null, detail: result.detail })),
    changes,
  };
  // An environment failing is news for the alert above, not a failure of this job; a lost alert is.
  if (unposted.length > 0) return { status: "failed", summary: `${summary} Could not post the alert for ${unposted.join(", ")}.`, details };
  return { status: "succeeded", summary, details };
}
