import { and, asc, count, desc, eq, gte, inArray, isNotNull, isNull, lt, ne, sql } from "drizzle-orm";
import type { Config } from "../../config/schema.js";
import type { Executor } from "../../db/client.js";
import { approvals, feedback, healthChecks, healthState, jobRuns, type ReleaseKind, type ReleaseState, releases } from "../../db/schema.js";
import { type Count, type FeedbackStats, feedbackStats } from "../feedback/index.js";
import { tallyApprovals } from "../releases/index.js";
import { type DoraFigures, doraFigures } from "../dora/index.js";
import { type FixFigures, fixFigures } from "../feedback/index.js";
import { liveVersions } from "../releases/index.js";
import { type Blockers, blockers, commitsShipped, latestModelValidation, latestTestResults, type ModelValidation, type ShippedCommits, type TestResults } from "./sections.js";

/**
 * The figures of the Orchestrator Report and the maintenance reports. Every count, percentile and list
 * is computed by the database (grouped, filtered, limited); only the few rows a report shows come back.
 */

export interface Period {
  since: Date;
  until: Date;
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

interface ReleaseFigures {
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

async function releaseFigures(db: Executor, config: Config, period: Period): Promise<ReleaseFigures> {
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
export async function healthFigures(db: Executor, config: Config, period: Period): Promise<EnvironmentHealth[]> {
  const [rows, states] = await Promise.all([
    db
      .select({
        environment: healthChecks.environment,
        checks: countColumn,
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

interface JobFigures {
  total: number;
  byStatus: Count[];
  failuresByJob: Count[];
  failures: Array<{ id: number; job: string; slot: Date; startedAt: Date; summary: string | null }>;
}

export async function jobFigures(db: Executor, period: Period): Promise<JobFigures> {
  const inPeriod = and(gte(jobRuns.startedAt, period.since), lt(jobRuns.startedAt, period.until));
  const failed = and(inPeriod, eq(jobRuns.status, "failed"));
  const [byStatus, failuresByJob, failures] = await Promise.all([
    db
      .select({ key: sql<string>`${jobRuns.status}`, count: countColumn })
      .from(jobRuns)
      .where(inPeriod)
      .groupBy(jobRuns.status)
      .orderBy(desc(countColumn), asc(jobRuns.status)),
    db.select({ key: jobRuns.job, count: countColumn }).from(jobRuns).where(failed).groupBy(jobRuns.job).orderBy(desc(countColumn), asc(jobRuns.job)).limit(ROWS),
    db
      .select({ id: jobRuns.id, job: jobRuns.job, slot: jobRuns.slot, startedAt: jobRuns.startedAt, summary: jobRuns.summary })
      .from(jobRuns)
      .where(failed)
      .orderBy(desc(jobRuns.startedAt), desc(jobRuns.id))
      .limit(ROWS),
  ]);
  return { total: byStatus.reduce((n, r) => n + r.count, 0), byStatus, failuresByJob, failures };
}

export interface OrchestratorFigures {
  period: Period;
  releases: ReleaseFigures;
  health: EnvironmentHealth[];
  jobs: JobFigures;
  feedback: FeedbackStats;
  dora: DoraFigures[];
  fixes: FixFigures;
  tests: TestResults[];
  model: ModelValidation[];
  /** Null without `repository`: there is nothing to count commits from. */
  commits: ShippedCommits[] | null;
  blockers: Blockers;
}

/** Everything the Orchestrator Report shows (SPEC §6), for one period. */
export async function orchestratorFigures(db: Executor, config: Config, period: Period): Promise<OrchestratorFigures> {
  const [releaseFigs, health, jobs, feedbackFigs, dora, fixes, tests, model, commits, blocking] = await Promise.all([
    releaseFigures(db, config, period),
    healthFigures(db, config, period),
    jobFigures(db, period),
    feedbackStats(db, { ...period, timeZone: config.timezone }),
    doraFigures(
      db,
      config.environments.map((e) => e.name),
      period,
    ),
    fixFigures(db, period),
    latestTestResults(db, config),
    latestModelValidation(db, config),
    config.repository ? commitsShipped(db, config, period) : Promise.resolve(null),
    blockers(db),
  ]);
  return { period, releases: releaseFigs, health, jobs, feedback: feedbackFigs, dora, fixes, tests, model, commits, blockers: blocking };
}

interface JobDuration {
  job: string;
  runs: number;
  p50Seconds: number;
  p95Seconds: number;
  maxSeconds: number;
}

/** How long finished runs took, slowest (p95) first. */
export async function jobDurations(db: Executor, period: Period): Promise<JobDuration[]> {
  const seconds = sql`extract(epoch from ${jobRuns.finishedAt} - ${jobRuns.startedAt})`;
  const rows = await db
    .select({
      job: jobRuns.job,
      runs: countColumn,
      p50Seconds: sql<number>`percentile_cont(0.5) within group (order by ${seconds})`,
      p95Seconds: sql<number>`percentile_cont(0.95) within group (order by ${seconds})`,
      maxSeconds: sql<number>`max(${seconds})`,
    })
    .from(jobRuns)
    .where(and(gte(jobRuns.startedAt, period.since), lt(jobRuns.startedAt, period.until), isNotNull(jobRuns.finishedAt), inArray(jobRuns.status, ["succeeded", "failed"])))
    .groupBy(jobRuns.job)
    .orderBy(desc(sql`percentile_cont(0.95) within group (order by ${seconds})`))
    .limit(5);
  return rows.map((r) => ({ ...r, p50Seconds: Number(r.p50Seconds), p95Seconds: Number(r.p95Seconds), maxSeconds: Number(r.maxSeconds) }));
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

interface ThemeBacklog {
  theme: string;
  open: number;
  urgent: number;
}

/** Open and in-progress feedback by theme, the most urgent themes first. */
export async function backlogByTheme(db: Executor): Promise<{ themes: ThemeBacklog[]; sprints: Count[] }> {
  const openNow = and(isNull(feedback.deletedAt), ne(feedback.status, "closed"));
  const theme = sql<string>`coalesce(${feedback.theme}, '(no theme)')`;
  const urgent = sql<number>`(count(*) filter (where ${feedback.priority} in ('high', 'critical')))::int`;
  const [themes, sprints] = await Promise.all([
    db.select({ theme, open: countColumn, urgent }).from(feedback).where(openNow).groupBy(theme).orderBy(desc(urgent), desc(countColumn), asc(theme)).limit(10),
    db
      .select({ key: sql<string>`${feedback.sprint}`, count: count() })
      .from(feedback)
      .where(and(openNow, isNotNull(feedback.sprint)))
      .groupBy(feedback.sprint)
      .orderBy(desc(count()), asc(feedback.sprint))
      .limit(8),
  ]);
  return { themes, sprints };
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
