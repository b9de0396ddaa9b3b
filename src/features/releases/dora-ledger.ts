import { type SQL, sql } from "drizzle-orm";
import { type Executor, queryRows } from "../../db/client.js";

/**
 * The four DORA figures per environment, from Orchestrator's own ledger (releases and their
 * transitions), every one computed by the database: only one aggregate row per environment returns.
 *
 * Over a period [since, until), for each environment:
 *
 * - Deployment frequency: releases that went live in the period (`live_at` in it; a release later
 *   rolled back still went live), per week (count ÷ days × 7).
 * - Lead time for changes: for those releases, `live_at` minus the author date of the oldest commit
 *   they shipped (`oldest_commit_at`, from `repository`); without it (no repository, a missing tag, a
 *   first release), minus the time the release was requested. Median and 90th percentile. The approval
 *   wait — first entry into awaiting_approval to the (last) start of the deploy — is shown as its own
 *   share: total approval wait ÷ total lead time.
 * - Change failure rate: releases whose deploy started in the period (last transition to `deploying`
 *   in it) that then failed (state `failed` after a deploy started: deploy command, smoke test or
 *   health check), were rolled back (state `rolled_back`), or were followed on the same environment by
 *   an emergency release requested within 7 days of going live; divided by all releases whose deploy
 *   started in the period.
 * - Time to restore: for each failure that started in the period — a failed deploy (from the moment it
 *   was marked failed) or a rolled-back release (from the moment it went live) — the time until the
 *   next release went live on that environment, as of the end of the period (a report of a past period
 *   does not change later). Median; failures not restored by then are counted apart.
 */

interface DoraPeriod {
  since: Date;
  until: Date;
}

export interface DoraFigures {
  environment: string;
  deploys: number;
  deploysPerWeek: number;
  /** Lead time, hours; null without a live release in the period. */
  leadMedianHours: number | null;
  leadP90Hours: number | null;
  /** How many lead times start at the oldest commit (the rest start at the request). */
  leadFromCommits: number;
  approvalWaitMedianHours: number | null;
  /** Total approval wait ÷ total lead time, 0–1. */
  approvalWaitShare: number | null;
  changes: number;
  failures: number;
  changeFailureRate: number | null;
  incidents: number;
  restored: number;
  restoreMedianHours: number | null;
}

/** The condition "release `e` is an emergency release" (`release … --emergency` sets its reason). */
const EMERGENCY_RELEASE_E = sql`e.emergency is not null`;

const HOURS = (interval: SQL) => sql`(extract(epoch from ${interval}) / 3600)::float8`;

/**
 * The releases that reached a deploy, with the moments the figures need. Only releases that can count
 * in the period are read: live since its start, or changed since its start (a failed or rolled-back
 * one was last updated at or after its deploy), requested before its end.
 */
function deployedReleases(environments: string[], since: string, until: string): SQL {
  return sql`
    select r.id, r.environment, r.state, r.live_at, r.created_at, r.oldest_commit_at, t.deploy_at, t.awaiting_at, t.failed_at
    from releases r
    left join lateral (
      select max(x.at) filter (where x.to_state = 'deploying') as deploy_at,
        min(x.at) filter (where x.to_state = 'awaiting_approval') as awaiting_at,
        max(x.at) filter (where x.to_state = 'failed') as failed_at
      from release_transitions x where x.release_id = r.id
    ) t on true
    where r.environment in (${sql.join(
      environments.map((e) => sql`${e}`),
      sql`, `,
    )})
      and (r.live_at is not null or r.state in ('failed', 'rolled_back'))
      and (r.live_at >= ${since}::timestamptz or r.updated_at >= ${since}::timestamptz)
      and r.created_at < ${until}::timestamptz`;
}

interface Aggregates {
  lead: Array<{ environment: string; deploys: number; median: number | null; p90: number | null; from_commits: number; wait_median: number | null; wait_share: number | null }>;
  failure: Array<{ environment: string; changes: number; failures: number }>;
  restore: Array<{ environment: string; incidents: number; restored: number; median: number | null }>;
}

export async function doraFigures(db: Executor, environments: string[], period: DoraPeriod): Promise<DoraFigures[]> {
  if (environments.length === 0) return [];
  const since = period.since.toISOString();
  const until = period.until.toISOString();
  const weeks = (period.until.getTime() - period.since.getTime()) / (7 * 86_400_000);
  const lead = sql`(d.live_at - coalesce(d.oldest_commit_at, d.created_at))`;
  const wait = sql`greatest(d.deploy_at - d.awaiting_at, interval '0')`;
  // One statement: the ledger is read once, and each figure is one aggregate per environment.
  const [row] = await queryRows<Aggregates>(
    db,
    sql`
      with d as materialized (${deployedReleases(environments, since, until)}),
      lead_times as (
        select d.environment,
          count(*)::int as deploys,
          percentile_cont(0.5) within group (order by ${HOURS(lead)})::float8 as median,
          percentile_cont(0.9) within group (order by ${HOURS(lead)})::float8 as p90,
          (count(*) filter (where d.oldest_commit_at is not null))::int as from_commits,
          (percentile_cont(0.5) within group (order by ${HOURS(wait)}) filter (where d.deploy_at is not null and d.awaiting_at is not null))::float8 as wait_median,
          (sum(extract(epoch from ${wait})) filter (where d.deploy_at is not null and d.awaiting_at is not null)
            / nullif(sum(extract(epoch from ${lead})), 0))::float8 as wait_share
        from d
        where d.live_at >= ${since}::timestamptz and d.live_at < ${until}::timestamptz
        group by d.environment
      ),
      failure_rates as (
        select d.environment,
          count(*)::int as changes,
          (count(*) filter (where
            (d.state = 'failed' and d.deploy_at is not null)
            or d.state = 'rolled_back'
            or (d.live_at is not null and exists (
              select 1 from releases e
              where e.environment = d.environment and e.id <> d.id and ${EMERGENCY_RELEASE_E}
                and e.created_at > d.live_at and e.created_at <= d.live_at + interval '7 days'))
          ))::int as failures
        from d
        where d.deploy_at >= ${since}::timestamptz and d.deploy_at < ${until}::timestamptz
        group by d.environment
      ),
      incidents as (
        select d.id, d.environment, case when d.state = 'failed' then d.failed_at else d.live_at end as started_at
        from d
        where (d.state = 'failed' and d.deploy_at is not null) or d.state = 'rolled_back'
      ),
      restores as (
        select i.environment, i.started_at,
          (select min(n.live_at) from releases n
            where n.environment = i.environment and n.id <> i.id and n.live_at > i.started_at and n.live_at < ${until}::timestamptz) as restored_at
        from incidents i
        where i.started_at >= ${since}::timestamptz and i.started_at < ${until}::timestamptz
      ),
      restore_times as (
        select environment,
          count(*)::int as incidents,
          count(restored_at)::int as restored,
          (percentile_cont(0.5) within group (order by ${HOURS(sql`restored_at - started_at`)}) filter (where restored_at is not null))::float8 as median
        from restores
        group by environment
      )
      select
        (select coalesce(json_agg(l), '[]'::json) from lead_times l) as lead,
        (select coalesce(json_agg(f), '[]'::json) from failure_rates f) as failure,
        (select coalesce(json_agg(t), '[]'::json) from restore_times t) as restore`,
  );
  const leadRows = row?.lead ?? [];
  const failureRows = row?.failure ?? [];
  const restoreRows = row?.restore ?? [];
  const num = (value: unknown) => (value === null || value === undefined ? null : Number(value));
  return environments.map((environment) => {
    const l = leadRows.find((r) => r.environment === environment);
    const f = failureRows.find((r) => r.environment === environment);
    const t = restoreRows.find((r) => r.environment === environment);
    const deploys = l?.deploys ?? 0;
    const changes = f?.changes ?? 0;
    const failures = f?.failures ?? 0;
    return {
      environment,
      deploys,
      deploysPerWeek: weeks > 0 ? deploys / weeks : 0,
      leadMedianHours: num(l?.median),
      leadP90Hours: num(l?.p90),
      leadFromCommits: l?.from_commits ?? 0,
      approvalWaitMedianHours: num(l?.wait_median),
      approvalWaitShare: num(l?.wait_share),
      changes,
      failures,
      changeFailureRate: changes > 0 ? failures / changes : null,
      incidents: t?.incidents ?? 0,
      restored: t?.restored ?? 0,
      restoreMedianHours: num(t?.median),
    };
  });
}
