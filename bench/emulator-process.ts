/**
 * "Slack" for the bench, in a process of its own: the project's Slack emulator (src/emulator) serving the
 * Web API the bot calls (reactions.add, chat.postMessage, conversations.*) and the response_url posts of
 * slash commands. The load generator (the parent) asks it for registered response URLs and, for the
 * feedback-analyze round trips, to announce each response_url post as it arrives. For (e) it also serves
 * Socket Mode for two apps (the bot, and a bare Bolt app on an emulator of its own in this process) and
 * sends their envelopes itself, timing each from sending to its ack, since over Socket Mode Slack is the sender.
 */
import { SlackEmulator } from "../src/emulator/emulator.js";
import { serveEmulator } from "../src/emulator/server.js";
import type { SlackMessage } from "../src/emulator/workspace.js";
import type { SocketModeServer } from "../src/emulator/socket-mode.js";
import { inFlight } from "./lib/load.js";
import {
  APP_TOKEN,
  BARE_APP_TOKEN,
  type BenchMessage,
  BOT_ID,
  BOT_TOKEN,
  BOT_USER_ID,
  CHANNELS,
  memorySample,
  messageEnvelope,
  notify,
  serveRpc,
  SIGNING_SECRET,
  TEAM_ID,
  USERS,
} from "./lib/shared.js";

const workspaceOptions = {
  botToken: BOT_TOKEN,
  signingSecret: SIGNING_SECRET,
  botUserId: BOT_USER_ID,
  botId: BOT_ID,
  teamId: TEAM_ID,
  retryDelaysMs: [],
  // Nothing in the bench listens for the bot's own posts coming back as events.
  echoBotMessages: false,
  users: Object.entries(USERS).map(([name, id]) => ({ id, name, realName: name, title: "" })),
  channels: Object.entries(CHANNELS).map(([name, id]) => ({ id, name })),
};
const emulator = new SlackEmulator({ ...workspaceOptions, appToken: APP_TOKEN });
const bareEmulator = new SlackEmulator({ ...workspaceOptions, appToken: BARE_APP_TOKEN, appId: "A0BARE" });

/** The emulator's trigger ids, private to it; reached through a cast so the load generator can sign and send by itself. */
const internals = emulator as unknown as { newTrigger(user: string): string };

let watchResponses = false;

// "Slack" stays up whatever happens to one delivery; the bench reads the problem in this log.
process.on("unhandledRejection", (error) => process.stderr.write(`emulator: unhandled rejection: ${String(error)}\n`));

const served = await serveEmulator(emulator, 0, "127.0.0.1", (pathname) => {
  if (watchResponses && pathname.startsWith("/response/")) notify({ notice: "response", id: pathname.slice("/response/".length), at: performance.timeOrigin + performance.now() });
});
const bareServed = await serveEmulator(bareEmulator);

function socketOf(app: "bot" | "bare"): SocketModeServer {
  const server = (app === "bot" ? emulator : bareEmulator).socketMode;
  if (!server) throw new Error("Socket Mode is not served");
  return server;
}

interface SocketBatch {
  latencies: number[];
  statuses: Record<string, number>;
  ms: number;
  redeliveries: number;
  lost: number;
}

/** Sends envelopes `concurrency` at a time, each timed from sending to its ack; an un-acked event is sent again with retry_attempt, up to 3 times, as Slack does. */
async function socketBatch(server: SocketModeServer, type: "slash_commands" | "events_api", payloads: Array<Record<string, unknown>>, concurrency: number): Promise<SocketBatch> {
  const batch: SocketBatch = { latencies: [], statuses: {}, ms: 0, redeliveries: 0, lost: 0 };
  const count = (key: string) => (batch.statuses[key] = (batch.statuses[key] ?? 0) + 1);
  const started = performance.now();
  await inFlight(payloads, concurrency, async (payload) => {
    const sent = performance.now();
    let outcome = await server.deliver(type, payload, { acceptsResponsePayload: type === "slash_commands" });
    batch.latencies.push(performance.now() - sent);
    count(outcome.acked ? "acked" : (outcome.failure ?? "failed"));
    for (let retry = 1; type === "events_api" && retry <= 3 && !outcome.acked; retry += 1) {
      batch.redeliveries += 1;
      outcome = await server.deliver(type, payload, { retryAttempt: retry, retryReason: "timeout" });
      count(`retry ${outcome.acked ? "acked" : (outcome.failure ?? "failed")}`);
    }
    if (!outcome.acked) batch.lost += 1;
  });
  batch.ms = performance.now() - started;
  return batch;
}

serveRpc({
  /** Slash-command form bodies exactly as `SlackEmulator.command()` builds them, each with its own registered response_url. */
  commandBodies: (args) => {
    const { count, text, user, channel } = args as { count: number; text: string; user: string; channel: string };
    const found = emulator.workspace.users.get(user);
    const where = emulator.workspace.channels.get(channel);
    if (!found || !where) throw new Error(`unknown user ${user} or channel ${channel}`);
    const bodies: Array<{ body: string; responseId: string }> = [];
    for (let i = 0; i < count; i += 1) {
      const responseUrl = emulator.responseUrls.create({ user, channel });
      const form = new URLSearchParams({
        token: "verification-token-unused",
        team_id: emulator.workspace.teamId,
        team_domain: emulator.workspace.teamDomain,
        channel_id: where.id,
        channel_name: where.name,
        user_id: found.id,
        user_name: found.name,
        command: "/orch",
        text,
        api_app_id: emulator.appId,
        is_enterprise_install: "false",
        response_url: responseUrl,
        trigger_id: internals.newTrigger(user),
      });
      bodies.push({ body: form.toString(), responseId: responseUrl.slice(responseUrl.lastIndexOf("/") + 1) });
    }
    return bodies;
  },
  /** Puts messages in channel history at once (one sort per channel), as if people had just posted them. */
  seedMessages: (args) => {
    const { messages } = args as { messages: BenchMessage[] };
    const touched = new Set<string>();
    const parents = new Map<string, SlackMessage>();
    const replies = new Map<string, SlackMessage[]>();
    for (const m of messages) {
      const stored: SlackMessage = { type: "message", ts: m.ts, channel: m.channel, user: m.user, text: m.text, team: TEAM_ID, ...(m.threadTs ? { thread_ts: m.threadTs } : {}) };
      emulator.workspace.channelMessages(m.channel).push(stored);
      touched.add(m.channel);
      if (m.threadTs) {
        const key = `${m.channel}/${m.threadTs}`;
        replies.set(key, [...(replies.get(key) ?? []), stored]);
      } else parents.set(`${m.channel}/${m.ts}`, stored);
    }
    for (const channel of touched) emulator.workspace.channelMessages(channel).sort((a, b) => Number(a.ts) - Number(b.ts));
    for (const [key, list] of replies) {
      const parent = parents.get(key);
      if (!parent) continue;
      parent.thread_ts = parent.ts;
      parent.reply_count = list.length;
      parent.latest_reply = list[list.length - 1]?.ts;
      parent.reply_users = [...new Set(list.map((r) => r.user ?? ""))];
    }
    return { seeded: messages.length };
  },
  /** Live Socket Mode connections of one app. */
  socketConnections: (args) => socketOf((args as { app: "bot" | "bare" }).app).liveConnections().length,
  /** (e) slash-command envelopes with the given form bodies to one app, timed to their acks. */
  socketCommands: (args) => {
    const { app, bodies, concurrency } = args as { app: "bot" | "bare"; bodies: string[]; concurrency: number };
    return socketBatch(
      socketOf(app),
      "slash_commands",
      bodies.map((body) => Object.fromEntries(new URLSearchParams(body))),
      concurrency,
    );
  },
  /** (e) events_api envelopes of these messages to the bot, timed to their acks. */
  socketEvents: (args) => {
    const { messages, concurrency, idPrefix } = args as { messages: BenchMessage[]; concurrency: number; idPrefix: string };
    const payloads = messages.map((m, i) => JSON.parse(messageEnvelope(m, `Ev${idPrefix}${(i + 1).toString(36).toUpperCase().padStart(8, "0")}`)) as Record<string, unknown>);
    return socketBatch(socketOf("bot"), "events_api", payloads, concurrency);
  },
  /** Forgets every channel message, so the next bot's start-up backfill finds nothing to record. */
  clearMessages: () => {
    for (const list of emulator.workspace.messages.values()) list.length = 0;
    return true;
  },
  watchResponses: (args) => {
    watchResponses = (args as { on: boolean }).on;
    return watchResponses;
  },
  /** What the bot has done to "Slack" so far: Web API calls by method and outcome, response_url posts. */
  stats: () => {
    const calls: Record<string, { ok: number; failed: number; errors: Record<string, number> }> = {};
    for (const call of emulator.calls) {
      calls[call.method] ??= { ok: 0, failed: 0, errors: {} };
      const entry = calls[call.method] as { ok: number; failed: number; errors: Record<string, number> };
      if (call.ok) entry.ok += 1;
      else {
        entry.failed += 1;
        const error = call.error ?? "unknown";
        entry.errors[error] = (entry.errors[error] ?? 0) + 1;
      }
    }
    const responses = { ok: emulator.responses.filter((r) => r.ok).length, failed: emulator.responses.filter((r) => !r.ok).length };
    return { calls, responses, memory: memorySample() };
  },
  stop: async () => {
    await served.close();
    await bareServed.close();
    setImmediate(() => process.exit(0));
    return true;
  },
});

notify({ notice: "ready", url: served.url, bareUrl: bareServed.url });
