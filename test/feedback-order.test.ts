import { and, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { feedback, feedbackEvents } from "../src/db/schema.js";
import { serveEmulator } from "../src/emulator/server.js";
import { formatTs, type SlackMessage } from "../src/emulator/workspace.js";
import { startTestBot, type TestBot, testEmulator } from "./support/bot.js";
import { CHANNELS, testConfig, USERS } from "./support/config.js";
import { dbKinds, openTestDatabase, type TestDatabase } from "./support/db.js";

/**
 * SPEC §5 "edits update the text; deletions mark the row deleted", whatever order Slack's events
 * arrive in, and for what changed while the bot was away (backfill). Events have Slack's shapes:
 * `message_changed` with `message.edited.ts` and `previous_message`, a deleted thread parent as a
 * `tombstone` from USLACKBOT, `message_deleted` with `deleted_ts` and `previous_message`.
 */
describe.each(dbKinds())("feedback text in every order on %s", (kind) => {
  let db: TestDatabase;
  let bot: TestBot;
  let served: Awaited<ReturnType<typeof serveEmulator>>;
  const emulator = testEmulator();
  const loaded = testConfig();

  beforeAll(async () => {
    db = await openTestDatabase(kind);
    served = await serveEmulator(emulator);
    bot = await startTestBot({ db, loaded, emulator: { emulator, url: served.url } });
    await bot.idle();
  });

  afterAll(async () => {
    await bot?.stop();
    await served?.close();
    await db?.close();
  });

  const rowOf = async (channel: string, ts: string) =>
    (
      await db.database.db
        .select()
        .from(feedback)
        .where(and(eq(feedback.channel, channel), eq(feedback.ts, ts)))
    )[0];
  const wire = (message: SlackMessage) => {
    const { deleted: _deleted, channel: _channel, ...rest } = message;
    return { ...rest, client_msg_id: `c-${message.ts}`, blocks: [{ type: "rich_text", block_id: "b", elements: [{ type: "rich_text_section", elements: [{ type: "text", text: message.text }] }] }] };
  };
  /** The `message_changed` event Slack sends for `message` as it is after an edit at `editedTs`. */
  const changed = (channel: string, message: SlackMessage, text: string, editedTs: string, previousText: string) => {
    const eventTs = emulator.workspace.nextTs();
    return {
      type: "message",
      subtype: "message_changed",
      hidden: true,
      channel,
      channel_type: "channel",
      ts: eventTs,
      event_ts: eventTs,
      message: { ...wire(message), text, edited: { user: message.user, ts: editedTs } },
      previous_message: { ...wire(message), text: previousText },
    };
  };
  const deleted = (channel: string, message: SlackMessage | undefined, ts: string) => {
    const eventTs = emulator.workspace.nextTs();
    return {
      type: "message",
      subtype: "message_deleted",
      hidden: true,
      channel,
      channel_type: "channel",
      ts: eventTs,
      event_ts: eventTs,
      deleted_ts: ts,
      ...(message ? { previous_message: wire(message) } : {}),
    };
  };
  const newEvent = (channel: string, message: SlackMessage) => ({ ...wire(message), channel, channel_type: "channel", event_ts: message.ts });
  const send = async (event: Record<string, unknown>) => {
    emulator.dispatchEvent(event);
    await bot.idle();
  };

  it("applies edits in Slack's order when the second edit is the first event seen", async () => {
    // Posted while the bot missed it; then edited twice, the events arriving newest first.
    const message = emulator.seed(USERS.stakeholder, CHANNELS.helpdesk, "Forecast is off");
    const firstEdit = emulator.workspace.nextTs();
    const secondEdit = emulator.workspace.nextTs();
    await send(changed(CHANNELS.helpdesk, message, "Forecast is off by 12% in Udon Thani", secondEdit, "Forecast is off by 12%"));
    expect(await rowOf(CHANNELS.helpdesk, message.ts)).toMatchObject({ text: "Forecast is off by 12% in Udon Thani", editedTs: secondEdit, capturedBy: "message" });
    await send(changed(CHANNELS.helpdesk, message, "Forecast is off by 12%", firstEdit, "Forecast is off"));
    await send(newEvent(CHANNELS.helpdesk, message));
    expect(await rowOf(CHANNELS.helpdesk, message.ts)).toMatchObject({ text: "Forecast is off by 12% in Udon Thani", editedTs: secondEdit });
  });

  it("keeps edited.ts from reactions and the shortcut, so an older edit arriving later changes nothing", async () => {
    const viaReaction = emulator.seed(USERS.engineer, CHANNELS.general, "Export button is greyed out");
    const viaShortcut = emulator.seed(USERS.engineer, CHANNELS.general, "Map tiles load slowly");
    const early = emulator.workspace.nextTs();
    for (const [message, text] of [
      [viaReaction, "Export button is greyed out for planners"],
      [viaShortcut, "Map tiles load slowly on the 22 kV view"],
    ] as const) {
      message.text = text;
      message.edited = { user: USERS.engineer, ts: emulator.workspace.nextTs() };
    }
    await emulator.react(USERS.admin, CHANNELS.general, viaReaction.ts, "memo");
    await emulator.shortcut(USERS.admin, CHANNELS.general, viaShortcut.ts, "record_feedback");
    await bot.idle();
    expect(await rowOf(CHANNELS.general, viaReaction.ts)).toMatchObject({ capturedBy: "reaction", text: "Export button is greyed out for planners", editedTs: viaReaction.edited!.ts });
    expect(await rowOf(CHANNELS.general, viaShortcut.ts)).toMatchObject({ capturedBy: "shortcut", text: "Map tiles load slowly on the 22 kV view", editedTs: viaShortcut.edited!.ts });
    await send(changed(CHANNELS.general, viaReaction, "Export button is greyed", early, "Export button is greyed out"));
    expect((await rowOf(CHANNELS.general, viaReaction.ts))?.text).toBe("Export button is greyed out for planners");
  });

  it("treats a thread parent's tombstone as a deletion, keeping its text for the audit", async () => {
    const parent = await emulator.message(USERS.stakeholder, CHANNELS.stakeholders, "Please add feeder-level MAPE to the portal");
    await emulator.message(USERS.engineer, CHANNELS.stakeholders, "Noted for sprint 24", { threadTs: parent.ts });
    await bot.idle();
    const eventTs = emulator.workspace.nextTs();
    await send({
      type: "message",
      subtype: "message_changed",
      hidden: true,
      channel: CHANNELS.stakeholders,
      channel_type: "channel",
      ts: eventTs,
      event_ts: eventTs,
      message: {
        type: "message",
        subtype: "tombstone",
        user: "USLACKBOT",
        text: "This message was deleted.",
        hidden: true,
        ts: parent.ts,
        thread_ts: parent.ts,
        reply_count: 1,
        reply_users: [USERS.engineer],
        latest_reply: emulator.workspace.thread(CHANNELS.stakeholders, parent.ts).at(-1)?.ts,
      },
      previous_message: wire(emulator.workspace.find(CHANNELS.stakeholders, parent.ts)!),
    });
    const row = await rowOf(CHANNELS.stakeholders, parent.ts);
    expect(row?.text).toBe("Please add feeder-level MAPE to the portal");
    expect(row?.deletedAt).toBeInstanceOf(Date);
    const events = await db.database.db.select().from(feedbackEvents).where(eq(feedbackEvents.feedbackId, row!.id));
    expect(events.map((e) => e.kind)).toEqual(["deleted"]);
  });

  it("keeps a message deleted when its deletion is processed before the message itself", async () => {
    // Slack's deletion reaches the bot first (the message's own event is redelivered later).
    const message = emulator.seed(USERS.stakeholder, CHANNELS.stakeholders, "Drop the Friday report, it is wrong");
    await send(deleted(CHANNELS.stakeholders, message, message.ts));
    await send(newEvent(CHANNELS.stakeholders, message));
    const row = await rowOf(CHANNELS.stakeholders, message.ts);
    expect(row).toMatchObject({ text: "Drop the Friday report, it is wrong", author: USERS.stakeholder, source: "Stakeholder Meetings" });
    expect(row?.deletedAt).toBeInstanceOf(Date);
    expect(emulator.callsOf("reactions.add").some((c) => c.args.timestamp === message.ts)).toBe(false);

    // Without previous_message the marker knows only the ts; the late message fills it in, still deleted.
    const bare = emulator.seed(USERS.engineer, CHANNELS.helpdesk, "Wrong channel, sorry");
    await send(deleted(CHANNELS.helpdesk, undefined, bare.ts));
    await send(newEvent(CHANNELS.helpdesk, bare));
    expect(await rowOf(CHANNELS.helpdesk, bare.ts)).toMatchObject({ text: "Wrong channel, sorry", author: USERS.engineer, capturedBy: "message" });
    expect((await rowOf(CHANNELS.helpdesk, bare.ts))?.deletedAt).toBeInstanceOf(Date);
    await emulator.command(USERS.admin, CHANNELS.general, "feedback list");
    await bot.idle();
    const listed = emulator.ephemeralsFor(USERS.admin, CHANNELS.general).at(-1)?.text ?? "";
    expect(listed).not.toContain("Wrong channel, sorry");
    expect(listed).not.toContain("Drop the Friday report");
  });

  it("backfills edits and deletions made while the bot was away", async () => {
    // Messages from ten minutes ago, recorded by the start-up backfill of a fresh bot.
    await bot.stop();
    const tenMinutesAgo = (Date.now() - 10 * 60_000) * 1000;
    const at = (offset: number) => formatTs(tenMinutesAgo + offset * 1000);
    const insert = (ts: string, user: string, text: string, threadTs?: string) =>
      emulator.workspace.insert({ type: "message", ts, channel: CHANNELS.helpdesk, user, text, team: emulator.workspace.teamId, ...(threadTs ? { thread_ts: threadTs } : {}) });
    const edited = insert(at(1), USERS.stakeholder, "Voltage chart hides feeders");
    const kept = insert(at(2), USERS.stakeholder, "Please keep the CSV export");
    const gone = insert(at(3), USERS.stakeholder, "Ignore this one");
    const reply = insert(at(4), USERS.engineer, "Which feeders?", edited.ts);
    bot = await startTestBot({ db, loaded, emulator: { emulator, url: served.url } });
    await bot.idle();
    for (const m of [edited, kept, gone, reply]) expect((await rowOf(CHANNELS.helpdesk, m.ts))?.deletedAt).toBeNull();

    // While the bot is down: an edit, a deleted message, a deleted reply; no events reach it.
    await bot.stop();
    edited.text = "Voltage chart hides the 22 kV feeders";
    edited.edited = { user: USERS.stakeholder, ts: emulator.workspace.nextTs() };
    gone.deleted = true;
    reply.deleted = true;
    bot = await startTestBot({ db, loaded, emulator: { emulator, url: served.url } });
    await bot.idle();

    expect(await rowOf(CHANNELS.helpdesk, edited.ts)).toMatchObject({ text: "Voltage chart hides the 22 kV feeders", editedTs: edited.edited.ts, deletedAt: null });
    expect((await rowOf(CHANNELS.helpdesk, kept.ts))?.deletedAt).toBeNull();
    expect((await rowOf(CHANNELS.helpdesk, gone.ts))?.deletedAt).toBeInstanceOf(Date);
    expect((await rowOf(CHANNELS.helpdesk, reply.ts))?.deletedAt).toBeInstanceOf(Date);
    const history = await db.database.db
      .select()
      .from(feedbackEvents)
      .where(eq(feedbackEvents.feedbackId, (await rowOf(CHANNELS.helpdesk, edited.ts))!.id));
    expect(history).toMatchObject([{ kind: "edited", detail: { previousText: "Voltage chart hides feeders" } }]);

    // The hourly job finds nothing more to change, and says what it did.
    await emulator.command(USERS.admin, CHANNELS.general, "jobs run feedback-backfill");
    await bot.idle();
    expect(emulator.ephemeralsFor(USERS.admin, CHANNELS.general).at(-1)?.text).toContain("feedback-backfill` succeeded");
    const [run] = (await bot.orchestrator.feedback.backfill()).filter((r) => r.channel === CHANNELS.helpdesk);
    expect(run).toMatchObject({ updated: 0, deleted: 0 });
  });
});
