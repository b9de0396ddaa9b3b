import { asc, eq, sql } from "drizzle-orm";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Background } from "../src/core/background.js";
import type { Config } from "../src/config/schema.js";
import { type Database, type Db, openDatabase } from "../src/db/client.js";
import { jobRuns, schedulerHeartbeats } from "../src/db/schema.js";
import { JOB_NAMES, type JobName } from "../src/core/jobs/catalog.js";
import { type JobBody, JobBodies } from "../src/core/jobs/registry.js";
import { type JobFailure, Scheduler, type SchedulerTimings } from "../src/core/jobs/scheduler.js";
import type { JobRun } from "../src/core/jobs/store.js";
import { createLog } from "../src/log.js";
import { createMetrics } from "../src/metrics.js";
import { eventually } from "./support/bot.js";
import { testConfig } from "./support/config.js";
import { dbKinds, openTestDatabase, type TestDatabase } from "./support/db.js";

interface Replica {
  scheduler: Scheduler;
  background: Background;
  alerts: JobFailure[];
  metrics: ReturnType<typeof createMetrics>;
}

const config = testConfig().config;
const silent = createLog("error", {}, () => {});

/** A release-able latch: bodies wait on it, the test opens it. */
function latch() {
  let open: () => void = () => {};
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

describe.each(dbKinds())("scheduler on %s", (kind) => {
  let db: TestDatabase;
  /** One connection pool per replica on PostgreSQL, as separate processes would have; PGlite has only one. */
  const extraHandles: Database[] = [];
  const replicas: Replica[] = [];
  const calls: string[] = [];

  const handle = async (): Promise<Database> => {
    if (!db.url) return db.database;
    const opened = await openDatabase({ databaseUrl: db.url, poolSize: 3 });
    extraHandles.push(opened);
    return opened;
  };

  const replica = async (id: string, bodies: JobBodies, timings: SchedulerTimings = {}, withConfig: Config = config): Promise<Replica> => {
    const database = await handle();
    const background = new Background(silent);
    const alerts: JobFailure[] = [];
    const metrics = createMetrics();
    const scheduler = new Scheduler(
      { config: withConfig, db: database.db, log: silent, metrics, background, replicaId: id, bodies, alert: async (run) => void alerts.push(run) },
      { timers: false, ...timings },
    );
    const made = { scheduler, background, alerts, metrics };
    replicas.push(made);
    return made;
  };

  /** Bodies for every job that record (job, slot) and then do `then`. */
  const recording = (then: (job: JobName) => Promise<void> = async () => {}): JobBodies => {
    const bodies = new JobBodies();
    for (const job of JOB_NAMES) {
      const body: JobBody = async ({ slot }) => {
        calls.push(`${job}@${slot.toISOString()}`);
        await then(job);
        return { status: "succeeded", summary: `${job} done` };
      };
      bodies.define(job, body);
    }
    return bodies;
  };

  const rows = () => db.database.db.select().from(jobRuns).orderBy(asc(jobRuns.slot), asc(jobRuns.job), asc(jobRuns.id));

  beforeAll(async () => {
    db = await openTestDatabase(kind);
  });

  afterEach(async () => {
    for (const r of replicas.splice(0)) {
      await r.scheduler.stop();
      await r.background.drain(100);
    }
    calls.length = 0;
    await db.database.db.execute(sql`delete from job_runs`);
    await db.database.db.execute(sql`delete from scheduler_heartbeats`);
  });

  afterAll(async () => {
    for (const h of extraHandles) await h.close();
    await db?.close();
  });

  it("runs a slot once when three replicas fire it at the same moment", async () => {
    const bodies = () => recording(() => new Promise((resolve) => setTimeout(resolve, 20)));
    const three = [await replica("replica-a", bodies()), await replica("replica-b", bodies()), await replica("replica-c", bodies())];
    const slot = new Date("2026-05-11T01:30:00Z");
    const jobs: JobName[] = ["knowledge-sync", "weekly-digest", "health-check", "security-patches"];
    const results = await Promise.all(jobs.flatMap((job) => three.map((r) => r.scheduler.fire(job, slot))));

    expect(results.filter((r) => r.kind === "ran")).toHaveLength(jobs.length);
    expect(results.filter((r) => r.kind === "taken")).toHaveLength(jobs.length * 2);
    expect([...calls].sort()).toEqual(jobs.map((job) => `${job}@${slot.toISOString()}`).sort());
    const stored = await rows();
    expect(stored.map((r) => [r.job, r.status])).toEqual(jobs.map((job) => [job, "succeeded"] as const).sort((a, b) => a[0].localeCompare(b[0])));
    // The losers did nothing at all: no row, no run, no metric.
    const counted = await Promise.all(three.map(async (r) => (await r.metrics.jobRuns.get()).values.reduce((n, v) => n + v.value, 0)));
    expect(counted.reduce((a, b) => a + b, 0)).toBe(jobs.length);
  });

  it("does nothing at the first start of a brand-new install, and records that it is alive", async () => {
    const r = await replica("replica-a", recording());
    await r.scheduler.start();
    await r.background.idle();
    expect(await rows()).toEqual([]);
    const beats = await db.database.db.select().from(schedulerHeartbeats);
    expect(beats.map((b) => b.replica)).toEqual(["replica-a"]);
  });

  it("after every replica was down, runs only the latest missed slot of each job, once, at start-up", async () => {
    // Last alive Monday 11 May 2026 08:00 Bangkok; back on Thursday 14 May 08:02.
    await db.database.db.insert(schedulerHeartbeats).values({ replica: "replica-old", seenAt: new Date("2026-05-11T01:00:00Z") });
    const now = () => new Date("2026-05-14T01:02:30Z");
    const first = await replica("replica-a", recording(), { now });
    await first.scheduler.start();
    await eventually(async () => expect((await rows()).every((r) => r.status === "succeeded")).toBe(true));
    await first.background.idle();

    const expected = [
      "security-patches@2026-05-11T01:15:00.000Z",
      "knowledge-sync@2026-05-11T01:30:00.000Z",
      "weekly-digest@2026-05-11T02:00:00.000Z",
      "feedback-backfill@2026-05-14T00:07:00.000Z",
      "approval-expiry@2026-05-14T01:02:00.000Z",
      "health-check@2026-05-14T01:00:00.000Z",
    ];
    expect([...calls].sort()).toEqual([...expected].sort());
    const stored = await rows();
    expect(stored.map((r) => `${r.job}@${r.slot.toISOString()}`).sort()).toEqual([...expected].sort());
    expect(new Set(stored.map((r) => r.trigger))).toEqual(new Set(["catch-up"]));

    // Two more replicas coming up with the same view of the outage change nothing: those slots are taken.
    const others = [await replica("replica-b", recording(), { now }), await replica("replica-c", recording(), { now })];
    const again = await Promise.all(others.map((r) => r.scheduler.catchUp(new Date("2026-05-11T01:00:00Z"))));
    expect(again.flat().map((r) => r.kind)).toEqual(Array(12).fill("taken"));
    expect(calls).toHaveLength(expected.length);
    expect(await rows()).toHaveLength(expected.length);
  });

  it("records a slot that comes while the previous run is still going as skipped, on any replica", async () => {
    const gate = latch();
    const a = await replica(
      "replica-a",
      recording((job) => (job === "knowledge-sync" ? gate.opened : Promise.resolve())),
    );
    const b = await replica("replica-b", recording());
    const first = await a.scheduler.begin("knowledge-sync", new Date("2026-05-04T01:30:00Z"), "schedule");
    expect(first.kind).toBe("started");

    const fromB = await b.scheduler.fire("knowledge-sync", new Date("2026-05-11T01:30:00Z"));
    const fromA = await a.scheduler.fire("knowledge-sync", new Date("2026-05-18T01:30:00Z"), "manual", "U0ADMIN");
    expect(fromB.kind).toBe("skipped");
    expect(fromA.kind).toBe("skipped");
    expect(calls).toEqual(["knowledge-sync@2026-05-04T01:30:00.000Z"]);

    gate.open();
    if (first.kind === "started") expect((await first.finished).status).toBe("succeeded");
    const after = await a.scheduler.fire("knowledge-sync", new Date("2026-05-25T01:30:00Z"));
    expect(after.kind).toBe("ran");

    const stored = await rows();
    expect(stored.map((r) => [r.slot.toISOString().slice(0, 10), r.status, r.replica])).toEqual([
      ["2026-05-04", "succeeded", "replica-a"],
      ["2026-05-11", "skipped", "replica-b"],
      ["2026-05-18", "skipped", "replica-a"],
      ["2026-05-25", "succeeded", "replica-a"],
    ]);
    expect(stored[1]?.summary).toBe("Skipped: the run of 2026-05-04T01:30:00.000Z was still going on replica-a.");
    expect(stored[2]?.requestedBy).toBe("U0ADMIN");
    expect((await b.metrics.jobRuns.get()).values).toEqual([expect.objectContaining({ labels: { job: "knowledge-sync", status: "skipped" }, value: 1 })]);
  });

  it("keeps a long run's lease alive while it works, and treats a run whose lease lapsed as dead", async () => {
    const gate = latch();
    const a = await replica(
      "replica-a",
      recording((job) => (job === "tech-debt-assessment" ? gate.opened : Promise.resolve())),
      { leaseMs: 1200 },
    );
    const b = await replica("replica-b", recording(), { leaseMs: 1200 });
    const long = await a.scheduler.begin("tech-debt-assessment", new Date("2026-05-01T04:00:00Z"), "schedule");
    // Well past the first lease: only renewals keep it alive.
    await new Promise((resolve) => setTimeout(resolve, 2600));
    expect((await b.scheduler.fire("tech-debt-assessment", new Date("2026-06-01T04:00:00Z"))).kind).toBe("skipped");
    gate.open();
    if (long.kind === "started") expect((await long.finished).status).toBe("succeeded");

    // A replica that died mid-run leaves a `running` row whose lease lapses.
    await db.database.db.insert(jobRuns).values({
      job: "roadmap-planning",
      slot: new Date("2026-04-01T04:00:00Z"),
      trigger: "schedule",
      replica: "replica-dead",
      status: "running",
      leaseUntil: sql`now() - interval '1 second'`,
    });
    const next = await b.scheduler.fire("roadmap-planning", new Date("2026-07-01T04:00:00Z"));
    expect(next.kind).toBe("ran");
    const dead = (await rows()).find((r) => r.replica === "replica-dead");
    expect(dead).toMatchObject({ status: "failed", summary: "Abandoned: replica replica-dead stopped renewing its lease while this run was going (it crashed or lost the database)." });
    expect(dead?.finishedAt).toBeInstanceOf(Date);
    expect(b.alerts.map((r) => [r.job, r.replica])).toEqual([["roadmap-planning", "replica-dead"]]);
  });

  it("stores every run with its outcome, and alerts on failures, including a job with no body", async () => {
    const bodies = new JobBodies();
    bodies.define("dependency-updates", async () => ({ status: "succeeded", summary: "3 outdated packages.", outputTail: "react 18.3.1 → 19.1.0", details: { majors: 1 } }));
    bodies.define("security-patches", async () => {
      throw new Error("trivy database download failed");
    });
    const r = await replica("replica-a", bodies);
    const slot = new Date("2026-05-11T01:00:00Z");
    const results = await Promise.all((["dependency-updates", "security-patches", "feedback-backfill"] as const).map((job) => r.scheduler.fire(job, slot)));
    expect(results.map((x) => x.kind)).toEqual(["ran", "ran", "ran"]);

    const stored = await rows();
    expect(stored.map((x) => [x.job, x.status, x.summary])).toEqual([
      ["dependency-updates", "succeeded", "3 outdated packages."],
      ["feedback-backfill", "failed", "No body is defined for feedback-backfill: the feature that provides it is not part of this build, so nothing ran."],
      ["security-patches", "failed", "security-patches could not finish: trivy database download failed."],
    ]);
    const ok = stored[0] as JobRun;
    expect(ok).toMatchObject({ trigger: "schedule", replica: "replica-a", outputTail: "react 18.3.1 → 19.1.0", details: { majors: 1 }, leaseUntil: null });
    expect(ok.finishedAt?.getTime()).toBeGreaterThanOrEqual(ok.startedAt.getTime());
    expect(r.alerts.map((a) => a.job).sort()).toEqual(["feedback-backfill", "security-patches"]);
    const metrics = (await r.metrics.jobRuns.get()).values.map((v) => `${v.labels.job} ${v.labels.status} ${v.value}`).sort();
    expect(metrics).toEqual(["dependency-updates succeeded 1", "feedback-backfill failed 1", "security-patches failed 1"]);
  });

  it("tells the alerts channel when a slot cannot be claimed because the database is down", async () => {
    const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5432"), { code: "ECONNREFUSED" });
    const down = new Proxy(
      {},
      {
        get: () => () => {
          throw refused;
        },
      },
    ) as Db;
    const alerts: JobFailure[] = [];
    const background = new Background(silent);
    const scheduler = new Scheduler(
      { config, db: down, log: silent, metrics: createMetrics(), background, replicaId: "replica-a", bodies: recording(), alert: async (failure) => void alerts.push(failure) },
      { timers: false, now: () => new Date("2026-05-11T02:03:00Z") },
    );
    const results = await scheduler.catchUp(new Date("2026-05-11T01:59:00Z"));
    // The weekly digest, the health check and the approval expiry all had a slot at 09:00.
    expect(results.map((r) => r.kind)).toEqual(["taken", "taken", "taken"]);
    expect(calls).toEqual([]);
    await eventually(() => expect(alerts.map((a) => a.job).sort()).toEqual(["approval-expiry", "health-check", "weekly-digest"]));
    expect(alerts.find((a) => a.job === "weekly-digest")).toMatchObject({
      job: "weekly-digest",
      slot: new Date("2026-05-11T02:00:00Z"),
      trigger: "catch-up",
      summary: "This slot did not run: the database did not answer when it was claimed (connect ECONNREFUSED 127.0.0.1:5432).",
    });
  });

  it("on shutdown fires no new slot and marks a run that outlives the grace period failed, interrupted by shutdown", async () => {
    const bodies = new JobBodies();
    // A body that ignores its abort signal: the scheduler must still leave an honest record.
    bodies.define("architecture-review", () => new Promise(() => {}));
    bodies.define("knowledge-sync", async ({ signal }) => {
      await new Promise((resolve) => setTimeout(resolve, 50));
      return { status: "succeeded", summary: signal.aborted ? "aborted" : "finished within the grace period" };
    });
    const r = await replica("replica-a", bodies);
    const stuck = await r.scheduler.begin("architecture-review", new Date("2026-07-01T03:00:00Z"), "schedule");
    const quick = await r.scheduler.begin("knowledge-sync", new Date("2026-05-11T01:30:00Z"), "schedule");
    expect([stuck.kind, quick.kind]).toEqual(["started", "started"]);

    await r.scheduler.stop();
    expect((await r.scheduler.begin("health-check", new Date("2026-05-11T01:35:00Z"), "schedule")).kind).toBe("stopped");
    await r.background.drain(300);

    const stored = await rows();
    expect(stored.map((x) => [x.job, x.status, x.summary])).toEqual([
      ["knowledge-sync", "succeeded", "finished within the grace period"],
      ["architecture-review", "failed", "Interrupted by shutdown before it finished."],
    ]);
    expect(stored.every((x) => x.finishedAt !== null && x.leaseUntil === null)).toBe(true);
    expect(r.alerts.map((a) => a.summary)).toEqual(["Interrupted by shutdown before it finished."]);
    const [beat] = await db.database.db.select().from(schedulerHeartbeats).where(eq(schedulerHeartbeats.replica, "replica-a"));
    expect(beat).toBeDefined();
  });

  it("fires slots from node-cron timers in the configured timezone, naming each slot as cron-parser does", async () => {
    const everySecond: Config = { ...config, jobs: { "health-check": { schedule: "* * * * * *", enabled: true, timeout: 60_000 } } };
    const onlyHealth = new JobBodies();
    onlyHealth.define("health-check", async ({ slot }) => {
      calls.push(slot.toISOString());
      return { status: "succeeded", summary: "checked" };
    });
    const r = await replica("replica-a", onlyHealth, { timers: true }, everySecond);
    await r.scheduler.start();
    const [run] = await eventually(async () => {
      const found = (await rows()).filter((x) => x.job === "health-check" && x.trigger === "schedule");
      expect(found.length).toBeGreaterThan(0);
      return found;
    });
    await r.scheduler.stop();
    expect(run?.slot.getUTCMilliseconds()).toBe(0);
    expect(calls[0]).toBe(run?.slot.toISOString());
  });
});
