import type { App, Receiver, ReceiverEvent } from "@slack/bolt";
import type { Logger } from "@slack/bolt";
import { SocketModeClient } from "@slack/socket-mode";
import type { Log } from "../log.js";
import type { Metrics } from "../metrics.js";
import { raceDeadline, type RequestKind, requestKind } from "./receiver.js";

interface SocketReceiverOptions {
  appToken: string;
  /** Base URL of the Web API that serves apps.connections.open (the emulator's, in tests and the sandbox). */
  apiUrl?: string;
  log: Log;
  metrics: Metrics;
  logger: Logger;
  /** How long the client waits for a pong; also the step of its linear reconnect backoff (SDK default 5 s). */
  clientPingTimeoutMs?: number;
  /** How long the client waits for the server's ping before it reconnects (SDK default 30 s). */
  serverPingTimeoutMs?: number;
  /** How long a command or click may go without being acknowledged before it is acked empty. */
  ackDeadlineMs?: number;
}

interface SlackEventArgs {
  ack: (response?: Record<string, unknown> | string) => Promise<void>;
  envelope_id: string;
  type: string;
  body: Record<string, unknown>;
  retry_num?: number;
  retry_reason?: string;
}

/**
 * Socket Mode for Bolt with HTTP mode's guarantee: an `events_api` envelope is acked only after Bolt has
 * processed it (stored, or claimed by the dedupe middleware), so an envelope whose processing failed stays
 * un-acked and Slack redelivers it; a redelivery is deduped exactly as in HTTP mode. Commands and clicks
 * are acked when their listener calls ack(), with its response payload. `@slack/socket-mode` does the
 * protocol: hello, disconnect, pings, and reconnecting with linear backoff.
 */
export class LosslessSocketModeReceiver implements Receiver {
  readonly client: SocketModeClient;
  private app: App | undefined;
  private readonly ackDeadlineMs: number;

  constructor(private readonly options: SocketReceiverOptions) {
    this.ackDeadlineMs = options.ackDeadlineMs ?? 2800;
    this.client = new SocketModeClient({
      appToken: options.appToken,
      logger: options.logger,
      autoReconnectEnabled: true,
      ...(options.clientPingTimeoutMs ? { clientPingTimeout: options.clientPingTimeoutMs } : {}),
      ...(options.serverPingTimeoutMs ? { serverPingTimeout: options.serverPingTimeoutMs } : {}),
      clientOptions: {
        ...(options.apiUrl ? { slackApiUrl: options.apiUrl } : {}),
        // apps.connections.open is Tier 1: keep trying, but slowly.
        retryConfig: { retries: 20, factor: 1.6, minTimeout: 1000, maxTimeout: 30_000, randomize: true },
      },
    });
    this.client.on("slack_event", (args: SlackEventArgs) => {
      this.handle(args).catch((error: unknown) => options.log.error("socket mode envelope failed", { envelopeId: args.envelope_id, error }));
    });
  }

  init(app: App): void {
    this.app = app;
  }

  async start(): Promise<void> {
    await this.client.start();
  }

  async stop(): Promise<void> {
    await this.client.disconnect();
  }

  private async handle(args: SlackEventArgs): Promise<void> {
    const started = performance.now();
    const { log, metrics } = this.options;
    const kind: RequestKind = requestKind(args.body);
    const finish = (outcome: string) => {
      metrics.slackRequests.inc({ kind, outcome });
      metrics.handlerSeconds.observe({ kind }, (performance.now() - started) / 1000);
    };
    const app = this.app;
    if (!app) {
      // Not acked: Slack redelivers once the app is ready.
      finish("not_ready");
      return;
    }
    const retry = args.retry_num ? { retryNum: args.retry_num, ...(args.retry_reason ? { retryReason: args.retry_reason } : {}) } : {};

    if (args.type === "events_api") {
      // Bolt acks an event before its listeners run; that early ack is not Slack's: the envelope is acked below.
      const event: ReceiverEvent = { body: args.body, ...retry, ack: async () => {} };
      try {
        await app.processEvent(event);
      } catch (error) {
        log.warn("event processing failed; leaving the envelope un-acked so Slack redelivers it", { envelopeId: args.envelope_id, eventId: args.body.event_id, error });
        finish("error");
        return;
      }
      await this.ack(args, undefined, "event");
      finish("ok");
      return;
    }

    let acked = false;
    let resolveAck: () => void = () => {};
    const ackSent = new Promise<void>((resolve) => {
      resolveAck = resolve;
    });
    const event: ReceiverEvent = {
      body: args.body,
      ...retry,
      ack: async (response?: unknown) => {
        if (acked) return;
        acked = true;
        await this.ack(args, response, kind);
        resolveAck();
      },
    };
    const processing = app.processEvent(event);
    processing.catch((error: unknown) => log.error("listener failed", { kind, envelopeId: args.envelope_id, error }));
    const outcome = await raceDeadline(
      Promise.race([
        ackSent.then(() => "acked" as const),
        processing.then(
          () => "done" as const,
          () => "failed" as const,
        ),
      ]),
      this.ackDeadlineMs,
    );
    if (acked) {
      finish("ok");
      return;
    }
    if (outcome === "failed") {
      // Left un-acked: Slack tells the person the command failed, as a 5xx does in HTTP mode.
      finish("error");
      return;
    }
    if (outcome === "timeout") log.warn("no acknowledgement within the deadline", { kind, envelopeId: args.envelope_id });
    acked = true;
    await this.ack(args, undefined, kind);
    finish(outcome === "timeout" ? "timeout" : "unhandled");
  }

  /** An ack that cannot be sent (the connection just closed) leaves the envelope to Slack's redelivery. */
  private async ack(args: SlackEventArgs, response: unknown, kind: RequestKind): Promise<void> {
    try {
      await args.ack(typeof response === "string" || (response && typeof response === "object") ? (response as Record<string, unknown> | string) : undefined);
    } catch (error) {
      this.options.log.warn("could not ack a Socket Mode envelope; Slack will redeliver it", { kind, envelopeId: args.envelope_id, error });
    }
  }
}
