import { and, asc, desc, eq, gte, inArray, isNotNull, lt, type SQL, sql } from "drizzle-orm";
import type { Config } from "../../config/schema.js";
import { type Executor, queryRows } from "../../db/client.js";
import { approvals, type GateResult, type ReleaseKind, type ReleaseState, releases } from "../../db/schema.js";
import { tallyApprovals } from "./machine.js";
import { liveVersions } from "./queries.js";

/**
 * What the reports show of releases: every count, percentile and list is computed by the database
 * (grouped, filtered, limited); only the few rows a report shows come back.
 */

interface Period {
  since: Date;
  until: Date;
}

interface Count {
  key: string;
  count: number;
}

/** At most this many rows of any list come back; reports cut further to fit Slack. */
const ROWS = 25;

const countColumn = sql<number>`count(*)::int`;

interface ReleaseRow {
  id: number;
  version: string;
  environment: string;
  state: ReleaseState;
  requester: string;
  createdAt: Date;
  liveAt: Date | null;
  reason: string | null;
  kind: ReleaseKind;
  emergency: string | null;
}

/** The columns of a ReleaseRow. */
const releaseRowColumns = {
  id: releases.id,
  version: releases.version,
  environment: releases.environment,
  state: releases.state,
  requester: releases.requester,
  createdAt: releases.createdAt,
  liveAt: releases.liveAt,
  reason: releases.reason,
  kind: releases.kind,
  emergency: releases.emergency,
};

interface PendingApproval {
  id: number;
  version: string;
  environment: string;
  requester: string;
  approvals: number;
  requiredApprovals: number;
  awaitingSince: Date | null;
}

export interface ReleaseFigures {
  live: Array<{ environment: string; version: string | null; liveAt: Date | null }>;
  total: number;
  byState: Count[];
  recent: ReleaseRow[];
  pendingTotal: number;
  pending: PendingApproval[];
  /** Rollbacks and emergency releases requested in the period (SPEC §6), newest first. */
  rollbacks: ReleaseRow[];
  emergencies: ReleaseRow[];
  rollbackTotal: number;
  emergencyTotal: number;
  /** Releases that are a rollback, an emergency, or both. */
  rollbackOrEmergencyTotal: number;
}

/** Releases requested in the period, what is live now and what awaits approval (the Orchestrator Report). */
export async function releaseFigures(db: Executor, config: Config, period: Period): Promise<ReleaseFigures> {
  const inPeriod = and(gte(releases.createdAt, period.since), lt(releases.createdAt, period.until));
  const awaiting = eq(releases.state, "awaiting_approval");
  const [live, byState, recent, pendingCount, pending, rollbacks, emergencies, special] = await Promise.all([
    liveVersions(db),
    db
      .select({ key: sql<string>`${releases.state}`, count: countColumn })
      .from(releases)
      .where(inPeriod)
      .groupBy(releases.state)
      .orderBy(desc(countColumn), asc(releases.state)),
    db.select(releaseRowColumns).from(releases).where(inPeriod).orderBy(desc(releases.createdAt), desc(releases.id)).limit(ROWS),
    db.select({ n: countColumn }).from(releases).where(awaiting),
    db
      .select({
        id: releases.id,
        version: releases.version,
        environment: releases.environment,
        requester: releases.requester,
        requiredApprovals: releases.requiredApprovals,
        awaitingSince: releases.awaitingSince,
        approvedBy: sql<string[]>`array(select ${approvals.approver} from ${approvals} where ${approvals.releaseId} = ${releases.id} order by ${approvals.at})`,
      })
      .from(releases)
      .where(awaiting)
      .orderBy(asc(releases.awaitingSince), asc(releases.id))
      .limit(ROWS),
    db
      .select(releaseRowColumns)
      .from(releases)
      .where(and(inPeriod, eq(releases.kind, "rollback")))
      .orderBy(desc(releases.createdAt), desc(releases.id))
      .limit(ROWS),
    db
      .select(releaseRowColumns)
      .from(releases)
      .where(and(inPeriod, isNotNull(releases.emergency)))
      .orderBy(desc(releases.createdAt), desc(releases.id))
      .limit(ROWS),
    db
      .select({
        rollbacks: sql<number>`(count(*) filter (where ${releases.kind} = 'rollback'))::int`,
        emergencies: sql<number>`(count(*) filter (where ${releases.emergency} is not null))::int`,
        either: sql<number>`(count(*) filter (where ${releases.kind} = 'rollback' or ${releases.emergency} is not null))::int`,
      })
      .from(releases)
      .where(inPeriod),
  ]);
  return {
    live: config.environments.map((env) => {
      const current = live.get(env.name);
      return { environment: env.name, version: current?.version ?? null, liveAt: current?.liveAt ?? null };
    }),
    total: byState.reduce((n, r) => n + r.count, 0),
    byState,
    recent,
    pendingTotal: pendingCount[0]?.n ?? 0,
    // Approvals that count now, by the same rule that moves a release to deploying.
    pending: pending.map(({ approvedBy, ...p }) => ({ ...p, approvals: tallyApprovals({ requester: p.requester, approvers: config.people.approvers, approvedBy }).counting.length })),
    rollbacks,
    emergencies,
    rollbackTotal: special[0]?.rollbacks ?? 0,
    emergencyTotal: special[0]?.emergencies ?? 0,
    rollbackOrEmergencyTotal: special[0]?.either ?? 0,
  };
}

/** Gates that blocked releases in the period, by gate name. */
export async function gateFailures(db: Executor, period: Period): Promise<Count[]> {
  const gate = sql`jsonb_array_elements(${releases.gates})`;
  return db
    .select({ key: sql<string>`g->>'name'`, count: countColumn })
    .from(sql`${releases}, ${gate} as g`)
    .where(and(gte(releases.createdAt, period.since), lt(releases.createdAt, period.until), sql`g->>'status' = 'failed'`))
    .groupBy(sql`g->>'name'`)
    .orderBy(desc(countColumn), asc(sql`g->>'name'`))
    .limit(10);
}

interface DeliveryFigures {
  environment: string;
  requested: number;
  live: number;
  failed: number;
  blocked: number;
  rejectedOrExpired: number;
  /** Median hours from request to live. */
  medianLeadHours: number | null;
}

/** Release throughput per environment: outcomes and the median lead time from request to live. */
export async function deliveryFigures(db: Executor, period: Period): Promise<DeliveryFigures[]> {
  const rows = await db
    .select({
      environment: releases.environment,
      requested: countColumn,
      live: sql<number>`(count(*) filter (where ${releases.state} = 'live'))::int`,
      failed: sql<number>`(count(*) filter (where ${releases.state} = 'failed'))::int`,
      blocked: sql<number>`(count(*) filter (where ${releases.state} = 'blocked'))::int`,
      rejectedOrExpired: sql<number>`(count(*) filter (where ${releases.state} in ('rejected', 'expired')))::int`,
      medianLeadHours: sql<
        number | null
      >`percentile_cont(0.5) within group (order by extract(epoch from ${releases.liveAt} - ${releases.createdAt}) / 3600) filter (where ${releases.liveAt} is not null)`,
    })
    .from(releases)
    .where(and(gte(releases.createdAt, period.since), lt(releases.createdAt, period.until)))
    .groupBy(releases.environment)
    .orderBy(asc(releases.environment));
  return rows.map((r) => ({ ...r, medianLeadHours: r.medianLeadHours === null ? null : Number(r.medianLeadHours) }));
}

/** Releases that went live, failed or were blocked in the period (what runbooks and docs should reflect). */
export async function releaseEvents(db: Executor, period: Period): Promise<{ wentLive: ReleaseRow[]; troubled: ReleaseRow[] }> {
  const [wentLive, troubled] = await Promise.all([
    db
      .select(releaseRowColumns)
      .from(releases)
      .where(and(gte(releases.liveAt, period.since), lt(releases.liveAt, period.until)))
      .orderBy(desc(releases.liveAt))
      .limit(ROWS),
    db
      .select(releaseRowColumns)
      .from(releases)
      .where(and(gte(releases.updatedAt, period.since), lt(releases.updatedAt, period.until), inArray(releases.state, ["failed", "blocked"])))
      .orderBy(desc(releases.updatedAt))
      .limit(ROWS),
  ]);
  return { wentLive, troubled };
}

const environmentList = (environments: string[]): SQL =>
  sql`(values ${sql.join(
    environments.map((name) => sql`(${name})`),
    sql`, `,
  )}) as e(name)`;

/** Per environment, its latest release with run gates whose gates finished: the gates as they ended. */
export async function latestRunGates(db: Executor, environments: string[]): Promise<Array<{ environment: string; version: string; at: Date; gates: GateResult[] }>> {
  const rows = await queryRows<{ environment: string; version: string; at: number; gates: GateResult[] }>(
    db,
    sql`
      select e.name as environment, x.version, (extract(epoch from x.created_at) * 1000)::float8 as at, x.gates
      from ${environmentList(environments)}
      cross join lateral (
        select r.version, r.created_at, r.gates from releases r
        where r.environment = e.name and r.state <> 'gating' and r.gates @> '[{"kind": "run"}]'::jsonb
        order by r.id desc limit 1
      ) x`,
  );
  return rows.map((r) => ({ ...r, at: new Date(r.at) }));
}

/** Per environment, the http gate with measured values of its latest release that has one. */
export async function latestMeasuredGates(db: Executor, environments: string[]): Promise<Array<{ environment: string; at: Date; gate: GateResult }>> {
  const rows = await queryRows<{ environment: string; at: number; gate: GateResult }>(
    db,
    sql`
      select e.name as environment, (extract(epoch from x.created_at) * 1000)::float8 as at, x.gate
      from ${environmentList(environments)}
      cross join lateral (
        select r.created_at, g as gate from releases r, jsonb_array_elements(r.gates) g
        where r.environment = e.name and r.gates @> '[{"kind": "http"}]'::jsonb and g->>'kind' = 'http' and g ? 'measured'
        order by r.id desc limit 1
      ) x`,
  );
  return rows.map((r) => ({ ...r, at: new Date(r.at) }));
}

export interface ShippedCommits {
  environment: string;
  releases: number;
  commits: number;
  versions: Array<{ version: string; commits: number }>;
}

/** Commits that went live in the period per environment (from the ranges read with `repository`). */
export async function commitsShipped(db: Executor, environments: string[], period: Period): Promise<ShippedCommits[]> {
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
  return environments.map((environment) => {
    const row = rows.find((r) => r.environment === environment);
    return { environment, releases: row?.releases ?? 0, commits: row?.commits ?? 0, versions: (row?.versions ?? []).slice(0, 8) };
  });
}

/** Blocked or failed releases not tried again since on that environment, the latest 10, and how many in all. */
export async function stuckReleases(db: Executor): Promise<{ rows: Array<{ id: number; version: string; environment: string; state: string; reason: string | null; at: Date }>; total: number }> {
  // The latest release of each version on each environment, and when that environment last went live:
  // one pass with window functions instead of a lookup per release.
  const stuck = sql`
    select r.id, r.version, r.environment, r.state, r.reason, r.updated_at from (
      select r.*, row_number() over (partition by r.environment, r.semver order by r.id desc) as newest,
        max(r.live_at) over (partition by r.environment) as last_live
      from releases r
    ) r
    where r.newest = 1 and r.state in ('blocked', 'failed') and (r.last_live is null or r.last_live < r.updated_at)`;
  const rows = await queryRows<{ id: number; version: string; environment: string; state: string; reason: string | null; at: number; total: number }>(
    db,
    sql`select s.id, s.version, s.environment, s.state, s.reason, (extract(epoch from s.updated_at) * 1000)::float8 as at, (count(*) over ())::int as total
        from (${stuck}) s order by s.updated_at desc limit 10`,
  );
  return { rows: rows.map(({ total: _total, ...s }) => ({ ...s, at: new Date(s.at) })), total: rows[0]?.total ?? 0 };
}

/** Approved releases waiting for a deploy window or the end of a freeze (state `scheduled`), the first 10. */
export function scheduledReleases(db: Executor): Promise<Array<{ id: number; version: string; environment: string }>> {
  return queryRows<{ id: number; version: string; environment: string }>(db, sql`select id, version, environment from releases where state = 'scheduled' order by id limit 10`);
}
