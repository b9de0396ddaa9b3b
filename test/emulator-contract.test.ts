import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import type { SlackEmulator } from "../src/emulator/emulator.js";
import { serveEmulator } from "../src/emulator/server.js";
import { APP_TOKEN, BOT_TOKEN, eventually, testEmulator } from "./support/bot.js";
import { CHANNELS, FIXTURES, USERS } from "./support/config.js";

/** The emulator's shapes against samples of Slack's own (test/fixtures/slack): every field Slack has, the emulator has, with the same JSON type. */

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const fixture = <T = Record<string, Json>>(name: string): T => JSON.parse(readFileSync(join(FIXTURES, "slack", name), "utf8")) as T;

function kind(value: unknown): string {
  return value === null ? "null" : Array.isArray(value) ? "array" : typeof value;
}

/** Paths where the actual value lacks a field of the sample or has another JSON type. */
function drift(sample: Json, actual: unknown, path = "$"): string[] {
  if (kind(sample) !== kind(actual)) return [`${path}: expected ${kind(sample)}, got ${kind(actual)}`];
  if (Array.isArray(sample)) {
    const items = actual as unknown[];
    if (sample.length === 0) return [];
    if (items.length === 0) return [`${path}: expected items like the sample's, got an empty array`];
    return items.flatMap((item, i) => drift(sample[Math.min(i, sample.length - 1)] as Json, item, `${path}[${i}]`));
  }
  if (sample && typeof sample === "object") {
    const object = actual as Record<string, unknown>;
    return Object.entries(sample).flatMap(([key, value]) => (key in object ? drift(value, object[key], `${path}.${key}`) : [`${path}.${key}: missing`]));
  }
  return [];
}

describe("emulator contract with Slack's shapes", () => {
  let emulator: SlackEmulator;
  let served: Awaited<ReturnType<typeof serveEmulator>>;
  let socket: WebSocket;
  const received: Array<Record<string, unknown>> = [];

  beforeAll(async () => {
    emulator = testEmulator("socket");
    served = await serveEmulator(emulator);
    const opened = emulator.api("apps.connections.open", {}, APP_TOKEN);
    socket = new WebSocket(String(opened.url));
    socket.on("message", (data) => {
      const message = JSON.parse(String(data)) as Record<string, unknown>;
      received.push(message);
      if (typeof message.envelope_id === "string") socket.send(JSON.stringify({ envelope_id: message.envelope_id }));
    });
    await eventually(() => expect(received[0]?.type).toBe("hello"));
  });

  afterAll(async () => {
    socket?.terminate();
    await served?.close();
  });

  const api = (method: string, args: Record<string, unknown> = {}) => emulator.api(method, args, BOT_TOKEN);
  const envelopes = () => received.filter((m) => m.type === "events_api");
  const eventOf = async (match: (event: Record<string, unknown>) => boolean) =>
    eventually(() => {
      const found = envelopes()
        .map((e) => (e.payload as { event: Record<string, unknown> }).event)
        .find(match);
      if (!found) throw new Error("no such event yet");
      return found;
    });

  it("users.info and conversations.info", () => {
    expect(drift(fixture("users.info.json"), api("users.info", { user: USERS.engineer }))).toEqual([]);
    expect(drift(fixture("conversations.info.json"), api("conversations.info", { channel: CHANNELS.helpdesk }))).toEqual([]);
  });

  it("chat.postMessage and conversations.replies with a person's thread", async () => {
    expect(drift(fixture("chat.postMessage.json"), api("chat.postMessage", { channel: CHANNELS.general, text: "Release 1.4.0 is live" }))).toEqual([]);
    const parent = await emulator.message(USERS.stakeholder, CHANNELS.helpdesk, "The forecast page is slow");
    await emulator.message(USERS.engineer, CHANNELS.helpdesk, "Which region?", { threadTs: parent.ts });
    expect(drift(fixture("conversations.replies.json"), api("conversations.replies", { channel: CHANNELS.helpdesk, ts: parent.ts }))).toEqual([]);
  });

  it("views.open", async () => {
    const result = await emulator.command(USERS.engineer, CHANNELS.general, "help");
    expect(result.status).toBe(200);
    const trigger = (received.find((m) => m.type === "slash_commands")!.payload as { trigger_id: string }).trigger_id;
    const view = { type: "modal", title: { type: "plain_text", text: "Reject release" }, blocks: [] };
    expect(drift(fixture("views.open.json"), api("views.open", { trigger_id: trigger, view: JSON.stringify(view) }))).toEqual([]);
    expect(api("views.open", { trigger_id: trigger, view: JSON.stringify(view) })).toEqual({ ok: false, error: "exchanged_trigger_id" });
  });

  it("refuses a bad view with invalid_arguments and Slack's response_metadata messages", async () => {
    await emulator.command(USERS.engineer, CHANNELS.general, "help");
    const trigger = (received.filter((m) => m.type === "slash_commands").at(-1)!.payload as { trigger_id: string }).trigger_id;
    const result = api("views.open", {
      trigger_id: trigger,
      view: JSON.stringify({ type: "modal", title: { type: "plain_text", text: "A title far longer than twenty-four characters" }, blocks: [] }),
    });
    expect(result).toMatchObject({ ok: false, error: "invalid_arguments", response_metadata: { messages: [expect.stringMatching(/^\[ERROR\] .*\[json-pointer:\/view\/title\/text\]$/)] } });
  });

  it("events: envelope, a person's message, broadcast reply, file share, mention, edit, reaction", async () => {
    const events = fixture<Record<string, Json>>("events.json");
    const message = await emulator.message(USERS.stakeholder, CHANNELS.helpdesk, `Feeder <@${USERS.engineer}> looks off`);
    const event = await eventOf((e) => e.ts === message.ts && e.type === "message");
    expect(drift(events.message!, event)).toEqual([]);
    expect(event.blocks).toEqual([
      {
        type: "rich_text",
        block_id: expect.any(String),
        elements: [
          {
            type: "rich_text_section",
            elements: [
              { type: "text", text: "Feeder " },
              { type: "user", user_id: USERS.engineer },
              { type: "text", text: " looks off" },
            ],
          },
        ],
      },
    ]);
    const envelope = envelopes().find((e) => (e.payload as { event: { ts?: string } }).event.ts === message.ts)?.payload;
    expect(drift(events.envelope!, envelope)).toEqual([]);

    const parent = await emulator.message(USERS.stakeholder, CHANNELS.helpdesk, "The parent");
    const broadcast = await emulator.message(USERS.engineer, CHANNELS.helpdesk, "Also sent to the channel", { threadTs: parent.ts, broadcast: true });
    const broadcastEvent = await eventOf((e) => e.ts === broadcast.ts);
    expect(drift(events.thread_broadcast!, broadcastEvent)).toEqual([]);
    expect(broadcastEvent).not.toHaveProperty("reply_broadcast");
    expect(broadcastEvent.root).toMatchObject({ ts: parent.ts, reply_count: 1, reply_users: [USERS.engineer] });
    expect(emulator.workspace.history(CHANNELS.helpdesk).map((m) => m.ts)).toContain(broadcast.ts);

    const shared = await emulator.message(USERS.stakeholder, CHANNELS.helpdesk, "Screenshot of the chart", { files: [{ id: "F0CHART", name: "chart.png", title: "chart.png" }] });
    expect(drift(events.file_share!, await eventOf((e) => e.ts === shared.ts))).toEqual([]);

    const mention = await emulator.message(USERS.engineer, CHANNELS.general, `<@${emulator.botUserId}> what is live?`);
    expect(drift(events.app_mention!, await eventOf((e) => e.ts === mention.ts && e.type === "app_mention"))).toEqual([]);

    await emulator.edit(USERS.stakeholder, CHANNELS.helpdesk, message.ts, "Edited text");
    expect(drift(events.message_changed!, await eventOf((e) => e.subtype === "message_changed"))).toEqual([]);

    await emulator.react(USERS.admin, CHANNELS.helpdesk, message.ts, "memo");
    expect(drift(events.reaction_added!, await eventOf((e) => e.type === "reaction_added"))).toEqual([]);
  });

  it("Socket Mode: apps.connections.open, hello, the three envelope types, disconnect", async () => {
    const samples = fixture<Record<string, Json>>("socket-mode.json");
    expect(drift(samples["apps.connections.open"]!, emulator.api("apps.connections.open", {}, APP_TOKEN))).toEqual([]);
    expect(drift(samples.hello!, received[0])).toEqual([]);
    expect(drift(samples.events_api!, envelopes()[0])).toEqual([]);
    expect(
      drift(
        samples.slash_commands!,
        received.find((m) => m.type === "slash_commands"),
      ),
    ).toEqual([]);
    const posted = api("chat.postMessage", {
      channel: CHANNELS.releases,
      text: "Approve?",
      blocks: JSON.stringify([{ type: "actions", block_id: "b1", elements: [{ type: "button", text: { type: "plain_text", text: "Approve" }, action_id: "release_approve", value: "1" }] }]),
    });
    await emulator.click(USERS.approver1, { channel: CHANNELS.releases, ts: String(posted.ts) }, "release_approve");
    expect(
      drift(
        samples.interactive!,
        received.find((m) => m.type === "interactive"),
      ),
    ).toEqual([]);
    emulator.socketMode!.disconnect("refresh_requested");
    const disconnect = await eventually(() => {
      const found = received.find((m) => m.type === "disconnect");
      if (!found) throw new Error("no disconnect yet");
      return found;
    });
    expect(drift(samples.disconnect!, disconnect)).toEqual([]);
  });

  it("error codes as Slack's specs give them", () => {
    for (const { method, args, error } of fixture<Array<{ method: string; args: Record<string, unknown>; error: string }>>("errors.json")) {
      expect({ method, result: api(method, args) }).toMatchObject({ method, result: { ok: false, error } });
    }
  });

  it("Block Kit limits as Slack's Python SDK validates them", () => {
    const expand = (value: unknown, key = ""): unknown => {
      if (Array.isArray(value)) return key === "options" ? value.map((_, i) => option(i)) : value.map((v) => expand(v));
      if (typeof value === "number" && key === "options") return Array.from({ length: value }, (_, i) => option(i));
      if (typeof value === "number" && ["block_id", "url", "alt_text", "image_url"].includes(key)) return key.endsWith("url") ? `https://e.org/${"x".repeat(value - 14)}` : "x".repeat(value);
      if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, expand(v, k)]));
      return value;
    };
    const option = (i: number) => ({ text: { type: "plain_text", text: `Option ${i}` }, value: String(i) });
    const cases = fixture<{ accepted: Array<{ name: string; blocks: unknown }>; refused: Array<{ name: string; blocks: unknown; error: string }> }>("block-kit.json");
    const post = (blocks: unknown) => api("chat.postMessage", { channel: CHANNELS.general, text: "fallback", blocks: JSON.stringify(expand(blocks)) });
    for (const { name, blocks } of cases.accepted) expect({ name, ok: post(blocks).ok }).toEqual({ name, ok: true });
    for (const { name, blocks, error } of cases.refused)
      expect({ name, result: post(blocks) }).toMatchObject({ name, result: { ok: false, error, response_metadata: { messages: [expect.stringMatching(/^\[ERROR\]/)] } } });
  });
});
