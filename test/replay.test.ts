import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase } from "../src/db/client.js";
import { approvals, feedback, slackSignatures } from "../src/db/schema.js";
import type { Delivery } from "../src/emulator/delivery.js";
import { pruneSignatures } from "../src/slack/replay.js";
import { startTestBot, type TestBot } from "./support/bot.js";
import { CHANNELS, testConfig, USERS, workDir } from "./support/config.js";
import { dbKinds, openTestDatabase, type TestDatabase } from "./support/db.js";
import { releaseMessageOf, waitForMessageState } from "./support/releases.js";

/** A signed request accepted once is not processed again within its window, by any replica (issue 11, item 2). */
describe.each(dbKinds())("replayed Slack requests on %s", (kind) => {
  let db: TestDatabase;
  let dir: string;
  let replicaA: TestBot;
  /**
   * PostgreSQL: a second replica with a connection pool of its own, as another process would have.
   * Embedded PGlite belongs to one process, so there it is the same bot (replicas need PostgreSQL).
   */
  let replicaB: TestBot;
  let ownDatabase: Awaited<ReturnType<typeof openDatabase>> | undefined;
  let restarted: TestBot | undefined;

  beforeAll(async () => {
    db = await openTestDatabase(kind);
    dir = workDir();
    replicaA = await startTestBot({ db, loaded: testConfig({ dir }), replicaId: "replica-a" });
    ownDatabase = db.url ? await openDatabase({ databaseUrl: db.url, poolSize: 3 }) : undefined;
    replicaB = ownDatabase
      ? await startTestBot({
          db: { database: ownDatabase, close: () => ownDatabase!.close() },
          loaded: testConfig({ dir }),
          emulator: { emulator: replicaA.emulator, url: replicaA.emulatorUrl },
          replicaId: "replica-b",
        })
      : replicaA;
    replicaA.emulator.setRequestUrl(`${replicaA.orchestrator.url}/slack/events`);
  });

  afterAll(async () => {
    await restarted?.stop();
    if (replicaB !== replicaA) await replicaB?.stop();
    await replicaA?.stop();
    await ownDatabase?.close();
    await db?.close();
  });

  const emulator = () => replicaA.emulator;
  const idle = async () => {
    await replicaA.idle();
    await replicaB.idle();
  };
  /** Sends exactly what Slack sent before, same timestamp and signature, to one replica. */
  const replay = (delivery: Delivery, bot: TestBot) => fetch(`${bot.orchestrator.url}/slack/events`, { method: "POST", headers: delivery.headers, body: delivery.body });
  const feedbackRows = async () => db.database.db.select({ text: feedback.text }).from(feedback);

  it("records a replayed `feedback add` once, answering the replay 200, on this replica and (PostgreSQL) another", async () => {
    await emulator().command(USERS.stakeholder, CHANNELS.general, "feedback add The voltage chart legend is unreadable");
    await idle();
    const original = emulator().deliveries.at(-1) as Delivery;
    expect(original).toMatchObject({ kind: "command", status: 200 });
    const answers = emulator().responses.length;

    expect((await replay(original, replicaA)).status).toBe(200);
    expect((await replay(original, replicaB)).status).toBe(200);
    await idle();
    expect(await feedbackRows()).toEqual([{ text: "The voltage chart legend is unreadable" }]);
    // Only the first was answered ("Recorded feedback #1 …"); the replays reached no listener.
    expect(emulator().responses.length).toBe(answers);
    expect(replicaA.logs.some((l) => l.msg === "replayed request acknowledged without processing" && l.kind === "command")).toBe(true);
    expect(replicaB.logs.some((l) => l.msg === "replayed request acknowledged without processing" && l.kind === "command")).toBe(true);

    // The same words typed again are a new request (new timestamp, response_url, signature): recorded.
    await emulator().command(USERS.stakeholder, CHANNELS.general, "feedback add The voltage chart legend is unreadable");
    await idle();
    expect(await feedbackRows()).toHaveLength(2);
  });

  it("ignores a replayed button click", async () => {
    await emulator().command(USERS.engineer, CHANNELS.general, "release 2.0.0 to staging");
    await idle();
    const awaiting = await waitForMessageState(replicaA, "2.0.0", "staging", "awaiting approval");
    await emulator().click(USERS.approver1, { channel: CHANNELS.releases, ts: awaiting.ts }, "release_approve");
    await idle();
    const click = emulator()
      .deliveries.filter((d) => d.kind === "action")
      .at(-1) as Delivery;
    expect(click.status).toBe(200);
    await waitForMessageState(replicaA, "2.0.0", "staging", "live");
    const ephemerals = emulator().ephemeralsFor(USERS.approver1).length;
    const responses = emulator().responses.length;

    expect((await replay(click, replicaB)).status).toBe(200);
    await idle();
    // Processed again it would answer "This release is already live…"; replayed, nothing happens.
    expect(emulator().ephemeralsFor(USERS.approver1)).toHaveLength(ephemerals);
    expect(emulator().responses).toHaveLength(responses);
    const counted = await db.database.db.select().from(approvals);
    expect(counted.map((a) => a.approver)).toEqual([USERS.approver1]);
    expect(releaseMessageOf(replicaA, "2.0.0", "staging")?.text).toContain("live");
  });

  it("ignores a replayed event: a mention is answered once, a message is one row", async () => {
    const mention = await emulator().message(USERS.engineer, CHANNELS.general, `<@${emulator().botUserId}> status`);
    await emulator().message(USERS.stakeholder, CHANNELS.helpdesk, "The forecast page times out every morning");
    await idle();
    const events = emulator().deliveries.filter((d) => d.kind === "event" && d.status === 200);
    const mentionEvent = events.find((d) => d.body.includes('"type":"app_mention"') && d.body.includes(mention.ts)) as Delivery;
    const messageEvent = events.find((d) => d.body.includes("The forecast page times out")) as Delivery;
    for (const delivery of [mentionEvent, messageEvent, mentionEvent]) expect((await replay(delivery, replicaB)).status).toBe(200);
    await idle();
    expect(
      emulator()
        .workspace.thread(CHANNELS.general, mention.ts)
        .filter((m) => m.user === emulator().botUserId),
    ).toHaveLength(1);
    expect((await feedbackRows()).filter((r) => r.text.startsWith("The forecast page"))).toHaveLength(1);
    expect(replicaB.logs.filter((l) => l.msg.startsWith("event already processed") && l.eventId === mentionEvent.eventId)).toHaveLength(2);
  });

  it("still ignores the replay after a restart", async () => {
    const original = emulator().deliveries.find((d) => d.kind === "command" && d.body.includes("voltage+chart+legend")) as Delivery;
    const rows = (await feedbackRows()).length;
    // The bot stops (its emulator, the workspace, stays up) and starts again on the same database.
    await replicaA.orchestrator.stop();
    if (replicaB !== replicaA) await replicaB.stop();
    restarted = await startTestBot({ db, loaded: testConfig({ dir }), emulator: { emulator: replicaA.emulator, url: replicaA.emulatorUrl }, replicaId: "replica-c" });
    expect((await replay(original, restarted)).status).toBe(200);
    await restarted.idle();
    expect(await feedbackRows()).toHaveLength(rows);
    expect(restarted.logs.some((l) => l.msg === "replayed request acknowledged without processing" && l.kind === "command")).toBe(true);
  });

  it("keeps signatures for the window only, pruning older ones", async () => {
    const now = Math.floor(Date.now() / 1000);
    await db.database.db.insert(slackSignatures).values([
      { signature: "v0=old-1", requestTs: now - 3600 },
      { signature: "v0=old-2", requestTs: now - 11 * 60 },
      { signature: "v0=recent", requestTs: now - 60 },
    ]);
    expect(await pruneSignatures(db.database.db, now)).toBe(2);
    const left = await db.database.db.select({ signature: slackSignatures.signature }).from(slackSignatures).where(sql`${slackSignatures.signature} like 'v0=%'`);
    expect(left.map((r) => r.signature)).toContain("v0=recent");
    expect(left.map((r) => r.signature)).not.toContain("v0=old-1");
    expect(left.map((r) => r.signature)).not.toContain("v0=old-2");
    // The commands and clicks of this test file are all inside the window, so all of them are still remembered.
    const accepted = new Set(
      emulator()
        .deliveries.filter((d) => d.kind !== "event" && d.status === 200)
        .map((d) => d.headers["x-slack-signature"]),
    );
    expect(accepted.size).toBeGreaterThan(3);
    expect(left.length).toBe(accepted.size + 1);
  });
});
