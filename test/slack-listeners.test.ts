import { App, type BlockAction, type Receiver, type ReceiverEvent } from "@slack/bolt";
import { describe, expect, it } from "vitest";
import { SlackListeners } from "../src/slack/listeners.js";

/** Bolt with nothing in front: each request is handed to processEvent as a receiver would. */
function boltApp() {
  const receiver: Receiver = { init: () => {}, start: async () => undefined, stop: async () => undefined };
  const app = new App({ token: "xoxb-test", botId: "B0", botUserId: "U0BOT", receiver, logLevel: "error" as never });
  const deliver = async (body: Record<string, unknown>) => {
    const acks: unknown[] = [];
    const event: ReceiverEvent = { body, ack: async (response?: unknown) => void acks.push(response ?? null) };
    await app.processEvent(event);
    return acks;
  };
  return { app, deliver };
}

const click = (actionId: string) => ({
  type: "block_actions",
  team: { id: "T1", domain: "t" },
  user: { id: "U1", username: "u", team_id: "T1" },
  api_app_id: "A1",
  token: "x",
  trigger_id: "1.2.3",
  channel: { id: "C1", name: "c" },
  container: { type: "message", message_ts: "1.1", channel_id: "C1", is_ephemeral: false },
  message: { type: "message", ts: "1.1", text: "t" },
  response_url: "http://127.0.0.1:9/r",
  actions: [{ type: "button", action_id: actionId, block_id: "b", value: "7", action_ts: "2.2", text: { type: "plain_text", text: "Go" } }],
});

describe("one Bolt middleware hands each request to the handler of its name", () => {
  it("hands a click to the handler of its action id only", async () => {
    const { app, deliver } = boltApp();
    const listeners = new SlackListeners(app);
    const seen: string[] = [];
    listeners.action<BlockAction>("approve", async ({ ack, body }) => {
      seen.push(`approve by ${body.user.id}`);
      await ack();
    });
    listeners.action("reject", async ({ ack }) => {
      seen.push("reject");
      await ack();
    });
    expect(await deliver(click("approve"))).toEqual([null]);
    expect(seen).toEqual(["approve by U1"]);
  });

  it("acknowledges at once a click, dialog or shortcut that no feature handles, and runs nothing", async () => {
    const { app, deliver } = boltApp();
    const listeners = new SlackListeners(app);
    const seen: string[] = [];
    listeners.action("approve", async ({ ack }) => {
      seen.push("approve");
      await ack();
    });
    expect(await deliver(click("open_link"))).toEqual([null]);
    const submission = {
      type: "view_submission",
      team: { id: "T1", domain: "t" },
      user: { id: "U1", name: "u", team_id: "T1" },
      api_app_id: "A1",
      token: "x",
      trigger_id: "1.2.3",
      view: { id: "V1", type: "modal", callback_id: "retired_dialog", private_metadata: "", state: { values: {} }, hash: "h", team_id: "T1", app_id: "A1", bot_id: "B0", blocks: [] },
    };
    expect(await deliver(submission)).toEqual([null]);
    expect(seen).toEqual([]);
  });

  it("hands an event to the handler of its type", async () => {
    const { app, deliver } = boltApp();
    const listeners = new SlackListeners(app);
    const seen: string[] = [];
    listeners.event("reaction_added", async ({ event }) => void seen.push(`reaction ${event.reaction}`));
    listeners.event("app_mention", async () => void seen.push("mention"));
    await deliver({
      type: "event_callback",
      team_id: "T1",
      api_app_id: "A1",
      event_id: "Ev1",
      event_time: 1,
      event: { type: "reaction_added", user: "U1", reaction: "memo", item: { type: "message", channel: "C1", ts: "1.1" }, event_ts: "1.2" },
    });
    expect(seen).toEqual(["reaction memo"]);
  });

  it("hands a slash command to the handler of its name, and lets another command go on to Bolt", async () => {
    const { app, deliver } = boltApp();
    const listeners = new SlackListeners(app);
    const seen: string[] = [];
    listeners.command("/orch", async ({ ack, command }) => {
      seen.push(`orch ${command.text}`);
      await ack({ text: "ok" });
    });
    app.command("/other", async ({ ack }) => {
      seen.push("other, by Bolt");
      await ack();
    });
    const slash = (command: string) => ({
      token: "x",
      team_id: "T1",
      team_domain: "t",
      channel_id: "C1",
      channel_name: "c",
      user_id: "U1",
      user_name: "u",
      command,
      text: "status",
      api_app_id: "A1",
      response_url: "http://127.0.0.1:9/r",
      trigger_id: "1.2.3",
    });
    expect(await deliver(slash("/orch"))).toEqual([{ text: "ok" }]);
    expect(await deliver(slash("/other"))).toEqual([null]);
    expect(seen).toEqual(["orch status", "other, by Bolt"]);
  });

  it("refuses a second handler for the same id", () => {
    const listeners = new SlackListeners(boltApp().app);
    listeners.view("reject_dialog", async ({ ack }) => ack());
    expect(() => listeners.view("reject_dialog", async ({ ack }) => ack())).toThrow("the view listener reject_dialog is registered twice");
  });
});
