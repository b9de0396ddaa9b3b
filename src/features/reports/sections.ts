import { type SQL, sql } from "drizzle-orm";
import type { Config } from "../../config/schema.js";
import { type Executor, queryRows } from "../../db/client.js";
import type { GateResult, MeasuredValue } from "../../db/schema.js";
import { JOB_NAMES } from "../../core/jobs/catalog.js";

/**
 * The report sections the reference process's "Orchestrator Report" asks for beyond releases, health,
 * jobs and feedback: test results, ML validation, commits shipped, remaining work and blockers. Each
 * query returns at most a few rows per environment.
 */

const envList = (config: Config): SQL =>
  sql`(values ${sql.join(
    config.environments.map((e) => sql`(${e.name})`),
    sql`, `,
  )}) as e(name)`;

export interface TestResults {
  environment: string;
  version: string;
  at: Date;
  gates: Array<{ name: string; status: GateResult["status"]; summary: string[] }>;
}

/** Lines of a run gate's output that count tests ("frontend: 138 passed"), else its last line. Pure. */
export function testSummary(gate: Pick<GateResult, "output" | "detail">): string[] {
  const counted = (gate.output ?? "")
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => /\b\d+ (passed|failed|skipped|errors?|tests?)\b/i.test(line) && line.length <= 200);
  return counted.length > 0 ? counted.slice(-4) : [gate.detail];
}

/** Per environment, the run gates of its latest release whose gates finished. */
export async function latestTestResults(db: Executor, config: Config): Promise<TestResults[]> {
  const rows = await queryRows<{ environment: string; version: string; at: number; gates: GateResult[] }>(
    db,
    sql`
      select e.name as environment, x.version, (extract(epoch from x.created_at) * 1000)::float8 as at, x.gates
      from ${envList(config)}
      cross join lateral (
        select r.version, r.created_at, r.gates from releases r
        where r.environment = e.name and r.state <> 'gating' and r.gates @> '[{"kind": "run"}]'::jsonb
        order by r.id desc limit 1
      ) x`,
  );
  return rows.map((r) => ({
    environment: r.environment,
    version: r.version,
    at: new Date(r.at),
    gates: r.gates.filter((g) => g.kind === "run" && (g.status === "passed" || g.status === "failed")).map((g) => ({ name: g.name, status: g.status, summary: testSummary(g) })),
  }));
}

export interface ModelValidation {
  /** An environment's latest http gate with measured values, or the model-retraining-review job. */
  source: string;
  name: string;
  at: Date;
  ok: boolean;
  measured: MeasuredValue[];
}

/** The latest measured model values: per environment from its http gates, and from the model-retraining-review job. */
export async function latestModelValidation(db: Executor, config: Config): Promise<ModelValidation[]> {
  const [gateRows, jobRows] = await Promise.all([
    queryRows<{ environment: string; at: number; gate: GateResult }>(
      db,
      sql`
        select e.name as environment, (extract(epoch from x.created_at) * 1000)::float8 as at, x.gate
        from ${envList(config)}
        cross join lateral (
          select r.created_at, g as gate from releases r, jsonb_array_elements(r.gates) g
          where r.environment = e.name and r.gates @> '[{"kind": "http"}]'::jsonb and g->>'kind' = 'http' and g ? 'measured'
          order by r.id desc limit 1
        ) x`,
    ),
    queryRows<{ at: number; status: string; measured: MeasuredValue[] }>(
      db,
      sql`
        select (extract(epoch from started_at) * 1000)::float8 as at, status, details->'measured' as measured from job_runs
        where job = 'model-retraining-review' and status in ('succeeded', 'failed') and details ? 'measured'
        order by started_at desc limit 1`,
    ),
  ]);
  return [
    ...gateRows.map((r) => ({ source: r.environment, name: r.gate.name, at: new Date(r.at), ok: r.gate.status === "passed", measured: r.gate.measured ?? [] })),
    ...jobRows.map((r) => ({ source: "model-retraining-review", name: "Model retraining review", at: new Date(r.at), ok: r.status === "succeeded", measured: r.measured })),
  ];
}

export interface ShippedCommits {
  environment: string;
  releases: number;
  commits: number;
  versions: Array<{ version: string; commits: number }>;
}

/** Commits that went live in the period per environment (from the ranges read with `repository`). */
export async function commitsShipped(db: Executor, config: Config, period: { since: Date; until: Date }): Promise<ShippedCommits[]> {
  const rows = await queryRows<{ environment: string; releases: number; commits: number; versions: Array<{ version: string; commits: number }> }>(
    db,
    sql`
      select r.environment, count(*)::int as releases, coalesce(sum((r.commits->>'total')::int), 0)::int as commits,
        (jsonb_agg(jsonb_build_object('version', r.version, 'commits', (r.commits->>'total')::int) order by r.live_at desc))
          as versions
      from releases r
      where r.live_at >= ${period.since.toISOString()}::timestamptz and r.live_at < ${period.until.toISOString()}::timestamptz
        and r.commits->>'status' = 'ok'
      group by r.environment`,
  );
  return config.environments.map((env) => {
    const row = rows.find((r) => r.environment === env.name);
    return { environment: env.name, releases: row?.releases ?? 0, commits: row?.commits ?? 0, versions: (row?.versions ?? []).slice(0, 8) };
  });
}

export interface Blockers {
  /** Blocked or failed releases not tried again since on that environment. */
  stuck: Array<{ id: number; version: string; environment: string; state: string; reason: string | null; at: Date }>;
  stuckTotal: number;
  /** Jobs whose latest run failed. */
  failingJobs: Array<{ job: string; at: Date; summary: string | null }>;
  /** Open or in-progress critical feedback (a count: its text stays in its channel). */
  openCritical: number;
  openHigh: number;
  /** Approved releases waiting for a deploy window or the end of a freeze (state `scheduled`). */
  scheduled: Array<{ id: number; version: string; environment: string }>;
}

export async function blockers(db: Executor): Promise<Blockers> {
  // The latest release of each version on each environment, and when that environment last went live:
  // one pass with window functions instead of a lookup per release.
  const stuckRows = sql`
    select r.id, r.version, r.environment, r.state, r.reason, r.updated_at from (
      select r.*, row_number() over (partition by r.environment, r.semver order by r.id desc) as newest,
        max(r.live_at) over (partition by r.environment) as last_live
      from releases r
    ) r
    where r.newest = 1 and r.state in ('blocked', 'failed') and (r.last_live is null or r.last_live < r.updated_at)`;
  const [stuck, failingJobs, feedbackCounts, scheduled] = await Promise.all([
    queryRows<{ id: number; version: string; environment: string; state: string; reason: string | null; at: number; total: number }>(
      db,
      sql`select s.id, s.version, s.environment, s.state, s.reason, (extract(epoch from s.updated_at) * 1000)::float8 as at, (count(*) over ())::int as total
          from (${stuckRows}) s order by s.updated_at desc limit 10`,
    ),
    // Per built-in job its latest finished run, each found through the (job, started_at) index.
    queryRows<{ job: string; at: number; summary: string | null }>(
      db,
      sql`
        select j.name as job, (extract(epoch from x.started_at) * 1000)::float8 as at, x.summary
        from (values ${sql.join(
          JOB_NAMES.map((name) => sql`(${name})`),
          sql`, `,
        )}) as j(name)
        cross join lateral (
          select started_at, summary, status from job_runs
          where job = j.name and status in ('succeeded', 'failed') order by started_at desc limit 1
        ) x
        where x.status = 'failed'
        order by x.started_at desc limit 10`,
    ),
    // The predicate of the feedback_open_priority index, so the counts come from the index alone.
    queryRows<{ priority: string; count: number }>(
      db,
      sql`select priority, count(*)::int as count from feedback
          where deleted_at is null and status <> 'closed' and priority in ('critical', 'high') group by priority`,
    ),
    // `scheduled` is the state issue 14 adds; until then no release is in it.
    queryRows<{ id: number; version: string; environment: string }>(db, sql`select id, version, environment from releases where state = 'scheduled' order by id limit 10`),
  ]);
  return {
    stuck: stuck.map(({ total: _total, ...s }) => ({ ...s, at: new Date(s.at) })),
    stuckTotal: stuck[0]?.total ?? 0,
    failingJobs: failingJobs.map((j) => ({ ...j, at: new Date(j.at) })),
    openCritical: feedbackCounts.find((c) => c.priority === "critical")?.count ?? 0,
    openHigh: feedbackCounts.find((c) => c.priority === "high")?.count ?? 0,
    scheduled,
  };
}
