import { and, desc, eq, gte, lt, sql } from "drizzle-orm";
import type { Config } from "../../config/schema.js";
import type { Executor } from "../../db/client.js";
import { healthChecks, healthState } from "../../db/schema.js";

export async function latestHealth(db: Executor): Promise<Map<string, { ok: boolean; latencyMs: number | null; at: Date; error: string | null }>> {
  const rows = await db
    .selectDistinctOn([healthChecks.environment], {
      environment: healthChecks.environment,
      ok: healthChecks.ok,
      latencyMs: healthChecks.latencyMs,
      at: healthChecks.at,
      error: healthChecks.error,
    })
    .from(healthChecks)
    .orderBy(healthChecks.environment, desc(healthChecks.at));
  return new Map(rows.map((r) => [r.environment, r]));
}

/** Health checks since a time per environment (or one): how many, how many failed, p95 latency. Aggregated in SQL. */
export function healthSummary(db: Executor, since: Date, environment?: string) {
  return db
    .select({
      environment: healthChecks.environment,
      checks: sql<number>`count(*)::int`,
      failures: sql<number>`count(*) filter (where not ${healthChecks.ok})::int`,
      p95LatencyMs: sql<number | null>`percentile_cont(0.95) within group (order by ${healthChecks.latencyMs})`,
    })
    .from(healthChecks)
    .where(and(gte(healthChecks.at, since), environment ? eq(healthChecks.environment, environment) : undefined))
    .groupBy(healthChecks.environment);
}

export interface EnvironmentHealth {
  environment: string;
  /** The current state (health_state); null when never checked. */
  ok: boolean | null;
  since: Date | null;
  checks: number;
  passed: number;
  p50: number | null;
  p95: number | null;
  max: number | null;
}

/** Health in the period per configured environment: checks, availability, latency p50/p95/max. */
export async function healthFigures(db: Executor, config: Config, period: { since: Date; until: Date }): Promise<EnvironmentHealth[]> {
  const [rows, states] = await Promise.all([
    db
      .select({
        environment: healthChecks.environment,
        checks: sql<number>`count(*)::int`,
        passed: sql<number>`(count(*) filter (where ${healthChecks.ok}))::int`,
        p50: sql<number | null>`percentile_cont(0.5) within group (order by ${healthChecks.latencyMs})`,
        p95: sql<number | null>`percentile_cont(0.95) within group (order by ${healthChecks.latencyMs})`,
        max: sql<number | null>`max(${healthChecks.latencyMs})`,
      })
      .from(healthChecks)
      .where(and(gte(healthChecks.at, period.since), lt(healthChecks.at, period.until)))
      .groupBy(healthChecks.environment),
    db.select().from(healthState),
  ]);
  const round = (value: number | string | null) => (value === null ? null : Math.round(Number(value)));
  return config.environments.map((env) => {
    const row = rows.find((r) => r.environment === env.name);
    const state = states.find((s) => s.environment === env.name);
    return {
      environment: env.name,
      ok: state?.ok ?? null,
      since: state?.since ?? null,
      checks: row?.checks ?? 0,
      passed: row?.passed ?? 0,
      p50: round(row?.p50 ?? null),
      p95: round(row?.p95 ?? null),
      max: round(row?.max ?? null),
    };
  });
}
