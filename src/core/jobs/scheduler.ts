import cron, { type ScheduledTask } from "node-cron";
import type { Background } from "../background.js";
import { formatDuration } from "../../time.js";
import type { Config, JobConfig } from "../../config/schema.js";
import type { Db } from "../../db/client.js";
import { describeError, type Log } from "../../log.js";
import type { Metrics } from "../../metrics.js";
import { JOB_CATALOG, JOB_NAMES, type JobName } from "./catalog.js";
import type { JobBodies, JobContext, JobOutcome } from "./registry.js";
import { latestMissedSlot, slotAtOrBefore } from "./slots.js";
import { beat, claimSlot, finishRun, type JobRun, lastSeenAlive, pruneHeartbeats, reapDeadRuns, renewLease, runOf } from "./store.js";

export interface SchedulerTimings {
  /** How long a run's claim holds without renewal; it is renewed every third of that while the job runs. */
  leaseMs?: number;
  /** How often this replica records that it is alive and sweeps runs whose lease lapsed. */
  heartbeatMs?: number;
  /** Arm node-cron timers (tests that fire slots by hand may turn them off). */
  timers?: boolean;
  /** The clock for catch-up and ad-hoc slots (tests). */
  now?: () => Date;
}

interface SchedulerDeps {
  config: Config;
  db: Db;
  log: Log;
  metrics: Metrics;
  background: Background;
  replicaId: string;
  bodies: JobBodies;
  /** Tells people a run failed, or a slot could not run at all (the alerts channel). */
  alert(failure: JobFailure): Promise<void>;
}

/** What an alert shows: a stored run, or a slot that could not even be claimed (no id). */
export type JobFailure = Pick<JobRun, "job" | "slot" | "trigger" | "replica" | "requestedBy" | "summary" | "outputTail"> & { id?: number };

type StartResult =
  | { kind: "started"; run: JobRun; finished: Promise<JobRun> }
  | { kind: "skipped"; run: JobRun; blocking: JobRun }
  /** Another replica (or an earlier fire) already claimed this slot. */
  | { kind: "taken"; existing?: JobRun }
  | { kind: "stopped" };

type FireResult = { kind: "ran"; run: JobRun } | Exclude<StartResult, { kind: "started" }>;

interface JobSchedule {
  job: JobName;
  expression: string;
  enabled: boolean;
  config: JobConfig | undefined;
}

const DEFAULT_LEASE_MS = 90_000;
const DEFAULT_HEARTBEAT_MS = 30_000;
const DEFAULT_TIMEOUT_MS = 15 * 60_000;
// A `run` job's command has the same timeout and reports it better; the scheduler's own comes a little later.
const TIMEOUT_SLACK_MS = 30_000;
// node-cron drops a slot it wakes up late for (event loop blocked); accept any lateness short of the next slot.
const MISSED_TOLERANCE_MS = 10 * 60_000;

/**
 * Runs the built-in jobs on node-cron in the configured timezone, with every slot claimed in Postgres
 * first (see `claimSlot`) so it runs once across replicas, overlapping runs recorded as skipped, a
 * lease on each running run, and the latest slot missed while every replica was down run at start-up.
 */
export class Scheduler {
  private readonly tasks = new Map<JobName, ScheduledTask>();
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private stopping = false;
  private readonly leaseMs: number;
  private readonly heartbeatMs: number;

  constructor(
    private readonly deps: SchedulerDeps,
    private readonly timings: SchedulerTimings = {},
  ) {
    this.leaseMs = timings.leaseMs ?? DEFAULT_LEASE_MS;
    this.heartbeatMs = timings.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
  }

  now(): Date {
    return this.timings.now?.() ?? new Date();
  }

  schedule(job: JobName): JobSchedule {
    const config = this.deps.config.jobs[job];
    return { job, expression: config?.schedule ?? JOB_CATALOG[job].schedule, enabled: config?.enabled ?? true, config };
  }

  schedules(): JobSchedule[] {
    return JOB_NAMES.map((job) => this.schedule(job));
  }

  /** Records that this replica is alive, arms the timers, and catches up on what was missed in the background. */
  async start(): Promise<void> {
    const { db, log, background, replicaId, config } = this.deps;
    // Read before this replica's own heartbeat, which would hide how long everyone was gone.
    const lastAlive = await lastSeenAlive(db);
    await beat(db, replicaId);
    await pruneHeartbeats(db).catch((error: unknown) => log.warn("could not prune old scheduler heartbeats", { error }));
    this.heartbeatTimer = setInterval(() => void this.heartbeat(), this.heartbeatMs);
    if (this.timings.timers !== false) {
      for (const { job, expression, enabled } of this.schedules()) {
        if (!enabled) continue;
        const task = cron.schedule(expression, (context) => this.onTick(job, context.date), {
          name: `${job}@${replicaId}`,
          timezone: config.timezone,
          missedExecutionTolerance: MISSED_TOLERANCE_MS,
          logger: cronLogger(log, job),
        });
        this.tasks.set(job, task);
      }
    }
    log.info("scheduler started", { replica: replicaId, jobs: this.tasks.size, lastAlive: lastAlive?.toISOString() ?? null });
    void background.run("catch up on missed job slots", async () => {
      await this.catchUp(lastAlive);
    });
  }

  /**
   * Runs the latest slot of each enabled job that fell while no replica was alive (after `lastAlive`).
   * A brand-new install (no heartbeat ever) has missed nothing. Slots another replica ran are already
   * claimed, so running this on every start-up is safe.
   */
  async catchUp(lastAlive: Date | undefined): Promise<StartResult[]> {
    const { log, config } = this.deps;
    if (!lastAlive) {
      log.info("no replica was ever alive before: nothing to catch up");
      return [];
    }
    await this.sweepDeadRuns().catch((error: unknown) => log.warn("could not sweep abandoned job runs", { error }));
    const now = this.now();
    const results: StartResult[] = [];
    for (const { job, expression, enabled } of this.schedules()) {
      if (!enabled) continue;
      const slot = latestMissedSlot(expression, config.timezone, lastAlive, now);
      if (!slot) continue;
      log.info("catching up a missed slot", { job, slot: slot.toISOString(), lastAlive: lastAlive.toISOString() });
      results.push(await this.begin(job, slot, "catch-up").catch((error: unknown) => this.claimFailed(job, slot, "catch-up", error)));
    }
    return results;
  }

  /** What node-cron calls: cron-parser names the slot, so timer and catch-up agree on it even across DST changes. */
  private onTick(job: JobName, firedAt: Date): void {
    const slot = slotAtOrBefore(this.schedule(job).expression, this.deps.config.timezone, firedAt) ?? firedAt;
    void this.begin(job, slot, "schedule").catch((error: unknown) => this.claimFailed(job, slot, "schedule", error));
  }

  /** Claims the slot and, if this replica won it, runs the job to the end. */
  async fire(job: JobName, slot: Date, trigger: JobContext["trigger"] = "schedule", requestedBy?: string): Promise<FireResult> {
    const started = await this.begin(job, slot, trigger, requestedBy);
    if (started.kind !== "started") return started;
    return { kind: "ran", run: await started.finished };
  }

  /** An ad-hoc slot (now) for `/orch jobs run`: claimed like any other, so it too runs once. */
  runNow(job: JobName, requestedBy: string): Promise<StartResult> {
    return this.begin(job, this.now(), "manual", requestedBy);
  }

  /** Claims the slot; when won, the run goes on in the background and `finished` resolves with its stored row. */
  async begin(job: JobName, slot: Date, trigger: JobContext["trigger"], requestedBy?: string): Promise<StartResult> {
    const { db, log, metrics, background, replicaId } = this.deps;
    if (this.stopping) return { kind: "stopped" };
    const claim = await claimSlot(db, { job, slot, trigger, replica: replicaId, leaseMs: this.leaseMs, ...(requestedBy ? { requestedBy } : {}) });
    this.reportDead(claim.dead);
    const run = claim.run;
    if (!run) {
      log.debug("slot already claimed", { job, slot: slot.toISOString(), replica: replicaId });
      const existing = await runOf(db, job, slot);
      return { kind: "taken", ...(existing ? { existing } : {}) };
    }
    if (run.status === "skipped") {
      metrics.jobRuns.inc({ job, status: "skipped" });
      log.info("job slot skipped: the previous run is still going", { job, slot: slot.toISOString(), runningRun: claim.blocking?.id, runningOn: claim.blocking?.replica });
      return { kind: "skipped", run, blocking: claim.blocking as JobRun };
    }
    log.info("job run started", { job, runId: run.id, slot: slot.toISOString(), trigger, replica: replicaId });
    let resolveFinished: (row: JobRun) => void = () => {};
    const finished = new Promise<JobRun>((resolve) => {
      resolveFinished = resolve;
    });
    void background.runWork(`job ${job}`, async (shutdown) => {
      resolveFinished(await this.execute(run, shutdown));
    });
    return { kind: "started", run, finished };
  }

  private async execute(run: JobRun, shutdown: AbortSignal): Promise<JobRun> {
    const { db, log, metrics, replicaId } = this.deps;
    const job = run.job as JobName;
    const lost = new AbortController();
    const renewal = setInterval(
      () => {
        renewLease(db, run.id, replicaId, this.leaseMs).then(
          (held) => {
            if (held) return;
            log.warn("job run lost its lease to another replica; stopping it", { job, runId: run.id });
            lost.abort();
          },
          (error: unknown) => log.warn("could not renew a job run's lease", { job, runId: run.id, error }),
        );
      },
      Math.max(50, Math.floor(this.leaseMs / 3)),
    );
    const started = performance.now();
    let outcome: JobOutcome;
    try {
      outcome = await this.runBody(run, shutdown, lost);
    } finally {
      clearInterval(renewal);
    }
    const durationMs = Math.round(performance.now() - started);
    let stored: JobRun | undefined;
    try {
      stored = await finishRun(db, run.id, replicaId, outcome);
    } catch (error) {
      log.error("could not record a job run's outcome; its lease will lapse and it will count as abandoned", { job, runId: run.id, outcome: outcome.status, error });
    }
    if (!stored) {
      if (!lost.signal.aborted) log.warn("job run was no longer ours to finish", { job, runId: run.id });
      return { ...run, status: outcome.status, summary: outcome.summary, outputTail: outcome.outputTail ?? null, details: outcome.details ?? null, finishedAt: new Date() };
    }
    metrics.jobRuns.inc({ job, status: outcome.status });
    const fields = { job, runId: run.id, slot: run.slot.toISOString(), trigger: run.trigger, status: outcome.status, durationMs, summary: outcome.summary };
    if (outcome.status === "failed") {
      log.warn("job run failed", fields);
      await this.alertSafely(stored);
    } else {
      log.info("job run finished", fields);
    }
    return stored;
  }

  /** The job's body under its timeout; shutdown or a lost lease end the run at once with an honest summary. */
  private runBody(run: JobRun, shutdown: AbortSignal, lost: AbortController): Promise<JobOutcome> {
    const job = run.job as JobName;
    const body = this.deps.bodies.get(job);
    if (!body) {
      return Promise.resolve({
        status: "failed",
        summary: `No body is defined for ${job}: the feature that provides it is not part of this build, so nothing ran.`,
      });
    }
    const config = this.deps.config.jobs[job];
    const timeoutMs = (config?.timeout ?? DEFAULT_TIMEOUT_MS) + TIMEOUT_SLACK_MS;
    const timedOut = new AbortController();
    const signal = AbortSignal.any([shutdown, lost.signal, timedOut.signal]);
    return new Promise<JobOutcome>((resolve) => {
      const timer = setTimeout(() => timedOut.abort(), timeoutMs);
      const onAbort = () => {
        resolve({
          status: "failed",
          summary: shutdown.aborted
            ? "Interrupted by shutdown before it finished."
            : lost.signal.aborted
              ? "Stopped: its lease lapsed and another replica marked it abandoned."
              : `Timed out after ${formatDuration(timeoutMs)}.`,
        });
      };
      if (signal.aborted) onAbort();
      signal.addEventListener("abort", onAbort, { once: true });
      const context: JobContext = {
        job,
        slot: run.slot,
        trigger: run.trigger as JobContext["trigger"],
        ...(run.requestedBy ? { requestedBy: run.requestedBy } : {}),
        signal,
        config,
      };
      body(context)
        .then(resolve, (error: unknown) => {
          this.deps.log.error("job body failed", { job, runId: run.id, error });
          resolve({ status: "failed", summary: `${job} could not finish: ${describeError(error).message}.` });
        })
        .finally(() => {
          clearTimeout(timer);
          signal.removeEventListener("abort", onAbort);
        });
    });
  }

  private async heartbeat(): Promise<void> {
    try {
      await beat(this.deps.db, this.deps.replicaId);
      await this.sweepDeadRuns();
    } catch (error) {
      this.deps.log.warn("scheduler heartbeat failed", { error });
    }
  }

  private async sweepDeadRuns(): Promise<void> {
    this.reportDead(await reapDeadRuns(this.deps.db));
  }

  private reportDead(dead: JobRun[]): void {
    for (const run of dead) {
      this.deps.metrics.jobRuns.inc({ job: run.job, status: "failed" });
      this.deps.log.warn("job run abandoned by a replica that stopped renewing its lease", { job: run.job, runId: run.id, replica: run.replica });
      void this.alertSafely(run);
    }
  }

  private async alertSafely(failure: JobFailure): Promise<void> {
    try {
      await this.deps.alert(failure);
    } catch (error) {
      this.deps.log.error("could not post a job failure to the alerts channel", { job: failure.job, runId: failure.id, error });
    }
  }

  /** The database refused the claim: the slot did not run anywhere we know of, so say so. */
  private claimFailed(job: JobName, slot: Date, trigger: JobContext["trigger"], error: unknown): StartResult {
    const reason = describeError(error).message;
    this.deps.log.error("could not claim a job slot; it did not run", { job, slot: slot.toISOString(), error });
    void this.alertSafely({
      job,
      slot,
      trigger,
      replica: this.deps.replicaId,
      requestedBy: null,
      summary: `This slot did not run: the database did not answer when it was claimed (${reason}).`,
      outputTail: null,
    });
    return { kind: "taken" };
  }

  /** Stops firing new slots. Running jobs go on under `background`, which shutdown drains and then interrupts. */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const task of this.tasks.values()) await task.destroy();
    this.tasks.clear();
    clearInterval(this.heartbeatTimer);
    // The last moment this replica was alive: catch-up after a full outage starts from here.
    await beat(this.deps.db, this.deps.replicaId).catch((error: unknown) => this.deps.log.warn("could not record the final scheduler heartbeat", { error }));
  }
}

function cronLogger(log: Log, job: JobName) {
  const text = (message: string | Error) => (message instanceof Error ? message.message : message);
  return {
    info: (message: string) => log.debug(message, { component: "node-cron", job }),
    warn: (message: string) => log.warn(message, { component: "node-cron", job }),
    error: (message: string | Error, error?: Error) => log.error(text(message), { component: "node-cron", job, ...(error ? { error } : {}) }),
    debug: (message: string | Error) => log.debug(text(message), { component: "node-cron", job }),
  };
}
