import { randomBytes, timingSafeEqual } from "node:crypto";
import { readdirSync } from "node:fs";
import { readFile } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { extname, join } from "node:path";
import { z } from "zod";
import type { Config } from "../config/schema.js";
import type { InteractionResult } from "../emulator/delivery.js";
import type { SlackEmulator } from "../emulator/emulator.js";
import type { EphemeralMessage, SlackMessage } from "../emulator/workspace.js";
import { ChangeStream, type Notice, Notices } from "./console-streams.js";
import { readBody } from "../http/body.js";
import { CONSOLE_FOLDER } from "../paths.js";
import { SANDBOX_GENERAL_CHANNEL } from "./seed.js";

/**
 * The sandbox console's server side: the static page, a JSON view of the emulated workspace as one
 * person sees it, a server-sent event stream of changes, and the actions a Slack client performs.
 * Every action goes through the emulator, which sends the bot signed requests exactly as Slack does.
 */

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
};

// The page only loads its own files; rendered message text can never bring in a script.
const CONTENT_SECURITY_POLICY =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: http: https:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** The message shortcuts the Slack app declares (slack-manifest.yaml), offered in each message's menu. */
const MESSAGE_SHORTCUTS = [{ callbackId: "record_feedback", name: "Record as feedback" }] as const;

/** Top-level messages the console shows per channel; older ones are counted, not sent. */
const MAX_MESSAGES = 300;

type Role = "approver" | "admin";

interface ConsolePerson {
  id: string;
  name: string;
  realName: string;
  title: string;
  roles: Role[];
  isBot: boolean;
}

interface ConsoleMessage {
  ts: string;
  user?: string;
  botId?: string;
  text: string;
  blocks?: unknown[];
  threadTs?: string;
  broadcast: boolean;
  edited: boolean;
  reactions: Array<{ name: string; count: number; users: string[] }>;
  files?: Array<{ id: string; name: string; title: string }>;
  /** A thread parent's replies, oldest first. */
  replies?: ConsoleMessage[];
}

export interface ConsoleState {
  botUserId: string;
  command: string;
  /** The config's timezone: message times are shown in it, beside the bot's own times. */
  timezone: string;
  as: string;
  channel: string;
  people: ConsolePerson[];
  channels: Array<{ id: string; name: string; purpose: string; latestTs?: string }>;
  shortcuts: typeof MESSAGE_SHORTCUTS;
  messages: ConsoleMessage[];
  /** Top-level messages left out because the channel has more than the console shows. */
  olderMessages: number;
  ephemerals: Array<Pick<EphemeralMessage, "id" | "ts" | "text" | "blocks"> & { threadTs?: string }>;
  views: Array<{ id: string; view: Record<string, unknown> }>;
  notices: Notice[];
}

const userId = z.string().regex(/^[UW][A-Z0-9]+$/, { error: "expected a user id like U0ENGINEER" });
const channelId = z.string().regex(/^[CGD][A-Z0-9]+$/, { error: "expected a channel id like C0GENERAL" });
const messageTs = z.string().regex(/^\d+\.\d+$/, { error: "expected a message ts like 1700000000.000100" });
const messageText = z.string().trim().min(1, { error: "expected some text" }).max(40_000, { error: "at most 40,000 characters" });

const actSchema = z.discriminatedUnion(
  "action",
  [
    z.strictObject({
      action: z.literal("command"),
      as: userId,
      channel: channelId,
      command: z.string().regex(/^\/[a-z0-9_-]+$/, { error: "expected a slash command like /orch" }),
      text: z.string().max(4000),
      threadTs: messageTs.optional(),
    }),
    z.strictObject({ action: z.literal("message"), as: userId, channel: channelId, text: messageText, threadTs: messageTs.optional(), broadcast: z.boolean().optional() }),
    z.strictObject({ action: z.literal("edit"), as: userId, channel: channelId, ts: messageTs, text: messageText }),
    z.strictObject({ action: z.literal("delete"), as: userId, channel: channelId, ts: messageTs }),
    z.strictObject({
      action: z.literal("react"),
      as: userId,
      channel: channelId,
      ts: messageTs,
      name: z.string().regex(/^[a-z0-9_+-]{1,100}$/, { error: "expected an emoji name like memo" }),
    }),
    z.strictObject({
      action: z.literal("click"),
      as: userId,
      target: z.union([z.strictObject({ channel: channelId, ts: messageTs }), z.strictObject({ ephemeralId: z.string().min(1) })]),
      actionId: z.string().min(1).max(255),
    }),
    z.strictObject({
      action: z.literal("submit-view"),
      as: userId,
      viewId: z.string().min(1),
      values: z.record(z.string(), z.record(z.string(), z.string().max(3000))),
    }),
    z.strictObject({ action: z.literal("close-view"), as: userId, viewId: z.string().min(1) }),
    z.strictObject({ action: z.literal("shortcut"), as: userId, channel: channelId, ts: messageTs, callbackId: z.string().min(1) }),
  ],
  { error: "expected action to be one of command, message, edit, delete, react, click, submit-view, close-view, shortcut" },
);

type ConsoleAction = z.infer<typeof actSchema>;

/** The header the console page sends its token in, on every action. */
const CONSOLE_TOKEN_HEADER = "x-orchestrator-console-token";

/** The console's routes; false for any path it does not serve. */
export function consoleRoutes(emulator: SlackEmulator, config: Config): (req: IncomingMessage, res: ServerResponse, pathname: string) => Promise<boolean> {
  const workspace = emulator.workspace;
  // New at every start and only ever written into the page: a script elsewhere cannot read it, so it
  // cannot act as anyone even if it reaches the console (a script on this machine reads the page first).
  const token = randomBytes(24).toString("base64url");
  const notices = new Notices();
  const stream = new ChangeStream();
  const staticFiles = new Set(readdirSync(CONSOLE_FOLDER).filter((name) => CONTENT_TYPES[extname(name)] !== undefined));

  workspace.on("change", (change) => {
    if (change.kind === "notice") notices.add(change.user, change.text);
    stream.send({ kind: change.kind, ...("channel" in change ? { channel: change.channel } : {}), ...("user" in change ? { user: change.user } : {}) });
  });

  const requirePerson = (id: string): void => {
    const user = workspace.users.get(id);
    if (!user || user.isBot) throw new Error(`no person ${id} in the sandbox workspace`);
  };
  const requireChannel = (id: string): void => {
    if (!workspace.channels.has(id)) throw new Error(`no channel ${id} in the sandbox workspace`);
  };

  const act = async (input: ConsoleAction): Promise<Record<string, unknown>> => {
    requirePerson(input.as);
    switch (input.action) {
      case "command": {
        requireChannel(input.channel);
        if (input.command !== config.command) throw new Error(`${input.command} is not a valid command. This workspace has ${config.command}.`);
        return outcome(await emulator.command(input.as, input.channel, input.text, { command: input.command, ...(input.threadTs ? { threadTs: input.threadTs } : {}) }));
      }
      case "message": {
        requireChannel(input.channel);
        if (input.threadTs && !workspace.find(input.channel, input.threadTs)) throw new Error(`no message ${input.threadTs} in ${input.channel} to reply to`);
        const message = await emulator.message(input.as, input.channel, input.text, { ...(input.threadTs ? { threadTs: input.threadTs, broadcast: input.broadcast === true } : {}) });
        return { ok: true, ts: message.ts };
      }
      case "edit":
        await emulator.edit(input.as, input.channel, input.ts, input.text);
        return { ok: true };
      case "delete":
        await emulator.remove(input.as, input.channel, input.ts);
        return { ok: true };
      case "react":
        await emulator.react(input.as, input.channel, input.ts, input.name);
        return { ok: true };
      case "click":
        // A failed click is shown to the person by the emulator's own notice.
        return outcome(await emulator.click(input.as, input.target, input.actionId));
      case "submit-view":
        return outcome(await emulator.submitView(input.as, input.viewId, input.values));
      case "close-view":
        emulator.closeView(input.as, input.viewId);
        return { ok: true };
      case "shortcut": {
        const shortcut = MESSAGE_SHORTCUTS.find((s) => s.callbackId === input.callbackId);
        if (!shortcut) throw new Error(`no message shortcut ${input.callbackId}; this app has ${MESSAGE_SHORTCUTS.map((s) => s.callbackId).join(", ")}`);
        const result = await emulator.shortcut(input.as, input.channel, input.ts, input.callbackId);
        if (result.failure) {
          notices.add(input.as, `“${shortcut.name}” ${result.failure}`);
          stream.send({ kind: "notice", user: input.as });
        }
        return outcome(result);
      }
    }
  };

  const state = (url: URL): ConsoleState => {
    const people = [...workspace.users.values()].map((user) => ({
      id: user.id,
      name: user.name,
      realName: user.realName,
      title: user.title,
      roles: rolesOf(user.id, config),
      isBot: user.isBot === true,
    }));
    // Viewing falls back to a sensible person and channel (a page remembering one the config no longer has).
    const asked = workspace.users.get(url.searchParams.get("as") ?? "");
    const as = asked && !asked.isBot ? asked.id : (people.find((p) => !p.isBot)?.id ?? "");
    const askedChannel = url.searchParams.get("channel") ?? "";
    const channelIds = [...workspace.channels.keys()];
    const current = workspace.channels.has(askedChannel) ? askedChannel : workspace.channels.has(SANDBOX_GENERAL_CHANNEL) ? SANDBOX_GENERAL_CHANNEL : (channelIds[0] ?? "");
    const history = current ? workspace.history(current) : [];
    const shown = history.slice(-MAX_MESSAGES);
    return {
      botUserId: emulator.botUserId,
      command: config.command,
      timezone: config.timezone,
      as,
      channel: current,
      people,
      channels: [...workspace.channels.values()].map((c) => ({ id: c.id, name: c.name, purpose: purposeOf(c.id, config), latestTs: workspace.history(c.id).at(-1)?.ts })),
      shortcuts: MESSAGE_SHORTCUTS,
      messages: shown.map((message) => {
        const isParent = message.thread_ts === message.ts && (message.reply_count ?? 0) > 0;
        return { ...consoleMessage(message), ...(isParent ? { replies: workspace.thread(current, message.ts).slice(1).map(consoleMessage) } : {}) };
      }),
      olderMessages: history.length - shown.length,
      ephemerals:
        as && current
          ? emulator.ephemeralsFor(as, current).map((e) => ({ id: e.id, ts: e.ts, text: e.text, ...(e.blocks ? { blocks: e.blocks } : {}), ...(e.thread_ts ? { threadTs: e.thread_ts } : {}) }))
          : [],
      views: [...workspace.views.values()].filter((v) => v.user === as && !v.closed).map((v) => ({ id: v.id, view: v.view })),
      notices: notices.of(as),
    };
  };

  return async (req, res, pathname) => {
    if (req.method === "GET" && (pathname === "/" || pathname === "/index.html")) {
      await serveFile(res, "index.html", token);
      return true;
    }
    if (req.method === "GET" && pathname.startsWith("/console/") && staticFiles.has(pathname.slice("/console/".length))) {
      await serveFile(res, pathname.slice("/console/".length));
      return true;
    }
    if (req.method === "GET" && pathname === "/console/state") {
      sendJson(res, 200, state(new URL(req.url ?? "/", "http://localhost")));
      return true;
    }
    if (req.method === "GET" && pathname === "/console/events") {
      stream.open(req, res);
      return true;
    }
    if (pathname === "/console/act") {
      if (req.method !== "POST") {
        res.writeHead(405, { allow: "POST" });
        res.end();
        return true;
      }
      // Exactly JSON, with the page's token in the console's own header: another site's page can send
      // neither without a CORS preflight, which is never granted, and has no way to learn the token.
      const mediaType = (req.headers["content-type"] ?? "").split(";")[0]?.trim().toLowerCase();
      if (mediaType !== "application/json") {
        sendJson(res, 415, { ok: false, error: "send the action as application/json" });
        return true;
      }
      if (!sameToken(req.headers[CONSOLE_TOKEN_HEADER], token)) {
        sendJson(res, 403, { ok: false, error: "actions come from the console page only (its X-Orchestrator-Console-Token is missing or wrong)" });
        return true;
      }
      let input: unknown;
      try {
        input = JSON.parse(await readBody(req, 256 * 1024));
      } catch {
        sendJson(res, 400, { ok: false, error: "expected a JSON body" });
        return true;
      }
      const parsed = actSchema.safeParse(input);
      if (!parsed.success) {
        sendJson(res, 400, { ok: false, error: parsed.error.issues.map((issue) => (issue.path.length > 0 ? `${issue.path.join(".")}: ${issue.message}` : issue.message)).join("; ") });
        return true;
      }
      try {
        sendJson(res, 200, await act(parsed.data));
      } catch (error) {
        // The emulator refuses what Slack would not let a person do (edit someone else's message, click a gone button).
        sendJson(res, 400, { ok: false, error: error instanceof Error ? error.message : String(error) });
      }
      return true;
    }
    return false;
  };
}

function outcome(result: InteractionResult): Record<string, unknown> {
  return { ok: true, status: result.status, body: result.body ?? null, ...(result.failure ? { failure: result.failure } : {}) };
}

function consoleMessage(message: SlackMessage): ConsoleMessage {
  return {
    ts: message.ts,
    ...(message.user ? { user: message.user } : {}),
    ...(message.bot_id ? { botId: message.bot_id } : {}),
    text: message.text,
    // A person's message is shown from its text; its rich-text blocks are what Slack's client derived from it.
    ...(message.blocks && !message.client_msg_id ? { blocks: message.blocks } : {}),
    ...(message.thread_ts ? { threadTs: message.thread_ts } : {}),
    broadcast: message.subtype === "thread_broadcast",
    edited: message.edited !== undefined,
    reactions: (message.reactions ?? []).map((r) => ({ name: r.name, count: r.count, users: [...r.users] })),
    ...(message.files ? { files: message.files } : {}),
  };
}

function rolesOf(user: string, config: Config): Role[] {
  const roles: Role[] = [];
  if (config.people.approvers.includes(user)) roles.push("approver");
  if (config.people.admins.includes(user)) roles.push("admin");
  return roles;
}

/** What the bot uses a channel for, from the config, shown under the channel's name. */
function purposeOf(channel: string, config: Config): string {
  const purposes: string[] = [];
  if (channel === SANDBOX_GENERAL_CHANNEL) purposes.push(`Try ${config.command} help here, or mention @Orchestrator`);
  if (channel === config.channels.releases) purposes.push("Release approvals and announcements");
  if (channel === config.channels.digests) purposes.push("Weekly and monthly digests, job reports");
  if (channel === config.channels.alerts) purposes.push("Failed jobs, health checks and deploys");
  for (const feedback of config.feedback.channels) {
    if (feedback.channel === channel) purposes.push(`Feedback from ${feedback.source}: every message is recorded (${feedback.kind}, ${feedback.priority})`);
  }
  return purposes.join(" · ");
}

function sameToken(given: string | string[] | undefined, token: string): boolean {
  if (typeof given !== "string") return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The sandbox is for a person on this machine: `Host` must name loopback with the port it was reached on (no DNS rebinding). */
export function isLoopbackRequest(req: IncomingMessage): boolean {
  const port = req.socket.localPort;
  const hosts = new Set(["127.0.0.1", "localhost", "[::1]"].flatMap((name) => (port === 80 ? [name, `${name}:80`] : [`${name}:${port}`])));
  if (!hosts.has((req.headers.host ?? "").toLowerCase())) return false;
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  try {
    const url = new URL(origin);
    return url.protocol === "http:" && hosts.has(url.host.toLowerCase());
  } catch {
    return false;
  }
}

async function serveFile(res: ServerResponse, name: string, token?: string): Promise<void> {
  const file = await readFile(join(CONSOLE_FOLDER, name));
  const body = token === undefined ? file : file.toString("utf8").replace("{{console-token}}", token);
  res.writeHead(200, {
    "content-type": CONTENT_TYPES[extname(name)] ?? "application/octet-stream",
    "cache-control": "no-cache",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    ...(name.endsWith(".html") ? { "content-security-policy": CONTENT_SECURITY_POLICY } : {}),
  });
  res.end(body);
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" });
  res.end(JSON.stringify(body));
}
