import { and, asc, desc, eq, gte, inArray, isNotNull, lt, max, type SQL, sql } from "drizzle-orm";
import type { Db, Executor } from "../../db/client.js";
import { inTransaction, queryRows } from "../../db/client.js";
import { jobRuns, schedulerHeartbeats } from "../../db/schema.js";
import { JOB_NAMES, type JobName } from "./catalog.js";
import type { JobContext, JobOutcome } from "./registry.js";

export type JobRun = typeof jobRuns.$inferSelect;

// An arbitrary constant: the first key of the per-job advisory lock that serializes claims of one job.
const CLAIM_LOCK = 4_242_002;

interface ClaimRequest {
  job: JobName;
  slot: Date;
  trigger: JobContext["trigger"];
  replica: string;
  requestedBy?: string;
  leaseMs: number;
}

interface Claim {
  /** The row this replica inserted: `running` (run it now) or `skipped` (another run holds the job). None: the slot was already taken. */
  run?: JobRun;
  /** The live run that made this slot skip. */
  blocking?: JobRun;
  /** Runs of this job whose lease had lapsed, now marked failed. */
  dead: JobRun[];
}

const lease = (ms: number) => sql`now() + make_interval(secs => ${ms / 1000})`;

/**
 * Claims a slot in one transaction. The unique index on (job, slot) with `on conflict do nothing` is what
 * makes a slot run once: whichever replica inserts first owns it, the others get no row and do nothing,
 * with no window between a check and an insert and nothing to clean up if a replica dies. A per-job
 * advisory lock (held to commit) serializes claims of *different* slots of one job, so deciding
 * "another run still holds its lease: record this slot as skipped" cannot race with a concurrent claim.
 */
export async function claimSlot(db: Db, request: ClaimRequest): Promise<Claim> {
  return inTransaction(db, async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(${CLAIM_LOCK}, hashtext(${request.job}))`);
    const dead = await markDead(tx, eq(jobRuns.job, request.job));
    const [blocking] = await tx
      .select()
      .from(jobRuns)
      .where(and(eq(jobRuns.job, request.job), eq(jobRuns.status, "running")))
      .orderBy(desc(jobRuns.startedAt))
      .limit(1);
    const base = { job: request.job, slot: request.slot, trigger: request.trigger, replica: request.replica, requestedBy: request.requestedBy ?? null };
    const values = blocking
      ? { ...base, status: "skipped" as const, summary: `Skipped: the run of ${blocking.slot.toISOString()} was still going on ${blocking.replica}.`, finishedAt: sql`now()` }
      : { ...base, status: "running" as const, leaseUntil: lease(request.leaseMs) };
    const [run] = await tx
      .insert(jobRuns)
      .values(values)
      .onConflictDoNothing({ target: [jobRuns.job, jobRuns.slot] })
      .returning();
    return { ...(run ? { run } : {}), ...(run && blocking ? { blocking } : {}), dead };
  });
}

/** Runs left `running` whose lease lapsed are dead: mark them failed. Each row is returned to one caller only. */
function markDead(db: Executor, scope?: SQL): Promise<JobRun[]> {
  return db
    .update(jobRuns)
    .set({
      status: "failed",
      summary: sql`'Abandoned: replica ' || ${jobRuns.replica} || ' stopped renewing its lease while this run was going (it crashed or lost the database).'`,
      finishedAt: sql`now()`,
      leaseUntil: null,
    })
    .where(and(scope, eq(jobRuns.status, "running"), lt(jobRuns.leaseUntil, sql`now()`)))
    .returning();
}

/** Dead runs of every job (the heartbeat's sweep). */
export function reapDeadRuns(db: Db): Promise<JobRun[]> {
  return markDead(db);
}

/** Extends a running run's lease; false when this replica no longer holds it (another replica found it dead). */
export async function renewLease(db: Db, id: number, replica: string, leaseMs: number): Promise<boolean> {
  const rows = await db
    .update(jobRuns)
    .set({ leaseUntil: lease(leaseMs) })
    .where(and(eq(jobRuns.id, id), eq(jobRuns.replica, replica), eq(jobRuns.status, "running")))
    .returning({ id: jobRuns.id });
  return rows.length > 0;
}

/** Records the outcome; undefined when the run is no longer this replica's to finish. */
export async function finishRun(db: Db, id: number, replica: string, outcome: JobOutcome): Promise<JobRun | undefined> {
  const [row] = await db
    .update(jobRuns)
    .set({
      status: outcome.status,
      summary: outcome.summary,
      outputTail: outcome.outputTail ?? null,
      details: outcome.details ?? null,
      finishedAt: sql`now()`,
      leaseUntil: null,
    })
    .where(and(eq(jobRuns.id, id), eq(jobRuns.replica, replica), eq(jobRuns.status, "running")))
    .returning();
  return row;
}

/** This replica is alive now. */
export async function beat(db: Db, replica: string): Promise<void> {
  await db
    .insert(schedulerHeartbeats)
    .values({ replica, seenAt: sql`now()` })
    .onConflictDoUpdate({ target: schedulerHeartbeats.replica, set: { seenAt: sql`now()` } });
}

/** When some replica was last seen alive; undefined on a brand-new install. */
export async function lastSeenAlive(db: Executor): Promise<Date | undefined> {
  const [row] = await db.select({ seenAt: max(schedulerHeartbeats.seenAt) }).from(schedulerHeartbeats);
  return row?.seenAt ?? undefined;
}

/** Forgets replicas gone for a week (each start-up has a new id), always keeping the most recent one. */
export async function pruneHeartbeats(db: Db): Promise<void> {
  await db.execute(
    sql`delete from ${schedulerHeartbeats} where ${schedulerHeartbeats.seenAt} < now() - interval '7 days'
        and ${schedulerHeartbeats.replica} <> (select replica from ${schedulerHeartbeats} order by seen_at desc limit 1)`,
  );
}

/** The latest run of each job (running, finished or skipped). */
export async function latestRuns(db: Executor): Promise<Map<string, JobRun>> {
  const rows = await db.selectDistinctOn([jobRuns.job]).from(jobRuns).orderBy(jobRuns.job, desc(jobRuns.startedAt), desc(jobRuns.id));
  return new Map(rows.map((r) => [r.job, r]));
}

export async function runOf(db: Executor, job: JobName, slot: Date): Promise<JobRun | undefined> {
  const [row] = await db
    .select()
    .from(jobRuns)
    .where(and(eq(jobRuns.job, job), eq(jobRuns.slot, slot)));
  return row;
}

export async function recentFailures(db: Executor, since: Date, limit: number): Promise<{ rows: JobRun[]; total: number }> {
  const where = and(eq(jobRuns.status, "failed"), gte(jobRuns.startedAt, since));
  const [rows, [count]] = await Promise.all([
    db.select().from(jobRuns).where(where).orderBy(desc(jobRuns.startedAt)).limit(limit),
    db.select({ n: sql<number>`count(*)::int` }).from(jobRuns).where(where),
  ]);
  return { rows, total: count?.n ?? 0 };
}

export async function runningRuns(db: Executor): Promise<JobRun[]> {
  return db.select().from(jobRuns).where(eq(jobRuns.status, "running")).orderBy(jobRuns.startedAt).limit(20);
}

/** The latest runs (of one job, or of all), newest first. */
export function runHistory(db: Executor, job: JobName | undefined, limit: number) {
  return db
    .select({ job: jobRuns.job, slot: jobRuns.slot, status: jobRuns.status, summary: jobRuns.summary, trigger: jobRuns.trigger, finishedAt: jobRuns.finishedAt })
    .from(jobRuns)
    .where(job ? eq(jobRuns.job, job) : undefined)
    .orderBy(desc(jobRuns.startedAt))
    .limit(limit);
}

/*
 * Figures of the runs in a period, for the reports: computed by the database, only the few rows a
 * report shows come back.
 */

interface Period {
  since: Date;
  until: Date;
}

const countColumn = sql<number>`count(*)::int`;

/** At most this many rows of any list come back; reports cut further to fit Slack. */
const ROWS = 25;

export interface JobFigures {
  total: number;
  byStatus: Array<{ key: string; count: number }>;
  failuresByJob: Array<{ key: string; count: number }>;
  failures: Array<{ id: number; job: string; slot: Date; startedAt: Date; summary: string | null }>;
}

/** Runs started in the period by status, failures by job, and the latest failures. */
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

/** Built-in jobs whose latest finished run failed, the latest 10. */
export async function failingJobs(db: Executor): Promise<Array<{ job: string; at: Date; summary: string | null }>> {
  // Per built-in job its latest finished run, each found through the (job, started_at) index.
  const rows = await queryRows<{ job: string; at: number; summary: string | null }>(
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
  );
  return rows.map((j) => ({ ...j, at: new Date(j.at) }));
}

/** The latest finished run of a job whose details have `key`, with that detail; undefined if there is none. */
export async function latestRunDetail(db: Executor, job: JobName, key: string): Promise<{ at: Date; status: string; detail: unknown } | undefined> {
  const [row] = await queryRows<{ at: number; status: string; detail: unknown }>(
    db,
    sql`
      select (extract(epoch from started_at) * 1000)::float8 as at, status, details->${key} as detail from job_runs
      where job = ${job} and status in ('succeeded', 'failed') and details ? ${key}
      order by started_at desc limit 1`,
  );
  return row && { ...row, at: new Date(row.at) };
}
