import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { readBody } from "../http/body.js";
import { BotDelivery, type Delivery, type InteractionResult } from "./delivery.js";
import { People } from "./people.js";
import { type ResponseUrlState, ResponseUrls } from "./response-urls.js";
import { rootOf } from "./shapes.js";
import { SocketModeServer } from "./socket-mode.js";
import { parseApiRequest, publicMessage, type Trigger, webApiMethods } from "./web-api.js";
import type { EmulatedChannel, EmulatedUser, EphemeralMessage, SlackMessage, WorkspaceSnapshot } from "./workspace.js";
import { Workspace } from "./workspace.js";

/**
 * A stand-in for Slack: the Web API the bot calls (with Slack's response shapes and error codes) and the
 * other direction, sending the bot signed slash commands, clicks, modal submissions and Events API
 * envelopes exactly as Slack does, redelivering events the bot fails to acknowledge. This class holds the
 * state and routes HTTP; each surface lives in its own file: web-api.ts (methods), response-urls.ts,
 * people.ts (what people do), delivery.ts (reaching the bot), socket-mode.ts, limits.ts (Block Kit), workspace.ts (the store).
 */

interface EmulatorOptions {
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

interface ApiCall {
  method: string;
  args: Record<string, unknown>;
  ok: boolean;
  error?: string;
  at: number;
}

interface ResponseUrlPost {
  id: string;
  body: Record<string, unknown>;
  ok: boolean;
  error?: string;
  at: number;
}

/** What survives a restart of the emulator: the conversation and the response URLs handed out. */
export interface EmulatorSnapshot {
  workspace: WorkspaceSnapshot;
  responseUrls: ResponseUrlState[];
}

export class SlackEmulator {
  readonly workspace: Workspace;
  readonly calls: ApiCall[] = [];
  readonly responses: ResponseUrlPost[] = [];
  readonly botUserId: string;
  readonly botId: string;
  readonly appId: string;
  /** Present when the emulator serves Socket Mode (an app token was given). */
  readonly socketMode?: SocketModeServer;
  readonly responseUrls: ResponseUrls;
  private readonly delivery: BotDelivery;
  private readonly people: People;
  private baseUrl: string | undefined;
  private readonly triggers = new Map<string, Trigger>();
  private readonly rateLimits = new Map<string, { times: number; retryAfter: number }>();
  private readonly methods: ReturnType<typeof webApiMethods>;

  constructor(private readonly options: EmulatorOptions) {
    this.workspace = new Workspace({ teamId: options.teamId });
    this.botUserId = options.botUserId ?? "U0ORCHBOT";
    this.botId = options.botId ?? "B0ORCHBOT";
    this.appId = options.appId ?? "A0ORCH";
    this.baseUrl = options.baseUrl;
    if (options.appToken) this.socketMode = new SocketModeServer({ appId: this.appId, ...(options.ackTimeoutMs ? { ackTimeoutMs: options.ackTimeoutMs } : {}) });
    this.delivery = new BotDelivery({
      signingSecret: options.signingSecret,
      teamId: this.workspace.teamId,
      appId: this.appId,
      botUserId: this.botUserId,
      socketMode: this.socketMode,
      requestUrl: options.requestUrl,
      retryDelaysMs: options.retryDelaysMs,
      ackTimeoutMs: options.ackTimeoutMs,
    });
    const bot = { workspace: this.workspace, botUserId: this.botUserId, botId: this.botId, appId: this.appId, echo: (message: SlackMessage) => this.echo(message) };
    this.responseUrls = new ResponseUrls({ ...bot, baseUrl: () => this.requireBase() });
    this.methods = webApiMethods({
      ...bot,
      botName: options.botName ?? "orchestrator",
      triggers: this.triggers,
      threadFields: (channel, threadTs) => this.threadFields(channel, threadTs),
      addRoot: (message) => this.addRoot(message),
    });
    this.people = new People({
      ...bot,
      responseUrls: this.responseUrls,
      user: (id) => this.user(id),
      channel: (id) => this.channel(id),
      newTrigger: (user) => this.newTrigger(user),
      threadFields: (channel, threadTs) => this.threadFields(channel, threadTs),
      addRoot: (message) => this.addRoot(message),
      send: (kind, body, contentType) => this.send(kind, body, contentType),
      dispatchEvent: (event) => this.dispatchEvent(event),
    });
    this.workspace.addUser({ id: this.botUserId, name: options.botName ?? "orchestrator", realName: "Orchestrator", title: "Release bot", isBot: true });
    for (const user of options.users ?? []) this.workspace.addUser(user);
    for (const channel of options.channels ?? []) this.workspace.addChannel(channel);
  }

  get deliveries(): Delivery[] {
    return this.delivery.deliveries;
  }

  /** The bot's Request URL; several URLs are used in turn, as a load balancer in front of replicas would. */
  setRequestUrl(url: string | string[]): void {
    this.delivery.setRequestUrl(url);
  }

  setBaseUrl(url: string): void {
    this.baseUrl = url.replace(/\/$/, "");
  }

  setRetryDelays(delays: number[]): void {
    this.delivery.setRetryDelays(delays);
  }

  /** The next `times` calls of `method` get HTTP 429 with Retry-After, as Slack's rate limiter answers. */
  rateLimit(method: string, times = 1, retryAfterSeconds = 1): void {
    this.rateLimits.set(method, { times, retryAfter: retryAfterSeconds });
  }

  callsOf(method: string): ApiCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  /** Resolves when every delivery in flight (including scheduled redeliveries) has finished. */
  idle(): Promise<void> {
    return this.delivery.idle();
  }

  stop(): void {
    this.delivery.stop();
    this.socketMode?.close();
  }

  snapshot(): EmulatorSnapshot {
    return { workspace: this.workspace.snapshot(), responseUrls: this.responseUrls.all() };
  }

  restore(snapshot: EmulatorSnapshot): void {
    this.workspace.restore(snapshot.workspace);
    this.responseUrls.restore(snapshot.responseUrls);
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
      const error = this.responseUrls.respond(id, body);
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

  // ---------------------------------------------------------------- the other direction: people acting (people.ts)

  command(...args: Parameters<People["command"]>): Promise<InteractionResult> {
    return this.people.command(...args);
  }

  message(...args: Parameters<People["message"]>): Promise<SlackMessage> {
    return this.people.message(...args);
  }

  seed(...args: Parameters<People["seed"]>): SlackMessage {
    return this.people.seed(...args);
  }

  edit(...args: Parameters<People["edit"]>): Promise<void> {
    return this.people.edit(...args);
  }

  remove(...args: Parameters<People["remove"]>): Promise<void> {
    return this.people.remove(...args);
  }

  react(...args: Parameters<People["react"]>): Promise<void> {
    return this.people.react(...args);
  }

  click(...args: Parameters<People["click"]>): Promise<InteractionResult> {
    return this.people.click(...args);
  }

  submitView(...args: Parameters<People["submitView"]>): Promise<InteractionResult> {
    return this.people.submitView(...args);
  }

  closeView(...args: Parameters<People["closeView"]>): void {
    this.people.closeView(...args);
  }

  shortcut(...args: Parameters<People["shortcut"]>): Promise<InteractionResult> {
    return this.people.shortcut(...args);
  }

  /** Ephemeral messages one person can see in a channel. */
  ephemeralsFor(userId: string, channelId?: string): EphemeralMessage[] {
    return this.workspace.ephemerals.filter((e) => e.user === userId && (channelId === undefined || e.channel === channelId));
  }

  // ---------------------------------------------------------------- delivery (delivery.ts)

  /** Wraps an event in the Events API envelope and delivers it, redelivering on failure as Slack does. */
  dispatchEvent(event: Record<string, unknown>): string {
    return this.delivery.dispatchEvent(event);
  }

  /** Sends one envelope again, as a redelivery with the given retry number (tests of dedupe). */
  redeliver(eventId: string, retryNum = 1): Promise<InteractionResult> {
    return this.delivery.redeliver(eventId, retryNum);
  }

  send(...args: Parameters<BotDelivery["send"]>): Promise<InteractionResult> {
    return this.delivery.send(...args);
  }

  private echo(message: SlackMessage): void {
    // An app whose Request URL is not set yet (the bot still starting) gets no events, as in Slack.
    if (this.options.echoBotMessages === false || !this.delivery.hasRequestUrl()) return;
    this.dispatchEvent({ ...publicMessage(message), channel: message.channel, event_ts: message.ts, channel_type: "channel" });
  }

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

  private newTrigger(user: string): string {
    const id = `${Date.now()}.${Math.floor(Math.random() * 1e9)}.${randomUUID().replace(/-/g, "").slice(0, 16)}`;
    this.triggers.set(id, { user, createdAt: Date.now() });
    return id;
  }

  private requireBase(): string {
    if (!this.baseUrl) throw new Error("emulator base URL not set");
    return this.baseUrl;
  }
}
