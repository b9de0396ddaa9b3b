import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase, type Database } from "../src/db/client.js";
import { freezes } from "../src/db/schema.js";
import { lockEnvironment } from "../src/features/releases/freezes.js";
import { serveEmulator } from "../src/emulator/server.js";
import { startTestBot, type TestBot, testEmulator } from "./support/bot.js";
import { CHANNELS, testConfig, USERS, workDir } from "./support/config.js";
import { createPostgresDatabase, dropPostgresDatabase } from "./support/db.js";
import { deploysIn, releaseMessageOf, releaseRow, transitionsOf, waitForMessageState, waitForState } from "./support/releases.js";

/**
 * A release approved during a freeze deploys once when the freeze ends, with three replicas (each its own
 * pool, one PostgreSQL database, one Slack workspace) all running the scheduler's housekeeping at once.
 */
describe.runIf(process.env.TEST_DATABASE_URL)("scheduled deploys across three replicas", () => {
  let url: string;
  const databases: Database[] = [];
  const bots: TestBot[] = [];
  let closeEmulator: () => Promise<void>;
  const dir = workDir();
  let clock = new Date("2026-12-01T03:00:00Z");

  beforeAll(async () => {
    url = await createPostgresDatabase();
    const emulator = testEmulator();
    const served = await serveEmulator(emulator);
    closeEmulator = served.close;
    const loaded = testConfig({ dir });
    for (const replica of ["replica-a", "replica-b", "replica-c"]) {
      const database = await openDatabase({ databaseUrl: url, poolSize: 4 });
      databases.push(database);
      bots.push(
        await startTestBot({
          db: { database, close: async () => {} },
          loaded,
          emulator: { emulator, url: served.url },
          replicaId: replica,
          start: { releaseTimings: { now: () => clock }, jobs: { timers: false } },
        }),
      );
    }
    emulator.setRequestUrl(bots.map((b) => `${b.orchestrator.url}/slack/events`));
  });

  afterAll(async () => {
    for (const bot of bots) await bot.stop();
    for (const database of databases) await database.close();
    await closeEmulator?.();
    if (url) await dropPostgresDatabase(url);
  });

  const idle = async () => {
    for (const bot of bots) await bot.idle();
  };
  const approve = async (version: string, env: string, user: string) => {
    const message = releaseMessageOf(bots[0]!, version, env);
    if (!message) throw new Error("no release message");
    await bots[0]!.emulator.click(user, { channel: CHANNELS.releases, ts: message.ts }, "release_approve");
    await idle();
  };

  it("schedules the approval completed during a freeze and deploys it exactly once when the freeze ends", async () => {
    const emulator = bots[0]!.emulator;
    const db = databases[0]!.db;
    await emulator.command(USERS.engineer, CHANNELS.general, "release 5.0.0");
    await idle();
    await waitForMessageState(bots[0]!, "5.0.0", "staging", "awaiting approval");
    await approve("5.0.0", "staging", USERS.approver1);
    await waitForMessageState(bots[0]!, "5.0.0", "staging", "live");

    await emulator.command(USERS.engineer, CHANNELS.general, "release 5.0.0 to production");
    await idle();
    await waitForMessageState(bots[0]!, "5.0.0", "production", "awaiting approval");
    await emulator.command(USERS.admin, CHANNELS.general, "freeze production for 1h switchgear maintenance");
    await idle();
    await approve("5.0.0", "production", USERS.approver1);
    await approve("5.0.0", "production", USERS.approver2);
    const row = (await releaseRow(db, "5.0.0", "production"))!;
    await waitForState(db, row.id, "scheduled");
    expect(row.scheduledFor).toEqual(new Date("2026-12-01T04:00:00Z"));

    // Frozen still: every replica's housekeeping leaves it alone.
    await Promise.all(bots.map((b) => b.orchestrator.releases.startDue()));
    expect(deploysIn(dir)).toEqual(["staging 5.0.0"]);

    // The freeze ends; all three replicas run the housekeeping at the same moment, twice over.
    clock = new Date("2026-12-01T04:00:01Z");
    await Promise.all([
      ...bots.flatMap((b) => [b.orchestrator.releases.freezes.endLapsed(), b.orchestrator.releases.startDue()]),
      ...[USERS.admin, USERS.admin, USERS.admin].map((user) => emulator.command(user, CHANNELS.general, "jobs run approval-expiry")),
      ...bots.map((b) => b.orchestrator.releases.startDue()),
    ]);
    await idle();
    await waitForState(db, row.id, "live");
    await idle();
    expect(deploysIn(dir)).toEqual(["staging 5.0.0", "production 5.0.0"]);
    const moves = (await transitionsOf(db, row.id)).map((t) => `${t.fromState}→${t.toState}`);
    expect(moves).toEqual(["null→gating", "gating→awaiting_approval", "awaiting_approval→scheduled", "scheduled→deploying", "deploying→verifying", "verifying→live"]);
    const ended = emulator.workspace.history(CHANNELS.releases).filter((m) => m.text.includes("*Freeze of production ran out*"));
    expect(ended).toHaveLength(1);
  });
  it("orders a freeze being set and the approval that would start a deploy: the deploy sees the freeze", async () => {
    const emulator = bots[0]!.emulator;
    const db = databases[0]!.db;
    await emulator.command(USERS.engineer, CHANNELS.general, "release 5.1.0");
    await idle();
    await waitForMessageState(bots[0]!, "5.1.0", "staging", "awaiting approval");
    await approve("5.1.0", "staging", USERS.approver1);
    await waitForMessageState(bots[0]!, "5.1.0", "staging", "live");
    await emulator.command(USERS.engineer, CHANNELS.general, "release 5.1.0 to production");
    await idle();
    await waitForMessageState(bots[0]!, "5.1.0", "production", "awaiting approval");
    await approve("5.1.0", "production", USERS.approver1);
    const row = (await releaseRow(db, "5.1.0", "production"))!;

    // A freeze is being written on another connection and has not committed yet when the last approval arrives.
    let commitFreeze = () => {};
    const held = new Promise<void>((resolve) => {
      commitFreeze = resolve;
    });
    const freezing = databases[2]!.db.transaction(async (tx) => {
      await lockEnvironment(tx, "production");
      await tx.insert(freezes).values({ environment: "production", scope: "production", reason: "incident", createdBy: USERS.admin, startsAt: clock, endsAt: new Date(clock.getTime() + 3_600_000) });
      await held;
    });
    try {
      const message = releaseMessageOf(bots[0]!, "5.1.0", "production")!;
      await emulator.click(USERS.approver2, { channel: CHANNELS.releases, ts: message.ts }, "release_approve");
      await new Promise((resolve) => setTimeout(resolve, 500));
      // The approval waits for the freeze's transaction instead of deploying past it.
      await waitForState(db, row.id, "awaiting_approval");
    } finally {
      commitFreeze();
      await freezing;
    }
    await idle();
    await waitForState(db, row.id, "scheduled");
    expect(deploysIn(dir).filter((l) => l === "production 5.1.0")).toEqual([]);
  });
});
