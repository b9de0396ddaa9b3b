import { asc, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startOrchestrator } from "../src/app.js";
import { feedback } from "../src/db/schema.js";
import { BOT_TOKEN, eventually, startTestBot, type TestBot } from "./support/bot.js";
import { CHANNELS, testConfig, USERS } from "./support/config.js";
import { dbKinds, openTestDatabase, type TestDatabase } from "./support/db.js";

/** The bot in Socket Mode against the emulator's Socket Mode: acks after storing, redelivery, reconnects. */
describe.each(dbKinds())("Socket Mode bot on %s", (kind) => {
  let db: TestDatabase;
  let bot: TestBot;

  beforeAll(async () => {
    db = await openTestDatabase(kind);
    bot = await startTestBot({ db, loaded: testConfig(), transport: "socket" });
    await bot.idle();
  });

  afterAll(async () => {
    await bot?.stop();
    await db?.close();
  });

  const server = () => {
    const socketMode = bot.emulator.socketMode;
    if (!socketMode) throw new Error("the emulator does not serve Socket Mode");
    return socketMode;
  };
  const rowsLike = (pattern: string) => db.database.db.select().from(feedback).where(sql`${feedback.text} like ${pattern}`).orderBy(asc(feedback.ts));

  it("connects over the emulator's Socket Mode with the app token, not through /slack/events", async () => {
    expect(bot.emulator.callsOf("apps.connections.open")).toHaveLength(1);
    expect(server().liveConnections()).toHaveLength(1);
    expect((await fetch(`${bot.orchestrator.url}/slack/events`, { method: "POST", body: "{}" })).status).toBe(404);
    expect((await (await fetch(`${bot.orchestrator.url}/healthz`)).json()) as Record<string, unknown>).toMatchObject({ status: "ok", mode: "socket" });
  });

  it("acks a message event only once its feedback row is stored", async () => {
    const message = await bot.emulator.message(USERS.stakeholder, CHANNELS.helpdesk, "Ack-order check: the voltage chart lags by an hour");
    await bot.idle();
    const [row] = await rowsLike("Ack-order check:%");
    const sent = server().frames.find((f) => f.direction === "sent" && JSON.stringify(f.message).includes(message.ts) && f.message.type === "events_api");
    const ack = server().frames.find((f) => f.direction === "received" && f.message.envelope_id === sent?.message.envelope_id);
    expect(row).toBeDefined();
    expect(ack).toBeDefined();
    expect(row!.createdAt.getTime()).toBeLessThanOrEqual(ack!.at);
  });

  it("redelivers an envelope whose ack never reached Slack, and processes it once", async () => {
    // The acks of this person's message and of its app_mention; not of the bot's own answer coming back as an event.
    server().loseAcks(2, (envelope) => JSON.stringify(envelope.payload).includes(`"text":"<@${bot.emulator.botUserId}> lost-ack check`));
    const mention = await bot.emulator.message(USERS.engineer, CHANNELS.helpdesk, `<@${bot.emulator.botUserId}> lost-ack check: what is live?`);
    await eventually(() => expect(server().frames.filter((f) => f.lost)).toHaveLength(2), 10_000);
    await bot.idle();
    const deliveries = bot.emulator.deliveries.filter((d) => d.kind === "event" && (JSON.parse(d.body) as { event: { ts?: string } }).event.ts === mention.ts);
    // Both the message and the app_mention: first un-acked (408), then redelivered with retry_attempt 1 and acked.
    expect(deliveries.map((d) => [d.attempt, d.status]).sort()).toEqual([
      [0, 408],
      [0, 408],
      [1, 200],
      [1, 200],
    ]);
    const retried = server().frames.filter((f) => f.direction === "sent" && f.message.retry_attempt === 1 && JSON.stringify(f.message).includes(mention.ts));
    expect(retried.map((f) => f.message.retry_reason)).toEqual(["timeout", "timeout"]);
    expect(await rowsLike("%lost-ack check:%")).toHaveLength(1);
    const answers = bot.emulator.workspace.thread(CHANNELS.helpdesk, mention.ts).filter((m) => m.user === bot.emulator.botUserId);
    expect(answers).toHaveLength(1);
  }, 30_000);

  it("loses nothing and doubles nothing when Slack disconnects mid-burst: refresh, warning, and a dropped socket", async () => {
    const opened = server().connections.length;
    const posts: Array<Promise<unknown>> = [];
    // Each disconnect waits for the client to be back on a new connection, while envelopes keep coming.
    const reconnected = async (connections: number) => eventually(() => expect(server().connections.length === connections && server().liveConnections().length === 1).toBe(true), 15_000);
    for (let i = 0; i < 90; i += 1) {
      if (i === 20) server().disconnect("refresh_requested");
      if (i === 45) {
        await reconnected(opened + 1);
        server().disconnect("warning");
      }
      if (i === 70) {
        await reconnected(opened + 2);
        for (const id of server().liveConnections()) server().drop(id);
      }
      const channel = i % 2 === 0 ? CHANNELS.helpdesk : CHANNELS.stakeholders;
      posts.push(bot.emulator.message(USERS.stakeholder, channel, `Burst ${i}: feeder ${i % 7} forecast is off`));
      await new Promise((resolve) => setTimeout(resolve, 15));
    }
    await Promise.all(posts);
    await bot.idle();
    await eventually(async () => expect(await rowsLike("Burst %")).toHaveLength(90), 20_000);
    const rows = await rowsLike("Burst %");
    expect(new Set(rows.map((r) => r.text)).size).toBe(90);
    expect(server().connections.length).toBeGreaterThanOrEqual(opened + 3);
    expect(server().liveConnections()).toHaveLength(1);
    // Some envelopes were caught by the disconnects and came again.
    expect(bot.emulator.deliveries.some((d) => d.body.includes("Burst ") && d.attempt > 0)).toBe(true);
  }, 60_000);

  it("refuses to start with an app token Slack does not know, saying which variable to check", async () => {
    const loaded = testConfig();
    const start = startOrchestrator({
      env: {
        mode: { kind: "socket", botToken: BOT_TOKEN, appToken: "xapp-1-A0ORCH-revoked", apiUrl: `${bot.emulatorUrl}/api/` },
        port: 0,
        dataDir: "",
        configPath: loaded.path,
        anthropic: { model: "x" },
        logLevel: "error",
        shutdownGraceMs: 1000,
      },
      loaded,
      database: db.database,
      host: "127.0.0.1",
    });
    await expect(start).rejects.toThrow("Slack refused the app token (invalid_auth): check SLACK_APP_TOKEN and that Socket Mode is enabled");
    expect(server().liveConnections()).toHaveLength(1);
  });

  it("answers a command sent while it reconnects", async () => {
    server().disconnect("refresh_requested");
    const result = await bot.emulator.command(USERS.engineer, CHANNELS.general, "help");
    expect(result.status).toBe(200);
    await bot.idle();
    expect(bot.emulator.ephemeralsFor(USERS.engineer, CHANNELS.general).at(-1)?.text).toContain("/orch status");
  }, 20_000);
});
