import { createHmac, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { App, Receiver, ReceiverEvent } from "@slack/bolt";
import type { Log } from "../log.js";
import type { Metrics } from "../metrics.js";
import { REPLAY_WINDOW_SECONDS, type ReplayGuard } from "./replay.js";

const MAX_SKEW_SECONDS = REPLAY_WINDOW_SECONDS;

export type RequestKind = "command" | "action" | "view" | "shortcut" | "event" | "options" | "other";

interface ReceiverOptions {
  signingSecret: string;
  log: Log;
  metrics: Metrics;
  /** Remembers accepted signatures, so a replayed request changes nothing. */
  replay: ReplayGuard;
  /** How long an event may take to be processed before Slack is told to redeliver it. */
  eventDeadlineMs?: number;
  /** How long a command or click may go without being acknowledged. */
  ackDeadlineMs?: number;
}

/**
 * The HTTP side of Slack for Bolt: verifies every request's v0 signature and age, then answers Slack
 * when the listener acknowledges. Events are answered only once they have been processed: an event
 * whose processing failed (the database was down, say) gets a 5xx so Slack redelivers it.
 * The HTTP server itself belongs to the app (it also serves /healthz, /metrics and the sandbox).
 */
export class SignedRequestReceiver implements Receiver {
  private app: App | undefined;
  private readonly eventDeadlineMs: number;
  private readonly ackDeadlineMs: number;

  constructor(private readonly options: ReceiverOptions) {
    this.eventDeadlineMs = options.eventDeadlineMs ?? 2500;
    this.ackDeadlineMs = options.ackDeadlineMs ?? 2800;
  }

  init(app: App): void {
    this.app = app;
  }

  start(): Promise<void> {
    return Promise.resolve();
  }

  stop(): Promise<void> {
    return Promise.resolve();
  }

  async handle(req: IncomingMessage, res: ServerResponse, rawBody: string): Promise<void> {
    const started = performance.now();
    const { metrics, log, replay } = this.options;
    let claimed: string | undefined;
    const finish = (kind: RequestKind, outcome: string, status: number, body?: unknown) => {
      metrics.slackRequests.inc({ kind, outcome });
      metrics.handlerSeconds.observe({ kind }, (performance.now() - started) / 1000);
      // A request refused with a 5xx was not accepted: Slack's redelivery of it must go through.
      if (claimed && status >= 500) void replay.release(claimed);
      if (res.headersSent) return;
      if (body === undefined || body === "") {
        res.writeHead(status);
        res.end();
      } else if (typeof body === "string") {
        res.writeHead(status, { "content-type": "text/plain; charset=utf-8" });
        res.end(body);
      } else {
        res.writeHead(status, { "content-type": "application/json; charset=utf-8" });
        res.end(JSON.stringify(body));
      }
    };

    const verdict = verifySignature(this.options.signingSecret, req.headers, rawBody);
    if (verdict !== "ok") {
      log.warn("slack request refused", { reason: verdict, path: req.url });
      finish("other", "unauthorized", 401, { ok: false, error: verdict });
      return;
    }

    const body = parseBody(req.headers["content-type"], rawBody);
    if (!body) {
      finish("other", "bad_request", 400, { ok: false, error: "unreadable body" });
      return;
    }
    if (body.type === "url_verification") {
      finish("other", "ok", 200, { challenge: body.challenge });
      return;
    }
    if (body.type === "ssl_check") {
      finish("other", "ok", 200);
      return;
    }
    const kind = requestKind(body);
    if (kind === "other") {
      finish(kind, "bad_request", 400, { ok: false, error: "unknown payload" });
      return;
    }
    const app = this.app;
    if (!app) {
      finish(kind, "not_ready", 503);
      return;
    }

    // Commands and interactivity are recorded by signature. An event is recorded by its event_id, which
    // a replay necessarily repeats (src/slack/dedupe.ts), so its signature is not stored on the ingestion path.
    if (kind !== "event") {
      // Verified above, so both headers are present.
      const signature = header(req.headers["x-slack-signature"]) as string;
      const claim = await replay.claim(signature, Number(header(req.headers["x-slack-request-timestamp"])));
      if (claim === "replay") {
        log.info("replayed request acknowledged without processing", { kind });
        finish(kind, "replay", 200);
        return;
      }
      // "unavailable" (the database is down): the command or click still runs and tells the person so.
      if (claim === "first") claimed = signature;
    }

    const retryNum = Number(req.headers["x-slack-retry-num"] ?? Number.NaN);
    const retryReason = header(req.headers["x-slack-retry-reason"]);
    let acked = false;
    let ackBody: unknown;
    let resolveAck: () => void = () => {};
    const ackPromise = new Promise<void>((resolve) => {
      resolveAck = resolve;
    });
    const event: ReceiverEvent = {
      body,
      ...(Number.isInteger(retryNum) ? { retryNum } : {}),
      ...(retryReason ? { retryReason } : {}),
      ack: async (response?: unknown) => {
        if (acked) return;
        acked = true;
        ackBody = response;
        resolveAck();
      },
    };
    const processing = app.processEvent(event);

    if (kind === "event") {
      // Answer only after processing: a 5xx makes Slack redeliver, which is how nothing is lost.
      const outcome = await settleWithin(processing, this.eventDeadlineMs);
      if (outcome === "resolved") finish(kind, "ok", 200);
      else if (outcome === "timeout") {
        log.warn("event still processing at the deadline; asking Slack to redeliver", { eventId: body.event_id });
        finish(kind, "timeout", 503, { ok: false, error: "still processing" });
      } else finish(kind, "error", 500, { ok: false, error: "processing failed" });
      return;
    }

    processing.catch((error: unknown) => log.error("listener failed", { kind, error }));
    const outcome = await raceDeadline(
      Promise.race([
        ackPromise.then(() => "acked" as const),
        processing.then(
          () => "done" as const,
          () => "failed" as const,
        ),
      ]),
      this.ackDeadlineMs,
    );
    if (acked) finish(kind, "ok", 200, ackBody);
    else if (outcome === "failed") finish(kind, "error", 500);
    else if (outcome === "timeout") {
      log.warn("no acknowledgement within the deadline", { kind });
      finish(kind, "timeout", 200);
    } else finish(kind, "unhandled", 200);
  }
}

type Verdict = "ok" | "missing signature" | "stale timestamp" | "bad signature";

function verifySignature(secret: string, headers: IncomingMessage["headers"], rawBody: string, nowMs = Date.now()): Verdict {
  const signature = header(headers["x-slack-signature"]);
  const timestamp = header(headers["x-slack-request-timestamp"]);
  if (!signature || !timestamp || !/^\d+$/.test(timestamp)) return "missing signature";
  if (Math.abs(Math.floor(nowMs / 1000) - Number(timestamp)) > MAX_SKEW_SECONDS) return "stale timestamp";
  const expected = Buffer.from(`v0=${createHmac("sha256", secret).update(`v0:${timestamp}:${rawBody}`).digest("hex")}`);
  const given = Buffer.from(signature);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return "bad signature";
  return "ok";
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function parseBody(contentType: string | undefined, raw: string): Record<string, unknown> | undefined {
  try {
    if ((contentType ?? "").includes("application/json")) {
      const parsed: unknown = JSON.parse(raw);
      return parsed && typeof parsed === "object" && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
    }
    const form = new URLSearchParams(raw);
    const payload = form.get("payload");
    if (payload !== null) {
      const parsed: unknown = JSON.parse(payload);
      return parsed && typeof parsed === "object" && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
    }
    const fields = Object.fromEntries(form);
    return Object.keys(fields).length > 0 ? fields : undefined;
  } catch {
    return undefined;
  }
}

export function requestKind(body: Record<string, unknown>): RequestKind {
  if (body.type === "event_callback") return "event";
  if (typeof body.command === "string") return "command";
  switch (body.type) {
    case "block_actions":
    case "interactive_message":
      return "action";
    case "view_submission":
    case "view_closed":
      return "view";
    case "shortcut":
    case "message_action":
      return "shortcut";
    case "block_suggestion":
      return "options";
    default:
      return "other";
  }
}

function settleWithin(promise: Promise<unknown>, ms: number): Promise<"resolved" | "rejected" | "timeout"> {
  return raceDeadline(
    promise.then(
      () => "resolved" as const,
      () => "rejected" as const,
    ),
    ms,
  );
}

/** The promise's value, or "timeout" after ms; the timer never outlives the race. */
export function raceDeadline<T>(promise: Promise<T>, ms: number): Promise<T | "timeout"> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}
