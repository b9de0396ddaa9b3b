import { createHmac, randomUUID } from "node:crypto";
import type { EnvelopeType, SocketModeServer } from "./socket-mode.js";

/** Sending the bot what Slack sends: signed requests to its Request URL, or envelopes over Socket Mode; events redelivered until acknowledged. */

export type DeliveryKind = "event" | "command" | "action" | "view" | "shortcut";

export interface Delivery {
  kind: DeliveryKind;
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

interface DeliveryExtra {
  retryNum?: number;
  retryReason?: string;
  eventId?: string;
}

interface DeliveryOptions {
  signingSecret: string;
  teamId: string;
  appId: string;
  botUserId: string;
  socketMode: SocketModeServer | undefined;
  requestUrl: string | undefined;
  retryDelaysMs: number[] | undefined;
  ackTimeoutMs: number | undefined;
}

export class BotDelivery {
  readonly deliveries: Delivery[] = [];
  private requestUrls: string[];
  private nextRequestUrl = 0;
  private readonly pending = new Set<Promise<unknown>>();
  private retryDelaysMs: number[];
  private stopped = false;

  constructor(private readonly options: DeliveryOptions) {
    this.requestUrls = options.requestUrl ? [options.requestUrl] : [];
    this.retryDelaysMs = options.retryDelaysMs ?? [0, 60_000, 300_000];
  }

  /** The bot's Request URL; several URLs are used in turn, as a load balancer in front of replicas would. */
  setRequestUrl(url: string | string[]): void {
    this.requestUrls = Array.isArray(url) ? [...url] : [url];
    this.nextRequestUrl = 0;
  }

  hasRequestUrl(): boolean {
    return this.requestUrls.length > 0;
  }

  setRetryDelays(delays: number[]): void {
    this.retryDelaysMs = delays;
  }

  /** Resolves when every delivery in flight (including scheduled redeliveries) has finished. */
  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  stop(): void {
    this.stopped = true;
  }

  /** Wraps an event in the Events API envelope and delivers it, redelivering on failure as Slack does. */
  dispatchEvent(event: Record<string, unknown>): string {
    const eventId = `Ev${randomUUID().replace(/-/g, "").slice(0, 10).toUpperCase()}`;
    const envelope = {
      token: "verification-token-unused",
      team_id: this.options.teamId,
      context_team_id: this.options.teamId,
      api_app_id: this.options.appId,
      event,
      type: "event_callback",
      event_id: eventId,
      event_time: Math.floor(Date.now() / 1000),
      authorizations: [{ enterprise_id: null, team_id: this.options.teamId, user_id: this.options.botUserId, is_bot: true, is_enterprise_install: false }],
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
    return this.send("event", first.body, "application/json", { retryNum, retryReason: this.options.socketMode ? "timeout" : "http_timeout", eventId });
  }

  private deliverEvent(body: string, eventId: string): void {
    const attempt = async () => {
      for (let retry = 0; retry <= this.retryDelaysMs.length; retry += 1) {
        if (this.stopped) return;
        if (retry > 0) await sleep(this.retryDelaysMs[retry - 1] ?? 0);
        if (this.stopped) return;
        const result = await this.send("event", body, "application/json", retry > 0 ? { retryNum: retry, retryReason: this.options.socketMode ? "timeout" : "http_error", eventId } : { eventId });
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
    return this.options.socketMode ? this.sendOverSocket(this.options.socketMode, kind, body, contentType, extra) : this.sendSigned(kind, body, contentType, extra);
  }

  /** The Socket Mode envelope of the same request: events_api carries the Events API envelope, the others the parsed payload. */
  private async sendOverSocket(server: SocketModeServer, kind: Delivery["kind"], body: string, contentType: string, extra: DeliveryExtra): Promise<InteractionResult> {
    const form = contentType.includes("json") ? undefined : new URLSearchParams(body);
    const formPayload = form?.get("payload");
    const payload = (form ? (formPayload !== null && formPayload !== undefined ? JSON.parse(formPayload) : Object.fromEntries(form)) : JSON.parse(body)) as Record<string, unknown>;
    const type: EnvelopeType = kind === "event" ? "events_api" : kind === "command" ? "slash_commands" : "interactive";
    // Slack accepts a response in the ack for slash commands, view submissions and options requests.
    const acceptsResponsePayload = kind === "command" || kind === "view" || payload.type === "block_suggestion";
    const outcome = await server.deliver(type, payload, {
      acceptsResponsePayload,
      ...(extra.retryNum !== undefined ? { retryAttempt: extra.retryNum, retryReason: extra.retryReason ?? "timeout" } : {}),
    });
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
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
