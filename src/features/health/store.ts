import { and, desc, eq, gte, sql } from "drizzle-orm";
import type { Executor } from "../../db/client.js";
import { healthChecks } from "../../db/schema.js";

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
