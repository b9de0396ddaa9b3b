import { asc, eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { feedback, feedbackEvents } from "../src/db/schema.js";
import { eventually, startTestBot, type TestBot } from "./support/bot.js";
import { CHANNELS, testConfig, USERS } from "./support/config.js";
import { dbKinds, openTestDatabase, type TestDatabase } from "./support/db.js";

describe.each(dbKinds())("feedback capture on %s", (kind) => {
  let db: TestDatabase;
  let bot: TestBot;

  beforeAll(async () => {
    db = await openTestDatabase(kind);
    bot = await startTestBot({ db, loaded: testConfig() });
    await bot.idle();
  });

  afterAll(async () => {
    await bot?.stop();
    await db?.close();
  });

  const rows = () => db.database.db.select().from(feedback).orderBy(asc(feedback.ts), asc(feedback.id));
  const rowOf = async (channel: string, ts: string) => (await db.database.db.select().from(feedback).where(sql`${feedback.channel} = ${channel} and ${feedback.ts} = ${ts}`))[0];

  it("records a message and its thread replies with the channel's source, kind and priority, and reacts to each", async () => {
    const parent = await bot.emulator.message(USERS.stakeholder, CHANNELS.helpdesk, "The solar forecast page is slow to load this morning");
    const reply1 = await bot.emulator.message(USERS.engineer, CHANNELS.helpdesk, "Which region?", { threadTs: parent.ts });
    const reply2 = await bot.emulator.message(USERS.stakeholder, CHANNELS.helpdesk, "Khon Kaen. It takes 40 s and sometimes shows an error", { threadTs: parent.ts });
    await bot.idle();
    const recorded = await rows();
    expect(recorded.map((r) => [r.ts, r.threadTs, r.author, r.source, r.capturedBy])).toEqual([
      [parent.ts, null, USERS.stakeholder, "PEA Help Desk", "message"],
      [reply1.ts, parent.ts, USERS.engineer, "PEA Help Desk", "message"],
      [reply2.ts, parent.ts, USERS.stakeholder, "PEA Help Desk", "message"],
    ]);
    expect(recorded[0]).toMatchObject({ kind: "support-ticket", priority: "high", theme: "solar forecasting", status: "open" });
    expect(recorded[2]).toMatchObject({ kind: "bug", priority: "high" });
    expect(recorded[2]?.permalink).toBe(`https://orchestrator-sandbox.slack.test/archives/${CHANNELS.helpdesk}/p${reply2.ts.replace(".", "")}?thread_ts=${parent.ts}&cid=${CHANNELS.helpdesk}`);
    for (const message of [parent, reply1, reply2]) {
      expect(bot.emulator.workspace.find(CHANNELS.helpdesk, message.ts)?.reactions).toEqual([{ name: "inbox_tray", users: [bot.emulator.botUserId], count: 1 }]);
    }
  });

  it("ignores bots, the bot itself, joins and messages outside feedback channels", async () => {
    const before = (await rows()).length;
    await bot.emulator.message(USERS.engineer, CHANNELS.general, "Not feedback: general chatter");
    bot.emulator.dispatchEvent({
      type: "message",
      subtype: "bot_message",
      bot_id: "B0GRAFANA",
      text: "Alert: CPU 95%",
      ts: bot.emulator.workspace.nextTs(),
      channel: CHANNELS.helpdesk,
      channel_type: "channel",
    });
    bot.emulator.dispatchEvent({
      type: "message",
      subtype: "channel_join",
      user: USERS.admin,
      text: "<@U0ADMIN> has joined the channel",
      ts: bot.emulator.workspace.nextTs(),
      channel: CHANNELS.helpdesk,
      channel_type: "channel",
    });
    await bot.orchestrator.services.slack.chat.postMessage({ channel: CHANNELS.stakeholders, text: "Reminder: stakeholder meeting at 10:00" });
    await bot.idle();
    expect((await rows()).length).toBe(before);
  });

  it("stores one row for one message however it arrives: event, redelivery, reaction, shortcut, backfill", async () => {
    const message = await bot.emulator.message(USERS.stakeholder, CHANNELS.stakeholders, "We need the day-ahead voltage forecast by 06:00 for the grid operators");
    await bot.idle();
    const first = bot.emulator.deliveries.find((d) => d.kind === "event" && d.body.includes(message.ts));
    await bot.emulator.redeliver(first!.eventId!, 1);
    await bot.emulator.react(USERS.admin, CHANNELS.stakeholders, message.ts, "memo");
    const shortcut = await bot.emulator.shortcut(USERS.admin, CHANNELS.stakeholders, message.ts, "record_feedback");
    expect(shortcut.status).toBe(200);
    await bot.orchestrator.services.background.idle();
    await bot.idle();
    // The shortcut is answered after its ack, through response_url.
    await eventually(() => expect(bot.emulator.ephemeralsFor(USERS.admin, CHANNELS.stakeholders).at(-1)?.text).toBe("That message was already recorded as feedback."));
    await bot.orchestrator.feedback.backfill();
    const matching = (await rows()).filter((r) => r.ts === message.ts);
    expect(matching).toHaveLength(1);
    expect(matching[0]).toMatchObject({ source: "Stakeholder Meetings", kind: "direct-feedback", priority: "critical", capturedBy: "message" });
  });

  it("keeps edits (with the old text in the events) and marks deletions without losing the row", async () => {
    const message = await bot.emulator.message(USERS.stakeholder, CHANNELS.helpdesk, "Export to CSV drops the last hour");
    await bot.idle();
    await bot.emulator.edit(USERS.stakeholder, CHANNELS.helpdesk, message.ts, "Export to CSV drops the last hour of every day");
    await bot.idle();
    const edited = await rowOf(CHANNELS.helpdesk, message.ts);
    expect(edited?.text).toBe("Export to CSV drops the last hour of every day");
    const events = await db.database.db.select().from(feedbackEvents).where(eq(feedbackEvents.feedbackId, edited!.id));
    expect(events.map((e) => [e.kind, e.detail.previousText])).toEqual([["edited", "Export to CSV drops the last hour"]]);
    // An older edit that Slack delivers late does not overwrite the newer text.
    const older = { ...(edited as object), text: "Export to CSV drops" };
    bot.emulator.dispatchEvent({
      type: "message",
      subtype: "message_changed",
      channel: CHANNELS.helpdesk,
      message: { type: "message", user: USERS.stakeholder, text: older.text, ts: message.ts, edited: { user: USERS.stakeholder, ts: (Number(edited!.editedTs) - 1).toFixed(6) } },
      ts: bot.emulator.workspace.nextTs(),
      event_ts: bot.emulator.workspace.nextTs(),
    });
    await bot.idle();
    expect((await rowOf(CHANNELS.helpdesk, message.ts))?.text).toBe("Export to CSV drops the last hour of every day");
    await bot.emulator.remove(USERS.stakeholder, CHANNELS.helpdesk, message.ts);
    await bot.idle();
    const deleted = await rowOf(CHANNELS.helpdesk, message.ts);
    expect(deleted?.deletedAt).toBeInstanceOf(Date);
    expect(deleted?.text).toBe("Export to CSV drops the last hour of every day");
  });

  it("records a message from any channel that gets the :memo: reaction, thread replies included", async () => {
    const parent = await bot.emulator.message(USERS.engineer, CHANNELS.general, "Ops says the alert e-mails arrive twice");
    const reply = await bot.emulator.message(USERS.admin, CHANNELS.general, "And the SMS alerts not at all", { threadTs: parent.ts });
    await bot.idle();
    expect(await rowOf(CHANNELS.general, parent.ts)).toBeUndefined();
    await bot.emulator.react(USERS.admin, CHANNELS.general, reply.ts, "memo");
    await bot.emulator.react(USERS.admin, CHANNELS.general, parent.ts, "eyes");
    await bot.idle();
    const captured = await rowOf(CHANNELS.general, reply.ts);
    expect(captured).toMatchObject({
      text: "And the SMS alerts not at all",
      author: USERS.admin,
      threadTs: parent.ts,
      source: "Slack reaction",
      capturedBy: "reaction",
      theme: "alerts and notifications",
    });
    expect(await rowOf(CHANNELS.general, parent.ts)).toBeUndefined();
  });

  it("records by hand, lists, moves status and links sprints, refusing what is wrong", async () => {
    const say = async (user: string, text: string) => {
      await bot.emulator.command(user, CHANNELS.general, text);
      await bot.idle();
      return bot.emulator.ephemeralsFor(user, CHANNELS.general).at(-1)?.text ?? "";
    };
    const added = await say(USERS.engineer, 'feedback add "Map legend unreadable on mobile" --kind feature-request --priority low');
    const id = Number(/#(\d+)/.exec(added)?.[1]);
    expect(added).toBe(`Recorded feedback #${id} (feature-request, low, theme: dashboard and UI).`);
    expect(await say(USERS.engineer, "feedback list")).toContain(`*#${id}* · open · low · feature-request · <@${USERS.engineer}>, just now · Map legend unreadable on mobile\n`);
    expect(await say(USERS.engineer, "feedback list")).toMatch(/^\*#\d+\* · open · high · support-ticket · .* · <https:\/\/[^|]+\|message>$/m);
    expect(await say(USERS.engineer, `feedback status ${id} closed`)).toBe("Only admins can use `/orch feedback status <id> <open|in-progress|closed>`. Admins: <@U0ADMIN>.");
    expect(await say(USERS.admin, `feedback status ${id} done`)).toContain("`done` is not a valid status: use one of `open`, `in-progress`, `closed`.");
    expect(await say(USERS.admin, "feedback status 99999 closed")).toBe("There is no feedback #99999. `/orch feedback list` shows the ids.");
    expect(await say(USERS.admin, "feedback status abc closed")).toContain("`abc` is not a feedback id");
    expect(await say(USERS.admin, `feedback status ${id} in-progress`)).toBe(`Feedback #${id} is now *in-progress* (was open).`);
    expect(await say(USERS.admin, `feedback link ${id} sprint-24`)).toBe(`Feedback #${id} is linked to sprint *sprint-24*.`);
    expect(await say(USERS.admin, `feedback link ${id} "drop table"`)).toContain("is not a sprint name");
    expect(await say(USERS.admin, `feedback status ${id} closed`)).toBe(`Feedback #${id} is now *closed* (was in-progress).`);
    const [row] = await db.database.db.select().from(feedback).where(eq(feedback.id, id));
    expect(row).toMatchObject({ status: "closed", sprint: "sprint-24" });
    expect(row?.closedAt).toBeInstanceOf(Date);
    const events = await db.database.db.select().from(feedbackEvents).where(eq(feedbackEvents.feedbackId, id)).orderBy(asc(feedbackEvents.id));
    expect(events.map((e) => [e.kind, e.actor, e.detail])).toEqual([
      ["status", USERS.admin, { from: "open", to: "in-progress" }],
      ["sprint", USERS.admin, { from: null, to: "sprint-24" }],
      ["status", USERS.admin, { from: "in-progress", to: "closed" }],
    ]);
    expect(await say(USERS.engineer, "feedback list closed")).toContain(`*#${id}*`);
  });

  it("tells the feedback thread when its status changes", async () => {
    const message = await bot.emulator.message(USERS.stakeholder, CHANNELS.helpdesk, "Cannot log in with SSO since yesterday");
    await bot.idle();
    const row = await rowOf(CHANNELS.helpdesk, message.ts);
    await bot.emulator.command(USERS.admin, CHANNELS.general, `feedback status ${row!.id} in-progress`);
    await bot.idle();
    await eventually(() => {
      const thread = bot.emulator.workspace.thread(CHANNELS.helpdesk, message.ts).map((m) => m.text);
      expect(thread).toContain(`This feedback (#${row!.id}) is now *in-progress*, set by <@${USERS.admin}>.`);
    });
  });
});
