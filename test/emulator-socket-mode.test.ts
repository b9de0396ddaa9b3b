import { afterEach, beforeEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import type { SlackEmulator } from "../src/emulator/emulator.js";
import { serveEmulator } from "../src/emulator/server.js";
import { APP_TOKEN, BOT_TOKEN, eventually, testEmulator } from "./support/bot.js";
import { CHANNELS, USERS } from "./support/config.js";

/** The emulator's Socket Mode, driven by a bare WebSocket client that speaks the protocol by hand. */
describe("emulator Socket Mode server", () => {
  let emulator: SlackEmulator;
  let served: Awaited<ReturnType<typeof serveEmulator>>;
  const clients: WebSocket[] = [];

  beforeEach(async () => {
    emulator = testEmulator("socket");
    served = await serveEmulator(emulator);
  });

  afterEach(async () => {
    for (const client of clients.splice(0)) {
      client.on("error", () => undefined);
      client.terminate();
    }
    await served.close();
  });

  const call = async (method: string, token: string, body: Record<string, string> = {}) => {
    const response = await fetch(`${served.url}/api/${method}`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(body),
    });
    return (await response.json()) as Record<string, unknown>;
  };

  interface Client {
    socket: WebSocket;
    messages: Array<Record<string, unknown>>;
    closed: Promise<number>;
  }

  /** Opens a connection as the SDK does: apps.connections.open with the app token, then the WebSocket URL. */
  const connect = async (): Promise<Client> => {
    const opened = await call("apps.connections.open", APP_TOKEN);
    expect(opened.ok).toBe(true);
    const socket = new WebSocket(String(opened.url));
    clients.push(socket);
    const messages: Array<Record<string, unknown>> = [];
    socket.on("message", (data) => messages.push(JSON.parse(String(data)) as Record<string, unknown>));
    const closed = new Promise<number>((resolve) => socket.on("close", (code) => resolve(code)));
    await eventually(() => expect(messages.length).toBeGreaterThan(0), 5000, 5);
    return { socket, messages, closed };
  };
  const envelopes = (client: Client) => client.messages.filter((m) => typeof m.envelope_id === "string");
  const ack = (client: Client, envelope: Record<string, unknown>, payload?: Record<string, unknown>) =>
    client.socket.send(JSON.stringify({ envelope_id: envelope.envelope_id, ...(payload ? { payload } : {}) }));

  it("opens connections only for the app-level token, with one-use ws:// URLs", async () => {
    expect(await call("apps.connections.open", BOT_TOKEN)).toEqual({ ok: false, error: "not_allowed_token_type" });
    expect(await call("apps.connections.open", "xapp-1-someone-else")).toEqual({ ok: false, error: "invalid_auth" });
    expect(await call("chat.postMessage", APP_TOKEN, { channel: CHANNELS.general, text: "hi" })).toEqual({ ok: false, error: "not_allowed_token_type" });
    const opened = await call("apps.connections.open", APP_TOKEN);
    expect(String(opened.url)).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/link\/\?ticket=[0-9a-f-]+&app_id=A0ORCH$/);
    const first = new WebSocket(String(opened.url));
    clients.push(first);
    await new Promise((resolve) => first.once("message", resolve));
    const reused = new WebSocket(String(opened.url));
    reused.on("error", () => undefined);
    clients.push(reused);
    const refused = await new Promise<string>((resolve) => reused.once("unexpected-response", (_req, res) => resolve(String(res.statusCode))).once("open", () => resolve("open")));
    expect(refused).toBe("401");
  });

  it("says hello with the number of connections and debug info", async () => {
    const a = await connect();
    const b = await connect();
    expect(a.messages[0]).toMatchObject({
      type: "hello",
      num_connections: 1,
      debug_info: { host: expect.any(String), approximate_connection_time: expect.any(Number) },
      connection_info: { app_id: "A0ORCH" },
    });
    expect(b.messages[0]).toMatchObject({ type: "hello", num_connections: 2 });
  });

  it("sends events, commands and clicks in envelopes; a command's response goes back in the ack", async () => {
    const client = await connect();
    const posted = emulator.message(USERS.stakeholder, CHANNELS.helpdesk, "The feeder chart is empty");
    await posted;
    const [event] = await eventually(() => {
      const found = envelopes(client);
      expect(found).toHaveLength(1);
      return found;
    });
    expect(event).toMatchObject({
      type: "events_api",
      accepts_response_payload: false,
      retry_attempt: 0,
      retry_reason: "",
      payload: { type: "event_callback", event_id: expect.stringMatching(/^Ev/), event: { type: "message", text: "The feeder chart is empty", channel: CHANNELS.helpdesk } },
    });
    ack(client, event!);

    const command = emulator.command(USERS.engineer, CHANNELS.general, "help");
    const commandEnvelope = await eventually(() => {
      const found = envelopes(client).find((e) => e.type === "slash_commands");
      if (!found) throw new Error("no command yet");
      return found;
    });
    expect(commandEnvelope).toMatchObject({
      accepts_response_payload: true,
      payload: { command: "/orch", text: "help", user_id: USERS.engineer, response_url: expect.stringContaining("/response/"), trigger_id: expect.any(String) },
    });
    expect(commandEnvelope).not.toHaveProperty("retry_attempt");
    ack(client, commandEnvelope, { response_type: "ephemeral", text: "Here is the help" });
    expect(await command).toEqual({ status: 200, body: { response_type: "ephemeral", text: "Here is the help" } });
    expect(emulator.ephemeralsFor(USERS.engineer, CHANNELS.general).at(-1)?.text).toBe("Here is the help");
    const frames = emulator.socketMode!.frames;
    expect(frames.filter((f) => f.direction === "received").map((f) => f.message.envelope_id)).toEqual([event!.envelope_id, commandEnvelope.envelope_id]);
    expect(emulator.deliveries.map((d) => [d.kind, d.status, d.transport])).toEqual([
      ["event", 200, "socket"],
      ["command", 200, "socket"],
    ]);
  });

  it("tells the person a command failed when it is not acked within 3 s", async () => {
    const client = await connect();
    const result = await emulator.command(USERS.engineer, CHANNELS.general, "help");
    expect(envelopes(client)).toHaveLength(1);
    expect(result).toMatchObject({ status: 408, failure: 'failed with the error "operation_timeout"' });
    expect(emulator.ephemeralsFor(USERS.engineer, CHANNELS.general).at(-1)?.text).toBe('/orch failed with the error "operation_timeout"');
  });

  it("redelivers an event not acked within 3 s, up to 3 retries with retry_attempt and retry_reason", async () => {
    const client = await connect();
    emulator.dispatchEvent({ type: "app_mention", user: USERS.engineer, text: "<@U0ORCHBOT> hi", ts: "1.000001", channel: CHANNELS.general, event_ts: "1.000001" });
    await emulator.idle();
    const sent = envelopes(client);
    expect(sent.map((e) => [e.retry_attempt, e.retry_reason])).toEqual([
      [0, ""],
      [1, "timeout"],
      [2, "timeout"],
      [3, "timeout"],
    ]);
    expect(new Set(sent.map((e) => (e.payload as { event_id: string }).event_id)).size).toBe(1);
    expect(new Set(sent.map((e) => e.envelope_id)).size).toBe(4);
    const times = emulator.socketMode!.frames.filter((f) => f.direction === "sent" && f.message.type === "events_api").map((f) => f.at);
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(3000);
    expect(emulator.deliveries.map((d) => d.status)).toEqual([408, 408, 408, 408]);
  }, 30_000);

  it("delivers each envelope to exactly one of several connections, in turn", async () => {
    const connections = [await connect(), await connect(), await connect()];
    for (const c of connections)
      c.socket.on("message", (data) => {
        const message = JSON.parse(String(data)) as Record<string, unknown>;
        if (message.envelope_id) ack(c, message);
      });
    for (let i = 0; i < 9; i += 1)
      emulator.dispatchEvent({ type: "app_mention", user: USERS.engineer, text: `<@U0ORCHBOT> ${i}`, ts: `2.00000${i}`, channel: CHANNELS.general, event_ts: `2.00000${i}` });
    await emulator.idle();
    const counts = connections.map((c) => envelopes(c).length);
    expect(counts).toEqual([3, 3, 3]);
    const ids = connections.flatMap((c) => envelopes(c).map((e) => (e.payload as { event_id: string }).event_id));
    expect(new Set(ids).size).toBe(9);
  });

  it("allows 10 connections and turns the eleventh away with too_many_websockets", async () => {
    for (let i = 0; i < 10; i += 1) await connect();
    const eleventh = await connect();
    expect(eleventh.messages[0]).toMatchObject({ type: "disconnect", reason: "too_many_websockets" });
    expect(await eleventh.closed).toBe(1008);
    expect(emulator.socketMode!.liveConnections()).toHaveLength(10);
    expect(emulator.socketMode!.connections.filter((c) => c.refused === "too_many_websockets")).toHaveLength(1);
  });

  it("sends disconnect warnings and refresh requests; a refreshing connection gets no new envelopes", async () => {
    const old = await connect();
    emulator.socketMode!.disconnect("warning");
    const warning = await eventually(() => {
      const found = old.messages.find((m) => m.type === "disconnect");
      if (!found) throw new Error("no disconnect yet");
      return found;
    });
    expect(warning).toMatchObject({ type: "disconnect", reason: "warning", debug_info: { host: expect.any(String) } });
    emulator.socketMode!.disconnect("refresh_requested");
    await eventually(() => expect(old.messages.filter((m) => m.type === "disconnect").map((m) => m.reason)).toEqual(["warning", "refresh_requested"]));
    const fresh = await connect();
    fresh.socket.on("message", (data) => {
      const message = JSON.parse(String(data)) as Record<string, unknown>;
      if (message.envelope_id) ack(fresh, message);
    });
    emulator.dispatchEvent({ type: "app_mention", user: USERS.engineer, text: "<@U0ORCHBOT> after the refresh", ts: "3.000001", channel: CHANNELS.general, event_ts: "3.000001" });
    await emulator.idle();
    expect(envelopes(old)).toHaveLength(0);
    expect(envelopes(fresh)).toHaveLength(1);
  });

  it("redelivers an envelope whose connection closed before the ack to another connection", async () => {
    const first = await connect();
    const second = await connect();
    second.socket.on("message", (data) => {
      const message = JSON.parse(String(data)) as Record<string, unknown>;
      if (message.envelope_id) ack(second, message);
    });
    first.socket.on("message", (data) => {
      if ((JSON.parse(String(data)) as Record<string, unknown>).envelope_id) first.socket.terminate();
    });
    emulator.dispatchEvent({ type: "app_mention", user: USERS.engineer, text: "<@U0ORCHBOT> x", ts: "4.000001", channel: CHANNELS.general, event_ts: "4.000001" });
    await emulator.idle();
    expect(envelopes(first)).toHaveLength(1);
    expect(envelopes(second).map((e) => e.retry_attempt)).toEqual([1]);
    expect(emulator.deliveries.map((d) => d.status)).toEqual([0, 200]);
  });
});
