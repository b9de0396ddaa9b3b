import { createHmac, randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { readBody } from "../http/body.js";
import { checkBlocks, LIMITS } from "./limits.js";
import { channelObject, fileObject, richTextBlocks, rootOf, userObject, viewObject } from "./shapes.js";
import { type EnvelopeType, SocketModeServer } from "./socket-mode.js";
import { compareTs, type EmulatedChannel, type EmulatedUser, type EphemeralMessage, type SlackMessage, Workspace, type WorkspaceSnapshot } from "./workspace.js";

/**
 * A stand-in for Slack: the Web API the bot calls (with Slack's response shapes and error codes) and the
 * other direction, sending the bot signed slash commands, clicks, modal submissions and Events API
 * envelopes exactly as Slack does, redelivering events the bot fails to acknowledge.
 */

export interface EmulatorOptions {
  botToken: string;
  signingSecret: string;
  /** The app-level token (`xapp-…`): with it the emulator serves Socket Mode and delivers everything over it instead of signed HTTP. */
  appToken?: string;
  botUserId?: string;
  botId?: string;
  appId?: string;
  botName?: string;
  teamId?: string;
  /** The bot's Request URL; set later with `setRequestUrl` when the bot's port is not known yet. */
  requestUrl?: string;
  /** Base URL where this emulator is reachable (for response_url); set later with `setBaseUrl`. */
  baseUrl?: string;
  /** Delays before each redelivery of an event the bot did not acknowledge. Slack: immediately, ~1 min, ~5 min. */
  retryDelaysMs?: number[];
  /** How long Slack waits for an acknowledgement. */
  ackTimeoutMs?: number;
  /** Send the bot the message events of its own posts, as Slack does. */
  echoBotMessages?: boolean;
  users?: EmulatedUser[];
  channels?: EmulatedChannel[];
}

export interface ApiCall {
  method: string;
  args: Record<string, unknown>;
  ok: boolean;
  error?: string;
  at: number;
}

export interface ResponseUrlPost {
  id: string;
  body: Record<string, unknown>;
  ok: boolean;
  error?: string;
  at: number;
}

export interface Delivery {
  kind: "event" | "command" | "action" | "view" | "shortcut";
  eventId?: string;
  attempt: number;
  /** HTTP status of the bot's answer; over Socket Mode 200 for an ack, 408 for none in time, 0 for a closed or missing connection. */
  status: number;
  body: string;
  /** The signed headers it was sent with: sending them again with the body is an exact replay. */
  headers: Record<string, string>;
  at: number;
  transport: "http" | "socket";
  /** The Socket Mode envelope it went in. */
  envelopeId?: string;
}

/** What the person who typed or clicked sees straight away: the HTTP reply the bot gave Slack. */
export interface InteractionResult {
  status: number;
  body: unknown;
  /** Slack's own complaint when the bot did not answer in time or answered with an error. */
  failure?: string;
}

export interface ResponseUrlState {
  id: string;
  user: string;
  channel: string;
  uses: number;
  createdAt: number;
  /** The message a click came from: `replace_original` targets it. */
  source?: { kind: "message"; ts: string } | { kind: "ephemeral"; id: string };
  threadTs?: string;
}

/** What survives a restart of the emulator: the conversation and the response URLs handed out. */
export interface EmulatorSnapshot {
  workspace: WorkspaceSnapshot;
  responseUrls: ResponseUrlState[];
}

interface DeliveryExtra {
  retryNum?: number;
  retryReason?: string;
  eventId?: string;
}

interface Trigger {
  user: string;
  createdAt: number;
  /** A trigger opens one view; using it again is `exchanged_trigger_id`. */
  exchanged?: boolean;
}

const RESPONSE_URL_USES = 5;
const RESPONSE_URL_TTL_MS = 30 * 60 * 1000;
const TRIGGER_TTL_MS = 3000;

export class SlackEmulator {
  readonly workspace: Workspace;
  readonly calls: ApiCall[] = [];
  readonly responses: ResponseUrlPost[] = [];
  readonly deliveries: Delivery[] = [];
  readonly botUserId: string;
  readonly botId: string;
  readonly appId: string;
  /** Present when the emulator serves Socket Mode (an app token was given). */
  readonly socketMode?: SocketModeServer;
  private requestUrls: string[];
  private nextRequestUrl = 0;
  private baseUrl: string | undefined;
  private readonly responseUrls = new Map<string, ResponseUrlState>();
  private readonly triggers = new Map<string, Trigger>();
  private readonly rateLimits = new Map<string, { times: number; retryAfter: number }>();
  private readonly pending = new Set<Promise<unknown>>();
  private retryDelaysMs: number[];
  private stopped = false;

  constructor(private readonly options: EmulatorOptions) {
    this.workspace = new Workspace({ teamId: options.teamId });
    this.botUserId = options.botUserId ?? "U0ORCHBOT";
    this.botId = options.botId ?? "B0ORCHBOT";
    this.appId = options.appId ?? "A0ORCH";
    this.requestUrls = options.requestUrl ? [options.requestUrl] : [];
    this.baseUrl = options.baseUrl;
    this.retryDelaysMs = options.retryDelaysMs ?? [0, 60_000, 300_000];
    if (options.appToken) this.socketMode = new SocketModeServer({ appId: this.appId, ...(options.ackTimeoutMs ? { ackTimeoutMs: options.ackTimeoutMs } : {}) });
    this.workspace.addUser({ id: this.botUserId, name: options.botName ?? "orchestrator", realName: "Orchestrator", title: "Release bot", isBot: true });
    for (const user of options.users ?? []) this.workspace.addUser(user);
    for (const channel of options.channels ?? []) this.workspace.addChannel(channel);
  }

  /** The bot's Request URL; several URLs are used in turn, as a load balancer in front of replicas would. */
  setRequestUrl(url: string | string[]): void {
    this.requestUrls = Array.isArray(url) ? [...url] : [url];
    this.nextRequestUrl = 0;
  }

  setBaseUrl(url: string): void {
    this.baseUrl = url.replace(/\/$/, "");
  }

  setRetryDelays(delays: number[]): void {
    this.retryDelaysMs = delays;
  }

  /** The next `times` calls of `method` get HTTP 429 with Retry-After, as Slack's rate limiter answers. */
  rateLimit(method: string, times = 1, retryAfterSeconds = 1): void {
    this.rateLimits.set(method, { times, retryAfter: retryAfterSeconds });
  }

  callsOf(method: string): ApiCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  /** Resolves when every delivery in flight (including scheduled redeliveries) has finished. */
  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  stop(): void {
    this.stopped = true;
    this.socketMode?.close();
  }

  snapshot(): EmulatorSnapshot {
    return { workspace: this.workspace.snapshot(), responseUrls: [...this.responseUrls.values()] };
  }

  restore(snapshot: EmulatorSnapshot): void {
    this.workspace.restore(snapshot.workspace);
    this.responseUrls.clear();
    for (const state of snapshot.responseUrls) this.responseUrls.set(state.id, state);
  }

  // ---------------------------------------------------------------- HTTP side (Web API and response URLs)

  /** Handles `/api/<method>` and `/response/<id>`; returns false for any other path. */
  async handle(req: IncomingMessage, res: ServerResponse, pathname: string): Promise<boolean> {
    if (pathname.startsWith("/api/")) {
      const method = pathname.slice("/api/".length);
      const raw = await readBody(req);
      const { args, token } = parseApiRequest(req, raw);
      const limited = this.rateLimits.get(method);
      if (limited && limited.times > 0) {
        limited.times -= 1;
        this.calls.push({ method, args, ok: false, error: "ratelimited", at: Date.now() });
        res.writeHead(429, { "content-type": "application/json", "retry-after": String(limited.retryAfter) });
        res.end(JSON.stringify({ ok: false, error: "ratelimited" }));
        return true;
      }
      const result = this.api(method, args, token);
      this.calls.push({ method, args, ok: result.ok === true, error: typeof result.error === "string" ? result.error : undefined, at: Date.now() });
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(result));
      return true;
    }
    if (pathname.startsWith("/response/") && req.method === "POST") {
      const id = pathname.slice("/response/".length);
      const raw = await readBody(req);
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(raw) as Record<string, unknown>;
      } catch {
        res.writeHead(400, { "content-type": "text/plain" });
        res.end("invalid_payload");
        return true;
      }
      const error = this.respond(id, body);
      this.responses.push({ id, body, ok: error === undefined, error, at: Date.now() });
      res.writeHead(error === undefined ? 200 : 404, { "content-type": "application/json" });
      res.end(JSON.stringify(error === undefined ? { ok: true } : { ok: false, error }));
      return true;
    }
    return false;
  }

  api(method: string, args: Record<string, unknown>, token: string | undefined): Record<string, unknown> {
    if (!token) return { ok: false, error: "not_authed" };
    // apps.connections.open takes only the app-level token, and the app-level token nothing else.
    if (method === "apps.connections.open") {
      if (token === this.options.botToken || token.startsWith("xoxb-") || token.startsWith("xoxp-")) return { ok: false, error: "not_allowed_token_type" };
      if (!this.socketMode || token !== this.options.appToken) return { ok: false, error: "invalid_auth" };
      return { ok: true, url: this.socketMode.connectionUrl(this.requireBase()) };
    }
    if (this.options.appToken && token === this.options.appToken) return { ok: false, error: "not_allowed_token_type" };
    if (token !== this.options.botToken) return { ok: false, error: "invalid_auth" };
    const handler = this.methods[method];
    if (!handler) return { ok: false, error: "unknown_method" };
    try {
      return handler(args);
    } catch (error) {
      return { ok: false, error: "invalid_arguments", detail: error instanceof Error ? error.message : String(error) };
    }
  }

  private readonly methods: Record<string, (args: Record<string, unknown>) => Record<string, unknown>> = {
    "auth.test": () => ({
      ok: true,
      url: `https://${this.workspace.teamDomain}.slack.test/`,
      team: "Orchestrator Sandbox",
      user: this.options.botName ?? "orchestrator",
      team_id: this.workspace.teamId,
      user_id: this.botUserId,
      bot_id: this.botId,
      is_enterprise_install: false,
    }),
    "chat.postMessage": (args) => {
      const channel = str(args.channel);
      if (!channel || !this.workspace.channels.has(channel)) return { ok: false, error: "channel_not_found" };
      const content = this.content(args);
      if ("error" in content) return { ok: false, ...content };
      const threadTs = str(args.thread_ts);
      const message = this.workspace.insert({
        type: "message",
        ts: this.workspace.nextTs(),
        channel,
        user: this.botUserId,
        bot_id: this.botId,
        app_id: this.appId,
        text: content.text,
        ...(content.blocks ? { blocks: content.blocks } : {}),
        ...(threadTs ? this.threadFields(channel, threadTs) : {}),
        ...(threadTs && truthy(args.reply_broadcast) ? { subtype: "thread_broadcast" } : {}),
        team: this.workspace.teamId,
      });
      this.addRoot(message);
      this.echo(message, "message");
      return { ok: true, channel, ts: message.ts, message: publicMessage(message) };
    },
    "chat.update": (args) => {
      const channel = str(args.channel);
      const ts = str(args.ts);
      if (!channel || !this.workspace.channels.has(channel)) return { ok: false, error: "channel_not_found" };
      const message = ts ? this.workspace.find(channel, ts) : undefined;
      if (!message || message.deleted) return { ok: false, error: "message_not_found" };
      if (message.bot_id !== this.botId) return { ok: false, error: "cant_update_message" };
      const content = this.content(args);
      if ("error" in content) return { ok: false, ...content };
      message.text = content.text;
      if (content.blocks) message.blocks = content.blocks;
      else if (args.blocks !== undefined) delete message.blocks;
      message.edited = { user: this.botUserId, ts: this.workspace.nextTs() };
      this.workspace.changed(channel, message.ts);
      return { ok: true, channel, ts: message.ts, text: message.text, message: publicMessage(message) };
    },
    "chat.postEphemeral": (args) => {
      const channel = str(args.channel);
      const user = str(args.user);
      if (!channel || !this.workspace.channels.has(channel)) return { ok: false, error: "channel_not_found" };
      // Slack answers for someone who is not in the channel, which includes someone who does not exist.
      if (!user || !this.workspace.users.has(user)) return { ok: false, error: "user_not_in_channel" };
      const content = this.content(args);
      if ("error" in content) return { ok: false, ...content };
      const threadTs = str(args.thread_ts);
      const ephemeral = this.workspace.addEphemeral({ channel, user, text: content.text, ...(content.blocks ? { blocks: content.blocks } : {}), ...(threadTs ? { thread_ts: threadTs } : {}) });
      return { ok: true, message_ts: ephemeral.ts };
    },
    "chat.getPermalink": (args) => {
      const channel = str(args.channel);
      const ts = str(args.message_ts);
      if (!channel || !this.workspace.channels.has(channel)) return { ok: false, error: "channel_not_found" };
      const message = ts ? this.workspace.find(channel, ts) : undefined;
      if (!message || !ts) return { ok: false, error: "message_not_found" };
      const thread = message.thread_ts && message.thread_ts !== message.ts ? `?thread_ts=${message.thread_ts}&cid=${channel}` : "";
      return { ok: true, channel, permalink: `https://${this.workspace.teamDomain}.slack.test/archives/${channel}/p${ts.replace(".", "")}${thread}` };
    },
    "chat.delete": (args) => {
      const channel = str(args.channel);
      const ts = str(args.ts);
      if (!channel || !this.workspace.channels.has(channel)) return { ok: false, error: "channel_not_found" };
      const message = ts ? this.workspace.find(channel, ts) : undefined;
      if (!message || message.deleted) return { ok: false, error: "message_not_found" };
      if (message.bot_id !== this.botId) return { ok: false, error: "cant_delete_message" };
      message.deleted = true;
      this.workspace.changed(channel, message.ts);
      return { ok: true, channel, ts };
    },
    "reactions.add": (args) => {
      const channel = str(args.channel);
      const ts = str(args.timestamp);
      const name = str(args.name);
      if (!channel || !this.workspace.channels.has(channel)) return { ok: false, error: "channel_not_found" };
      if (!name || !/^[a-z0-9_+-]+$/.test(name)) return { ok: false, error: "invalid_name" };
      if (!ts) return { ok: false, error: "no_item_specified" };
      const message = this.workspace.find(channel, ts);
      if (!message || message.deleted) return { ok: false, error: "message_not_found" };
      const error = addReaction(message, name, this.botUserId);
      if (error) return { ok: false, error };
      this.workspace.changed(channel, message.ts);
      return { ok: true };
    },
    "views.open": (args) => {
      const triggerId = str(args.trigger_id);
      const trigger = triggerId ? this.triggers.get(triggerId) : undefined;
      if (!trigger || !triggerId) return { ok: false, error: "invalid_trigger_id" };
      if (trigger.exchanged) return { ok: false, error: "exchanged_trigger_id" };
      if (Date.now() - trigger.createdAt > TRIGGER_TTL_MS) return { ok: false, error: "expired_trigger_id" };
      const view = parseJson(args.view);
      if (!view || typeof view !== "object" || Array.isArray(view)) return invalidArguments("[ERROR] missing required field: view");
      const problem = checkView(view as Record<string, unknown>);
      if (problem) return invalidArguments(problem);
      trigger.exchanged = true;
      const id = this.workspace.nextId("V");
      const stored = viewObject(view as Record<string, unknown>, { id, teamId: this.workspace.teamId, appId: this.appId, botId: this.botId });
      this.workspace.views.set(id, { id, user: trigger.user, view: stored, closed: false });
      this.workspace.emit("change", { kind: "view", user: trigger.user, id });
      return { ok: true, view: stored };
    },
    "users.info": (args) => {
      const user = this.workspace.users.get(str(args.user) ?? "");
      if (!user) return { ok: false, error: "user_not_found" };
      return { ok: true, user: userObject(user, this.workspace, user.id === this.botUserId ? { botId: this.botId, appId: this.appId } : undefined) };
    },
    "conversations.info": (args) => {
      const channel = this.workspace.channels.get(str(args.channel) ?? "");
      if (!channel) return { ok: false, error: "channel_not_found" };
      return { ok: true, channel: channelObject(channel, this.workspace, this.botUserId) };
    },
    "conversations.members": (args) => {
      const channel = this.workspace.channels.get(str(args.channel) ?? "");
      if (!channel) return { ok: false, error: "channel_not_found" };
      return paginate(this.workspace.membersOf(channel.id), args, (members, _hasMore, cursor) => ({ ok: true, members, response_metadata: { next_cursor: cursor } }));
    },
    "conversations.history": (args) => {
      const channel = str(args.channel);
      if (!channel || !this.workspace.channels.has(channel)) return { ok: false, error: "channel_not_found" };
      const inRange = this.workspace.history(channel).filter((m) => withinRange(m.ts, args));
      // Slack returns history newest first.
      return paginate(inRange.reverse(), args, (messages, hasMore, cursor) => ({
        ok: true,
        messages: messages.map(publicMessage),
        has_more: hasMore,
        pin_count: 0,
        response_metadata: { next_cursor: cursor },
      }));
    },
    "conversations.replies": (args) => {
      const channel = str(args.channel);
      const ts = str(args.ts);
      if (!channel || !this.workspace.channels.has(channel)) return { ok: false, error: "channel_not_found" };
      const anchor = ts ? this.workspace.find(channel, ts) : undefined;
      if (!anchor || anchor.deleted) return { ok: false, error: "thread_not_found" };
      const parentTs = anchor.thread_ts ?? anchor.ts;
      const [parent, ...replies] = this.workspace.thread(channel, parentTs);
      // The parent always comes first; oldest/latest narrow the replies.
      const selected = [parent, ...replies.filter((m) => withinRange(m.ts, args))].filter((m): m is SlackMessage => m !== undefined);
      return paginate(selected, args, (messages, hasMore, cursor) => ({
        ok: true,
        messages: messages.map(publicMessage),
        has_more: hasMore,
        response_metadata: { next_cursor: cursor },
      }));
    },
  };

  /** text and blocks of a post, or the error Slack would give. */
  private content(args: Record<string, unknown>): { text: string; blocks?: unknown[] } | { error: string; errors?: string[]; response_metadata?: { messages: string[] } } {
    const text = str(args.text) ?? "";
    const blocks = args.blocks === undefined ? undefined : parseJson(args.blocks);
    if (blocks !== undefined) {
      const problem = checkBlocks(blocks);
      if (problem) return { error: problem.error, errors: [problem.detail], response_metadata: { messages: [`[ERROR] ${problem.detail}`] } };
    }
    if (!text && (!Array.isArray(blocks) || blocks.length === 0)) return { error: "no_text" };
    if (text.length > LIMITS.messageText) return { error: "msg_too_long" };
    return { text, ...(Array.isArray(blocks) && blocks.length > 0 ? { blocks } : {}) };
  }

  private respond(id: string, body: Record<string, unknown>): string | undefined {
    const state = this.responseUrls.get(id);
    if (!state) return "invalid_url";
    if (Date.now() - state.createdAt > RESPONSE_URL_TTL_MS) return "expired_url";
    if (state.uses >= RESPONSE_URL_USES) return "used_url";
    state.uses += 1;
    const content = this.content(body);
    if (body.delete_original === true) {
      this.deleteSource(state);
      return undefined;
    }
    if ("error" in content) return content.error;
    if (body.replace_original === true && state.source) {
      if (state.source.kind === "message") {
        const message = this.workspace.find(state.channel, state.source.ts);
        if (!message) return "message_not_found";
        message.text = content.text;
        message.blocks = content.blocks;
        this.workspace.changed(state.channel, message.ts);
        return undefined;
      }
      const ephemeralId = state.source.id;
      const ephemeral = this.workspace.ephemerals.find((e) => e.id === ephemeralId);
      if (ephemeral) {
        ephemeral.text = content.text;
        ephemeral.blocks = content.blocks;
        this.workspace.emit("change", { kind: "ephemeral", channel: ephemeral.channel, user: ephemeral.user, id: ephemeral.id });
        return undefined;
      }
    }
    if (body.response_type === "in_channel") {
      const message = this.workspace.insert({
        type: "message",
        ts: this.workspace.nextTs(),
        channel: state.channel,
        user: this.botUserId,
        bot_id: this.botId,
        app_id: this.appId,
        text: content.text,
        ...(content.blocks ? { blocks: content.blocks } : {}),
        ...(state.threadTs ? { thread_ts: state.threadTs } : {}),
      });
      this.echo(message, "message");
      return undefined;
    }
    this.workspace.addEphemeral({
      channel: state.channel,
      user: state.user,
      text: content.text,
      ...(content.blocks ? { blocks: content.blocks } : {}),
      ...(state.threadTs ? { thread_ts: state.threadTs } : {}),
      responseUrlId: id,
    });
    return undefined;
  }

  private deleteSource(state: ResponseUrlState): void {
    if (state.source?.kind === "message") {
      const message = this.workspace.find(state.channel, state.source.ts);
      if (message) {
        message.deleted = true;
        this.workspace.changed(state.channel, message.ts);
      }
    } else if (state.source?.kind === "ephemeral") {
      const sourceId = state.source.id;
      const index = this.workspace.ephemerals.findIndex((e) => e.id === sourceId);
      const [removed] = index >= 0 ? this.workspace.ephemerals.splice(index, 1) : [];
      if (removed) this.workspace.emit("change", { kind: "ephemeral", channel: removed.channel, user: removed.user, id: removed.id });
    }
  }

  // ---------------------------------------------------------------- the other direction: people acting

  /** A reply's thread fields: the thread and, as Slack adds it, the parent's author. */
  private threadFields(channel: string, threadTs: string): Pick<SlackMessage, "thread_ts" | "parent_user_id"> {
    const parent = this.workspace.find(channel, threadTs);
    const author = parent?.user ?? parent?.bot_id;
    return { thread_ts: threadTs, ...(author ? { parent_user_id: author } : {}) };
  }

  /** A broadcast reply carries its thread's parent as `root`, taken after the reply counted in it. */
  private addRoot(message: SlackMessage): void {
    if (message.subtype !== "thread_broadcast" || !message.thread_ts) return;
    const parent = this.workspace.find(message.channel, message.thread_ts);
    if (parent) message.root = rootOf(parent);
  }

  private user(id: string): EmulatedUser {
    const user = this.workspace.users.get(id);
    if (!user) throw new Error(`no such user in the emulated workspace: ${id}`);
    return user;
  }

  private channel(id: string): EmulatedChannel {
    const channel = this.workspace.channels.get(id);
    if (!channel) throw new Error(`no such channel in the emulated workspace: ${id}`);
    return channel;
  }

  private newResponseUrl(state: Omit<ResponseUrlState, "id" | "uses" | "createdAt">): string {
    const id = randomUUID();
    this.responseUrls.set(id, { ...state, id, uses: 0, createdAt: Date.now() });
    return `${this.requireBase()}/response/${id}`;
  }

  private newTrigger(user: string): string {
    const id = `${Date.now()}.${Math.floor(Math.random() * 1e9)}.${randomUUID().replace(/-/g, "").slice(0, 16)}`;
    this.triggers.set(id, { user, createdAt: Date.now() });
    return id;
  }

  private requireBase(): string {
    if (!this.baseUrl) throw new Error("emulator base URL not set");
    return this.baseUrl;
  }

  /** A person types `/orch <text>` in a channel (optionally in a thread, as Slack allows). */
  async command(userId: string, channelId: string, text: string, options: { command?: string; threadTs?: string } = {}): Promise<InteractionResult> {
    const user = this.user(userId);
    const channel = this.channel(channelId);
    const command = options.command ?? "/orch";
    const form = new URLSearchParams({
      token: "verification-token-unused",
      team_id: this.workspace.teamId,
      team_domain: this.workspace.teamDomain,
      channel_id: channel.id,
      channel_name: channel.name,
      user_id: user.id,
      user_name: user.name,
      command,
      text,
      api_app_id: this.appId,
      is_enterprise_install: "false",
      response_url: this.newResponseUrl({ user: user.id, channel: channel.id, ...(options.threadTs ? { threadTs: options.threadTs } : {}) }),
      trigger_id: this.newTrigger(user.id),
    });
    const result = await this.send("command", form.toString(), "application/x-www-form-urlencoded");
    this.showImmediateReply(result, user.id, channel.id, options.threadTs, command);
    return result;
  }

  /** A person posts a message (or a thread reply); a mention of the bot also sends `app_mention`. */
  async message(userId: string, channelId: string, text: string, options: { threadTs?: string; broadcast?: boolean; files?: SlackMessage["files"] } = {}): Promise<SlackMessage> {
    const user = this.user(userId);
    this.channel(channelId);
    const message = this.workspace.insert({
      type: "message",
      ts: this.workspace.nextTs(),
      channel: channelId,
      user: user.id,
      client_msg_id: randomUUID(),
      text,
      blocks: richTextBlocks(text),
      team: this.workspace.teamId,
      ...(options.threadTs ? this.threadFields(channelId, options.threadTs) : {}),
      ...(options.threadTs && options.broadcast ? { subtype: "thread_broadcast" } : {}),
      ...(options.files?.length ? { files: options.files.map((f) => fileObject(f, user.id, channelId, this.workspace)), subtype: "file_share", upload: false, display_as_bot: false } : {}),
    });
    this.addRoot(message);
    const event: Record<string, unknown> = { ...publicMessage(message), channel: channelId, event_ts: message.ts, channel_type: "channel" };
    this.dispatchEvent(event);
    if (text.includes(`<@${this.botUserId}>`)) {
      this.dispatchEvent({
        type: "app_mention",
        user: user.id,
        client_msg_id: message.client_msg_id,
        text,
        blocks: message.blocks,
        team: this.workspace.teamId,
        ts: message.ts,
        channel: channelId,
        event_ts: message.ts,
        ...(options.threadTs ? { thread_ts: options.threadTs } : {}),
      });
    }
    return message;
  }

  /** Puts a message straight into history without telling the bot: what happened while it was away. */
  seed(userId: string, channelId: string, text: string, options: { threadTs?: string } = {}): SlackMessage {
    this.user(userId);
    this.channel(channelId);
    return this.workspace.insert({
      type: "message",
      ts: this.workspace.nextTs(),
      channel: channelId,
      user: userId,
      client_msg_id: randomUUID(),
      text,
      blocks: richTextBlocks(text),
      team: this.workspace.teamId,
      ...(options.threadTs ? this.threadFields(channelId, options.threadTs) : {}),
    });
  }

  async edit(userId: string, channelId: string, ts: string, text: string): Promise<void> {
    const message = this.workspace.find(channelId, ts);
    if (!message || message.user !== userId) throw new Error(`${userId} cannot edit ${channelId}/${ts}`);
    const previous = publicMessage(message);
    message.text = text;
    if (message.client_msg_id) message.blocks = richTextBlocks(text);
    message.edited = { user: userId, ts: this.workspace.nextTs() };
    this.workspace.changed(channelId, ts);
    this.dispatchEvent({
      type: "message",
      subtype: "message_changed",
      hidden: true,
      channel: channelId,
      message: { ...publicMessage(message) },
      previous_message: previous,
      ts: this.workspace.nextTs(),
      event_ts: this.workspace.nextTs(),
      channel_type: "channel",
    });
  }

  async remove(userId: string, channelId: string, ts: string): Promise<void> {
    const message = this.workspace.find(channelId, ts);
    if (!message || message.user !== userId) throw new Error(`${userId} cannot delete ${channelId}/${ts}`);
    const previous = publicMessage(message);
    message.deleted = true;
    if (message.thread_ts && message.thread_ts !== message.ts) {
      const parent = this.workspace.find(channelId, message.thread_ts);
      if (parent) parent.reply_count = this.workspace.thread(channelId, parent.ts).length - 1;
    }
    this.workspace.changed(channelId, ts);
    const eventTs = this.workspace.nextTs();
    this.dispatchEvent({
      type: "message",
      subtype: "message_deleted",
      hidden: true,
      channel: channelId,
      deleted_ts: ts,
      previous_message: previous,
      ts: eventTs,
      event_ts: eventTs,
      channel_type: "channel",
    });
  }

  async react(userId: string, channelId: string, ts: string, name: string): Promise<void> {
    const message = this.workspace.find(channelId, ts);
    if (!message) throw new Error(`no message ${channelId}/${ts}`);
    if (addReaction(message, name, userId)) return;
    this.workspace.changed(channelId, ts);
    const eventTs = this.workspace.nextTs();
    this.dispatchEvent({
      type: "reaction_added",
      user: userId,
      reaction: name,
      item: { type: "message", channel: channelId, ts },
      item_user: message.user ?? message.bot_id,
      event_ts: eventTs,
    });
  }

  /**
   * A person clicks a button on a message (or on one of their ephemeral messages). `asSeen` is the
   * message's blocks as their client still showed them: a click on a button that has since gone.
   */
  async click(userId: string, target: { channel: string; ts: string } | { ephemeralId: string }, actionId: string, asSeen?: unknown[]): Promise<InteractionResult> {
    const user = this.user(userId);
    let channelId: string;
    let blocks: unknown[] | undefined;
    let container: Record<string, unknown>;
    let message: Record<string, unknown> | undefined;
    let source: ResponseUrlState["source"];
    let threadTs: string | undefined;
    if ("ephemeralId" in target) {
      const ephemeral = this.workspace.ephemerals.find((e) => e.id === target.ephemeralId);
      if (!ephemeral || ephemeral.user !== userId) throw new Error(`no ephemeral ${target.ephemeralId} for ${userId}`);
      channelId = ephemeral.channel;
      blocks = ephemeral.blocks;
      container = { type: "message", message_ts: ephemeral.ts, channel_id: channelId, is_ephemeral: true };
      source = { kind: "ephemeral", id: ephemeral.id };
      threadTs = ephemeral.thread_ts;
    } else {
      const found = this.workspace.find(target.channel, target.ts);
      if (!found || found.deleted) throw new Error(`no message ${target.channel}/${target.ts}`);
      channelId = target.channel;
      blocks = found.blocks;
      message = publicMessage(found);
      container = { type: "message", message_ts: found.ts, channel_id: channelId, is_ephemeral: false };
      source = { kind: "message", ts: found.ts };
      // Only a reply lives in a thread; a parent's own thread_ts names the thread it starts.
      threadTs = found.thread_ts !== found.ts ? found.thread_ts : undefined;
    }
    const located = findAction(asSeen ?? blocks, actionId);
    if (!located) throw new Error(`no button ${actionId} on that message`);
    const channel = this.channel(channelId);
    const payload = {
      type: "block_actions",
      user: { id: user.id, username: user.name, name: user.name, team_id: this.workspace.teamId },
      api_app_id: this.appId,
      token: "verification-token-unused",
      container,
      trigger_id: this.newTrigger(user.id),
      team: { id: this.workspace.teamId, domain: this.workspace.teamDomain },
      enterprise: null,
      is_enterprise_install: false,
      channel: { id: channel.id, name: channel.name },
      ...(message ? { message } : {}),
      state: { values: {} },
      response_url: this.newResponseUrl({ user: user.id, channel: channel.id, source, ...(threadTs ? { threadTs } : {}) }),
      actions: [
        {
          action_id: located.element.action_id,
          block_id: located.blockId,
          text: located.element.text,
          value: located.element.value,
          ...(located.element.style ? { style: located.element.style } : {}),
          type: "button",
          action_ts: this.workspace.nextTs(),
        },
      ],
    };
    const result = await this.send("action", new URLSearchParams({ payload: JSON.stringify(payload) }).toString(), "application/x-www-form-urlencoded");
    if (result.failure) this.workspace.emit("change", { kind: "notice", user: userId, text: result.failure });
    return result;
  }

  /** A person submits an open modal with the given input values: { block_id: { action_id: value } }. */
  async submitView(userId: string, viewId: string, values: Record<string, Record<string, string>>): Promise<InteractionResult> {
    const user = this.user(userId);
    const open = this.workspace.views.get(viewId);
    if (!open || open.closed || open.user !== userId) throw new Error(`no open view ${viewId} for ${userId}`);
    const stateValues = Object.fromEntries(
      Object.entries(values).map(([blockId, actions]) => [
        blockId,
        Object.fromEntries(Object.entries(actions).map(([actionId, value]) => [actionId, { type: "plain_text_input", value }])),
      ]),
    );
    const view = { ...open.view, state: { values: stateValues } };
    const payload = {
      type: "view_submission",
      team: { id: this.workspace.teamId, domain: this.workspace.teamDomain },
      user: { id: user.id, username: user.name, name: user.name, team_id: this.workspace.teamId },
      api_app_id: this.appId,
      token: "verification-token-unused",
      trigger_id: this.newTrigger(user.id),
      view,
      response_urls: [],
      is_enterprise_install: false,
      enterprise: null,
    };
    const result = await this.send("view", new URLSearchParams({ payload: JSON.stringify(payload) }).toString(), "application/x-www-form-urlencoded");
    const body = result.body as Record<string, unknown> | undefined;
    if (result.status === 200 && body?.response_action !== "errors") {
      open.closed = true;
      this.workspace.emit("change", { kind: "view", user: userId, id: viewId });
    }
    return result;
  }

  /** A person closes a modal without submitting. */
  closeView(userId: string, viewId: string): void {
    const open = this.workspace.views.get(viewId);
    if (!open || open.user !== userId) return;
    open.closed = true;
    this.workspace.emit("change", { kind: "view", user: userId, id: viewId });
  }

  /** A person uses a message shortcut (the "…" menu of a message). */
  async shortcut(userId: string, channelId: string, ts: string, callbackId: string): Promise<InteractionResult> {
    const user = this.user(userId);
    const channel = this.channel(channelId);
    const message = this.workspace.find(channelId, ts);
    if (!message) throw new Error(`no message ${channelId}/${ts}`);
    const payload = {
      type: "message_action",
      callback_id: callbackId,
      trigger_id: this.newTrigger(user.id),
      response_url: this.newResponseUrl({ user: user.id, channel: channel.id, ...(message.thread_ts && message.thread_ts !== message.ts ? { threadTs: message.thread_ts } : {}) }),
      team: { id: this.workspace.teamId, domain: this.workspace.teamDomain },
      channel: { id: channel.id, name: channel.name },
      user: { id: user.id, name: user.name, team_id: this.workspace.teamId },
      message: publicMessage(message),
      message_ts: message.ts,
      token: "verification-token-unused",
      action_ts: this.workspace.nextTs(),
      is_enterprise_install: false,
    };
    return this.send("shortcut", new URLSearchParams({ payload: JSON.stringify(payload) }).toString(), "application/x-www-form-urlencoded");
  }

  /** Ephemeral messages one person can see in a channel. */
  ephemeralsFor(userId: string, channelId?: string): EphemeralMessage[] {
    return this.workspace.ephemerals.filter((e) => e.user === userId && (channelId === undefined || e.channel === channelId));
  }

  // ---------------------------------------------------------------- delivery

  private echo(message: SlackMessage, _kind: "message"): void {
    // An app whose Request URL is not set yet (the bot still starting) gets no events, as in Slack.
    if (this.options.echoBotMessages === false || this.requestUrls.length === 0) return;
    this.dispatchEvent({ ...publicMessage(message), channel: message.channel, event_ts: message.ts, channel_type: "channel" });
  }

  /** Wraps an event in the Events API envelope and delivers it, redelivering on failure as Slack does. */
  dispatchEvent(event: Record<string, unknown>): string {
    const eventId = `Ev${randomUUID().replace(/-/g, "").slice(0, 10).toUpperCase()}`;
    const envelope = {
      token: "verification-token-unused",
      team_id: this.workspace.teamId,
      context_team_id: this.workspace.teamId,
      api_app_id: this.appId,
      event,
      type: "event_callback",
      event_id: eventId,
      event_time: Math.floor(Date.now() / 1000),
      authorizations: [{ enterprise_id: null, team_id: this.workspace.teamId, user_id: this.botUserId, is_bot: true, is_enterprise_install: false }],
      is_ext_shared_channel: false,
      event_context: `4-${Buffer.from(eventId).toString("base64url")}`,
    };
    this.deliverEvent(JSON.stringify(envelope), eventId);
    return eventId;
  }

  /** Sends one envelope again, as a redelivery with the given retry number (tests of dedupe). */
  async redeliver(eventId: string, retryNum = 1): Promise<InteractionResult> {
    const first = this.deliveries.find((d) => d.eventId === eventId);
    if (!first) throw new Error(`no delivery of ${eventId}`);
    return this.send("event", first.body, "application/json", { retryNum, retryReason: this.socketMode ? "timeout" : "http_timeout", eventId });
  }

  private deliverEvent(body: string, eventId: string): void {
    const attempt = async () => {
      for (let retry = 0; retry <= this.retryDelaysMs.length; retry += 1) {
        if (this.stopped) return;
        if (retry > 0) await sleep(this.retryDelaysMs[retry - 1] ?? 0);
        if (this.stopped) return;
        const result = await this.send("event", body, "application/json", retry > 0 ? { retryNum: retry, retryReason: this.socketMode ? "timeout" : "http_error", eventId } : { eventId });
        if (result.status >= 200 && result.status < 300) return;
      }
    };
    this.track(attempt());
  }

  private track<T>(promise: Promise<T>): Promise<T> {
    this.pending.add(promise);
    void promise.finally(() => this.pending.delete(promise));
    return promise;
  }

  /** Delivers a request to the bot: signed to its Request URL, or in an envelope over Socket Mode when the emulator serves it. */
  send(kind: Delivery["kind"], body: string, contentType: string, extra: DeliveryExtra = {}): Promise<InteractionResult> {
    return this.socketMode ? this.sendOverSocket(this.socketMode, kind, body, contentType, extra) : this.sendSigned(kind, body, contentType, extra);
  }

  /** The Socket Mode envelope of the same request: events_api carries the Events API envelope, the others the parsed payload. */
  private async sendOverSocket(server: SocketModeServer, kind: Delivery["kind"], body: string, contentType: string, extra: DeliveryExtra): Promise<InteractionResult> {
    const form = contentType.includes("json") ? undefined : new URLSearchParams(body);
    const formPayload = form?.get("payload");
    const payload = (form ? (formPayload !== null && formPayload !== undefined ? JSON.parse(formPayload) : Object.fromEntries(form)) : JSON.parse(body)) as Record<string, unknown>;
    const type: EnvelopeType = kind === "event" ? "events_api" : kind === "command" ? "slash_commands" : "interactive";
    // Slack accepts a response in the ack for slash commands, view submissions and options requests.
    const acceptsResponsePayload = kind === "command" || kind === "view" || payload.type === "block_suggestion";
    const outcome = await server.deliver(type, payload, { acceptsResponsePayload, ...(extra.retryNum !== undefined ? { retryAttempt: extra.retryNum, retryReason: extra.retryReason ?? "timeout" } : {}) });
    const status = outcome.acked ? 200 : outcome.failure === "timeout" ? 408 : 0;
    this.deliveries.push({ kind, eventId: extra.eventId, attempt: extra.retryNum ?? 0, status, body, headers: {}, at: Date.now(), transport: "socket", envelopeId: outcome.envelopeId });
    if (outcome.acked) return { status, body: outcome.payload ?? {} };
    return { status, body: undefined, failure: outcome.failure === "timeout" ? 'failed with the error "operation_timeout"' : 'failed with the error "dispatch_failed"' };
  }

  /** Signs and posts a request to the bot's Request URL. */
  private async sendSigned(kind: Delivery["kind"], body: string, contentType: string, extra: DeliveryExtra): Promise<InteractionResult> {
    const requestUrl = this.requestUrls[this.nextRequestUrl % Math.max(1, this.requestUrls.length)];
    this.nextRequestUrl += 1;
    if (!requestUrl) throw new Error("emulator request URL not set");
    const timestamp = Math.floor(Date.now() / 1000).toString();
    const signature = `v0=${createHmac("sha256", this.options.signingSecret).update(`v0:${timestamp}:${body}`).digest("hex")}`;
    const headers: Record<string, string> = {
      "content-type": contentType,
      "x-slack-request-timestamp": timestamp,
      "x-slack-signature": signature,
      "user-agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
    };
    if (extra.retryNum !== undefined) {
      headers["x-slack-retry-num"] = String(extra.retryNum);
      headers["x-slack-retry-reason"] = extra.retryReason ?? "http_error";
    }
    const attempt = extra.retryNum ?? 0;
    const ackTimeout = this.options.ackTimeoutMs ?? 3000;
    try {
      const response = await fetch(requestUrl, { method: "POST", headers, body, signal: AbortSignal.timeout(ackTimeout) });
      const text = await response.text();
      this.deliveries.push({ kind, eventId: extra.eventId, attempt, status: response.status, body, headers, at: Date.now(), transport: "http" });
      let parsed: unknown = text;
      if (text && (response.headers.get("content-type") ?? "").includes("json")) {
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = text;
        }
      }
      if (response.status !== 200) return { status: response.status, body: parsed, failure: `failed with the error "dispatch_failed" (HTTP ${response.status})` };
      return { status: response.status, body: parsed };
    } catch (error) {
      const timedOut = error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError");
      this.deliveries.push({ kind, eventId: extra.eventId, attempt, status: timedOut ? 408 : 0, body, headers, at: Date.now(), transport: "http" });
      return { status: timedOut ? 408 : 0, body: undefined, failure: timedOut ? 'failed with the error "operation_timeout"' : 'failed with the error "dispatch_failed"' };
    }
  }

  /** What Slack shows the person after a slash command: the bot's immediate reply, or Slack's own error. */
  private showImmediateReply(result: InteractionResult, user: string, channel: string, threadTs: string | undefined, command: string): void {
    if (result.failure) {
      this.workspace.addEphemeral({ channel, user, text: `${command} ${result.failure}`, ...(threadTs ? { thread_ts: threadTs } : {}) });
      return;
    }
    const body = result.body;
    if (typeof body === "string" && body.trim()) {
      this.workspace.addEphemeral({ channel, user, text: body, ...(threadTs ? { thread_ts: threadTs } : {}) });
      return;
    }
    if (body && typeof body === "object") {
      const reply = body as Record<string, unknown>;
      const text = str(reply.text) ?? "";
      const blocks = Array.isArray(reply.blocks) ? reply.blocks : undefined;
      if (!text && !blocks) return;
      if (reply.response_type === "in_channel") {
        this.workspace.insert({ type: "message", ts: this.workspace.nextTs(), channel, user: this.botUserId, bot_id: this.botId, text, ...(blocks ? { blocks } : {}) });
      } else {
        this.workspace.addEphemeral({ channel, user, text, ...(blocks ? { blocks } : {}), ...(threadTs ? { thread_ts: threadTs } : {}) });
      }
    }
  }
}

// ---------------------------------------------------------------- helpers

function str(value: unknown): string | undefined {
  return typeof value === "string" && value !== "" ? value : undefined;
}

function invalidArguments(message: string): Record<string, unknown> {
  return { ok: false, error: "invalid_arguments", response_metadata: { messages: [message] } };
}

/** A modal's own limits (title 24, submit/close 24, callback_id and private_metadata) and its blocks'. */
function checkView(view: Record<string, unknown>): string | undefined {
  if (view.type !== "modal") return "[ERROR] must be a modal [json-pointer:/view/type]";
  const title = (view.title as { text?: unknown } | undefined)?.text;
  if (typeof title !== "string" || title.length === 0) return "[ERROR] missing required field: title [json-pointer:/view/title]";
  if (title.length > LIMITS.viewTitle) return `[ERROR] must be less than ${LIMITS.viewTitle + 1} characters [json-pointer:/view/title/text]`;
  for (const key of ["submit", "close"] as const) {
    const text = (view[key] as { text?: unknown } | undefined)?.text;
    if (typeof text === "string" && text.length > LIMITS.viewTitle) return `[ERROR] must be less than ${LIMITS.viewTitle + 1} characters [json-pointer:/view/${key}/text]`;
  }
  if (typeof view.private_metadata === "string" && view.private_metadata.length > LIMITS.privateMetadata) return `[ERROR] must be less than ${LIMITS.privateMetadata + 1} characters [json-pointer:/view/private_metadata]`;
  if (typeof view.callback_id === "string" && view.callback_id.length > LIMITS.callbackId) return `[ERROR] must be less than ${LIMITS.callbackId + 1} characters [json-pointer:/view/callback_id]`;
  const problem = checkBlocks(view.blocks ?? [], "modal");
  return problem ? `[ERROR] ${problem.detail.replace("[json-pointer:/blocks", "[json-pointer:/view/blocks")}` : undefined;
}

function truthy(value: unknown): boolean {
  return value === true || value === "true" || value === "1" || value === 1;
}

function parseJson(value: unknown): unknown {
  if (typeof value !== "string") return value;
  try {
    return JSON.parse(value);
  } catch {
    return undefined;
  }
}

function publicMessage(message: SlackMessage): Record<string, unknown> {
  const { deleted: _deleted, channel: _channel, ...rest } = message;
  return { ...rest };
}

function addReaction(message: SlackMessage, name: string, user: string): string | undefined {
  message.reactions ??= [];
  const existing = message.reactions.find((r) => r.name === name);
  if (existing?.users.includes(user)) return "already_reacted";
  if (existing) {
    existing.users.push(user);
    existing.count += 1;
  } else {
    message.reactions.push({ name, users: [user], count: 1 });
  }
  return undefined;
}

function withinRange(ts: string, args: Record<string, unknown>): boolean {
  const oldest = str(args.oldest);
  const latest = str(args.latest);
  const inclusive = truthy(args.inclusive);
  if (oldest && (inclusive ? compareTs(ts, oldest) < 0 : compareTs(ts, oldest) <= 0)) return false;
  if (latest && (inclusive ? compareTs(ts, latest) > 0 : compareTs(ts, latest) >= 0)) return false;
  return true;
}

function paginate<T>(items: T[], args: Record<string, unknown>, shape: (page: T[], hasMore: boolean, cursor: string) => Record<string, unknown>): Record<string, unknown> {
  const limit = Math.min(Math.max(Number(args.limit ?? 100) || 100, 1), 999);
  let start = 0;
  const cursor = str(args.cursor);
  if (cursor) {
    const decoded = Number(Buffer.from(cursor, "base64").toString("utf8").replace(/^offset:/, ""));
    if (!Number.isInteger(decoded) || decoded < 0 || decoded > items.length) return { ok: false, error: "invalid_cursor" };
    start = decoded;
  }
  const page = items.slice(start, start + limit);
  const next = start + limit < items.length ? Buffer.from(`offset:${start + limit}`).toString("base64") : "";
  return shape(page, next !== "", next);
}

interface ButtonElement {
  type: string;
  action_id: string;
  text: unknown;
  value?: string;
  style?: string;
}

function findAction(blocks: unknown[] | undefined, actionId: string): { blockId: string; element: ButtonElement } | undefined {
  for (const block of blocks ?? []) {
    const b = block as { block_id?: string; type?: string; elements?: unknown[]; accessory?: unknown };
    const elements = b.type === "actions" ? (b.elements ?? []) : b.accessory ? [b.accessory] : [];
    for (const element of elements) {
      const e = element as ButtonElement;
      if (e.action_id === actionId) return { blockId: b.block_id ?? "", element: e };
    }
  }
  return undefined;
}

function parseApiRequest(req: IncomingMessage, raw: string): { args: Record<string, unknown>; token: string | undefined } {
  const contentType = req.headers["content-type"] ?? "";
  let args: Record<string, unknown> = {};
  if (contentType.includes("application/json")) {
    try {
      args = JSON.parse(raw || "{}") as Record<string, unknown>;
    } catch {
      args = {};
    }
  } else {
    args = Object.fromEntries(new URLSearchParams(raw));
  }
  const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1];
  const token = bearer ?? str(args.token);
  delete args.token;
  return { args, token };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
