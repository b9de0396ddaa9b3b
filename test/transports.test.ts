import { asc } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { feedback } from "../src/db/schema.js";
import { eventually, startTestBot, type TestBot, type Transport, TRANSPORTS } from "./support/bot.js";
import { CHANNELS, testConfig, USERS, workDir } from "./support/config.js";
import { dbKinds, openTestDatabase, type TestDatabase } from "./support/db.js";
import { buttonsOf, deploysIn, lastEphemeral, releaseMessageOf, waitForMessageState } from "./support/releases.js";

/** The core flows, the same scenarios over signed HTTP and over Socket Mode: what a person sees and what is stored must not depend on the transport. */
const cases = dbKinds().flatMap((kind) => TRANSPORTS.map((transport) => [transport, kind] as [Transport, typeof kind]));

describe.each(cases)("core flows over %s on %s", (transport, kind) => {
  let db: TestDatabase;
  let bot: TestBot;
  let dir: string;

  beforeAll(async () => {
    db = await openTestDatabase(kind);
    dir = workDir();
    bot = await startTestBot({ db, loaded: testConfig({ dir }), transport });
    await bot.idle();
  });

  afterAll(async () => {
    await bot?.stop();
    await db?.close();
  });

  const command = async (user: string, text: string) => {
    const result = await bot.emulator.command(user, CHANNELS.general, text);
    await bot.idle();
    return { result, reply: bot.emulator.ephemeralsFor(user, CHANNELS.general).at(-1)?.text ?? "" };
  };
  const click = async (user: string, version: string, env: string) => {
    const message = releaseMessageOf(bot, version, env);
    if (!message) throw new Error(`no message for ${version} → ${env}`);
    const result = await bot.emulator.click(user, { channel: CHANNELS.releases, ts: message.ts }, "release_approve");
    expect(result.status).toBe(200);
    await bot.idle();
    return lastEphemeral(bot, user);
  };
  const rows = () => db.database.db.select().from(feedback).orderBy(asc(feedback.ts));

  it("answers /orch help to the person who asked, through the transport", async () => {
    const { result, reply } = await command(USERS.engineer, "help");
    expect(result.status).toBe(200);
    expect(reply).toContain("/orch status");
    expect(reply).toContain("/orch help");
    expect(bot.emulator.ephemeralsFor(USERS.stakeholder)).toHaveLength(0);
    expect(bot.emulator.deliveries.filter((d) => d.kind === "command").map((d) => d.transport)).toEqual([transport]);
    if (transport === "socket") {
      const sent = bot.emulator.socketMode?.frames.find((f) => f.direction === "sent" && f.message.type === "slash_commands");
      expect(sent?.message).toMatchObject({ accepts_response_payload: true, payload: { command: "/orch", text: "help", user_id: USERS.engineer } });
      const ack = bot.emulator.socketMode?.frames.find((f) => f.direction === "received" && f.message.envelope_id === sent?.message.envelope_id);
      expect(ack).toBeDefined();
    }
  });

  it("answers an unknown command in the ack's response payload, shown to the person straight away", async () => {
    const { result, reply } = await command(USERS.engineer, "deploy everything now");
    expect(result.status).toBe(200);
    expect(result.body).toMatchObject({ response_type: "ephemeral" });
    expect(reply).toContain("/orch help");
  });

  it("takes a release through its gates and an approval to live on staging", async () => {
    const started = await command(USERS.engineer, "release 1.4.0");
    expect(started.reply).toContain("`1.4.0` to staging is running its gates");
    const awaiting = await waitForMessageState(bot, "1.4.0", "staging", "awaiting approval");
    expect(buttonsOf(awaiting)).toEqual(["release_approve", "release_reject"]);
    expect(await click(USERS.approver1, "1.4.0", "staging")).toBe("Your approval completed the release; deploying `1.4.0` to staging.");
    const live = await waitForMessageState(bot, "1.4.0", "staging", "live");
    expect(buttonsOf(live)).toEqual([]);
    expect(deploysIn(dir)).toEqual(["staging 1.4.0"]);
    const thread = bot.emulator.workspace.thread(CHANNELS.releases, live.ts).map((m) => m.text);
    expect(thread.at(-1)).toMatch(/^:white_check_mark: `1.4.0` is live on staging/);
  });

  it("records a feedback thread, one row per message, and reacts to each", async () => {
    const parent = await bot.emulator.message(USERS.stakeholder, CHANNELS.helpdesk, "The solar forecast page is slow to load this morning");
    const reply1 = await bot.emulator.message(USERS.engineer, CHANNELS.helpdesk, "Which region?", { threadTs: parent.ts });
    const reply2 = await bot.emulator.message(USERS.stakeholder, CHANNELS.helpdesk, "Khon Kaen, it takes 40 s", { threadTs: parent.ts });
    await bot.idle();
    const recorded = (await rows()).filter((r) => r.ts !== null && [parent.ts, reply1.ts, reply2.ts].includes(r.ts));
    expect(recorded.map((r) => [r.ts, r.threadTs, r.author, r.source])).toEqual([
      [parent.ts, null, USERS.stakeholder, "PEA Help Desk"],
      [reply1.ts, parent.ts, USERS.engineer, "PEA Help Desk"],
      [reply2.ts, parent.ts, USERS.stakeholder, "PEA Help Desk"],
    ]);
    for (const message of [parent, reply1, reply2]) {
      expect(bot.emulator.workspace.find(CHANNELS.helpdesk, message.ts)?.reactions?.map((r) => r.name)).toEqual(["inbox_tray"]);
    }
  });

  it("acknowledges a redelivered event without processing it twice", async () => {
    const before = bot.emulator.workspace.history(CHANNELS.general).length;
    const mention = await bot.emulator.message(USERS.engineer, CHANNELS.general, `<@${bot.emulator.botUserId}> what is live on staging?`);
    await bot.idle();
    const answers = () => bot.emulator.workspace.thread(CHANNELS.general, mention.ts).filter((m) => m.user === bot.emulator.botUserId);
    await eventually(() => expect(answers()).toHaveLength(1));
    const delivered = bot.emulator.deliveries.find((d) => d.kind === "event" && d.body.includes('"app_mention"') && d.body.includes(mention.ts));
    const again = await bot.emulator.redeliver(delivered!.eventId!, 1);
    expect(again.status).toBe(200);
    const message = bot.emulator.deliveries.find((d) => d.kind === "event" && d.body.includes('"type":"message"') && d.body.includes(mention.ts));
    expect((await bot.emulator.redeliver(message!.eventId!, 2)).status).toBe(200);
    await bot.idle();
    expect(answers()).toHaveLength(1);
    expect(bot.emulator.workspace.history(CHANNELS.general).length).toBe(before + 1);
  });
});
