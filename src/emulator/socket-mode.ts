import { randomUUID } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { type RawData, type WebSocket, WebSocketServer } from "ws";
import { z } from "zod";

/**
 * Slack's side of Socket Mode, for the emulator: `apps.connections.open` hands out one-use `ws://` URLs,
 * each connection gets `hello`, envelopes go to exactly one live connection, the client's ack
 * `{envelope_id, payload?}` settles an envelope (its payload is the response of a command or a view
 * submission), and an envelope not acked in time is reported un-acked so the emulator redelivers it.
 * Every frame both ways is recorded, as the Web API calls are.
 */

export type EnvelopeType = "events_api" | "slash_commands" | "interactive";
type DisconnectReason = "warning" | "refresh_requested" | "too_many_websockets";

interface SocketFrame {
  connection: string;
  direction: "sent" | "received";
  message: Record<string, unknown>;
  at: number;
  /** An ack lost on the way (see `loseAcks`): Slack never saw it. */
  lost?: boolean;
}

interface SocketConnection {
  id: string;
  openedAt: number;
  closedAt?: number;
  /** Why the server turned the connection away (the eleventh one). */
  refused?: "too_many_websockets";
}

interface EnvelopeOutcome {
  envelopeId: string;
  acked: boolean;
  /** The ack's payload: a slash command's or view submission's response. */
  payload?: Record<string, unknown>;
  connection?: string;
  failure?: "timeout" | "connection_closed" | "no_connection";
}

interface SocketModeServerOptions {
  appId: string;
  /** How long Slack waits for an ack (3 s). */
  ackTimeoutMs?: number;
  /** Slack allows 10 connections per app. */
  maxConnections?: number;
  /** The server pings each connection this often; the SDK client drops a connection after 30 s without one. */
  pingIntervalMs?: number;
  /** How long a one-use URL from apps.connections.open stays valid. */
  ticketTtlMs?: number;
}

const ackSchema = z.object({ envelope_id: z.string().min(1), payload: z.record(z.string(), z.unknown()).optional() });

interface LiveConnection {
  record: SocketConnection;
  socket: WebSocket;
  /** After `refresh_requested` or `too_many_websockets`, no new envelope goes to it. */
  draining: boolean;
  pending: Map<string, { envelope: Record<string, unknown>; settle: (outcome: EnvelopeOutcome) => void }>;
  ping: NodeJS.Timeout;
}

const LINK_PATH = "/link/";
const DEBUG_HOST = "applink-emulator";

export class SocketModeServer {
  readonly frames: SocketFrame[] = [];
  readonly connections: SocketConnection[] = [];
  private readonly wss = new WebSocketServer({ noServer: true });
  private readonly tickets = new Map<string, number>();
  private readonly live = new Map<string, LiveConnection>();
  private readonly waiting = new Set<() => void>();
  private readonly ackTimeoutMs: number;
  private readonly maxConnections: number;
  private readonly pingIntervalMs: number;
  private readonly ticketTtlMs: number;
  private nextConnection = 0;
  private roundRobin = 0;
  private acksToLose = { count: 0, match: (_envelope: Record<string, unknown>) => true };
  private closed = false;

  constructor(private readonly options: SocketModeServerOptions) {
    this.ackTimeoutMs = options.ackTimeoutMs ?? 3000;
    this.maxConnections = options.maxConnections ?? 10;
    this.pingIntervalMs = options.pingIntervalMs ?? 10_000;
    this.ticketTtlMs = options.ticketTtlMs ?? 60_000;
  }

  /** apps.connections.open: a fresh one-use WebSocket URL on the emulator's own host. */
  connectionUrl(baseUrl: string): string {
    const ticket = randomUUID();
    this.tickets.set(ticket, Date.now());
    const url = new URL(LINK_PATH, baseUrl);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    url.searchParams.set("ticket", ticket);
    url.searchParams.set("app_id", this.options.appId);
    return url.toString();
  }

  /** Takes an HTTP upgrade on /link/ with a valid ticket; anything else is refused. Returns false for other paths. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    const url = new URL(req.url ?? "/", "http://localhost");
    if (url.pathname !== LINK_PATH) return false;
    const ticket = url.searchParams.get("ticket") ?? "";
    const issued = this.tickets.get(ticket);
    this.tickets.delete(ticket);
    if (this.closed || issued === undefined || Date.now() - issued > this.ticketTtlMs) {
      socket.end("HTTP/1.1 401 Unauthorized\r\nconnection: close\r\ncontent-length: 0\r\n\r\n");
      return true;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws));
    return true;
  }

  /** Ids of the connections an envelope may go to now. */
  liveConnections(): string[] {
    return [...this.live.values()].filter((c) => !c.draining).map((c) => c.record.id);
  }

  /** Sends one envelope to exactly one live connection and waits for its ack, the ack timeout, or the connection to close. */
  async deliver(type: EnvelopeType, payload: Record<string, unknown>, options: { retryAttempt?: number; retryReason?: string; acceptsResponsePayload?: boolean } = {}): Promise<EnvelopeOutcome> {
    const envelopeId = randomUUID();
    const connection = await this.pickConnection();
    if (!connection) return { envelopeId, acked: false, failure: "no_connection" };
    const envelope = {
      envelope_id: envelopeId,
      type,
      payload,
      accepts_response_payload: options.acceptsResponsePayload ?? false,
      ...(type === "events_api" ? { retry_attempt: options.retryAttempt ?? 0, retry_reason: options.retryReason ?? "" } : {}),
    };
    return new Promise<EnvelopeOutcome>((resolve) => {
      const timer = setTimeout(() => settle({ envelopeId, acked: false, connection: connection.record.id, failure: "timeout" }), this.ackTimeoutMs);
      const settle = (outcome: EnvelopeOutcome) => {
        clearTimeout(timer);
        connection.pending.delete(envelopeId);
        resolve(outcome);
      };
      connection.pending.set(envelopeId, { envelope, settle });
      this.send(connection, envelope);
    });
  }

  /** Sends `disconnect` with the reason to one connection, or to every one. After `refresh_requested` the connection gets no new envelopes. */
  disconnect(reason: DisconnectReason, connectionId?: string): void {
    for (const connection of this.live.values()) {
      if (connectionId !== undefined && connection.record.id !== connectionId) continue;
      if (reason !== "warning") connection.draining = true;
      this.send(connection, { type: "disconnect", reason, debug_info: { host: DEBUG_HOST } });
    }
  }

  /** The next `count` acks of envelopes that `match` are lost on the way, as when a connection fails just after the client sent them. */
  loseAcks(count: number, match: (envelope: Record<string, unknown>) => boolean = () => true): void {
    this.acksToLose = { count, match };
  }

  /** Closes a connection abruptly, as a network failure would. */
  drop(connectionId: string): void {
    this.live.get(connectionId)?.socket.terminate();
  }

  close(): void {
    this.closed = true;
    for (const wake of this.waiting) wake();
    for (const connection of this.live.values()) connection.socket.terminate();
    this.wss.close();
  }

  private accept(socket: WebSocket): void {
    this.nextConnection += 1;
    const record: SocketConnection = { id: `conn-${this.nextConnection}`, openedAt: Date.now() };
    this.connections.push(record);
    const ping = setInterval(() => socket.ping(`ping-${Date.now()}`), this.pingIntervalMs);
    ping.unref();
    const connection: LiveConnection = { record, socket, draining: false, pending: new Map(), ping };
    socket.on("message", (data, isBinary) => this.receive(connection, data, isBinary));
    socket.on("close", () => this.forget(connection));
    socket.on("error", () => socket.terminate());
    if (this.live.size >= this.maxConnections) {
      record.refused = "too_many_websockets";
      this.send(connection, { type: "disconnect", reason: "too_many_websockets", debug_info: { host: DEBUG_HOST } });
      socket.close(1008, "too_many_websockets");
      return;
    }
    this.live.set(record.id, connection);
    this.send(connection, {
      type: "hello",
      num_connections: this.live.size,
      debug_info: { host: DEBUG_HOST, build_number: 1, approximate_connection_time: 18_060 },
      connection_info: { app_id: this.options.appId },
    });
    for (const wake of this.waiting) wake();
  }

  private receive(connection: LiveConnection, data: RawData, isBinary: boolean): void {
    if (isBinary) return;
    let message: unknown;
    try {
      message = JSON.parse(data.toString());
    } catch {
      return;
    }
    const parsed = ackSchema.safeParse(message);
    const pending = parsed.success ? connection.pending.get(parsed.data.envelope_id) : undefined;
    const lost = pending !== undefined && this.acksToLose.count > 0 && this.acksToLose.match(pending.envelope);
    if (lost) this.acksToLose.count -= 1;
    this.frames.push({
      connection: connection.record.id,
      direction: "received",
      message: (message && typeof message === "object" ? message : { value: message }) as Record<string, unknown>,
      at: Date.now(),
      ...(lost ? { lost } : {}),
    });
    if (!parsed.success || !pending || lost) return;
    pending.settle({ envelopeId: parsed.data.envelope_id, acked: true, connection: connection.record.id, ...(parsed.data.payload ? { payload: parsed.data.payload } : {}) });
  }

  private forget(connection: LiveConnection): void {
    clearInterval(connection.ping);
    connection.record.closedAt = Date.now();
    this.live.delete(connection.record.id);
    for (const [envelopeId, { settle }] of connection.pending) settle({ envelopeId, acked: false, connection: connection.record.id, failure: "connection_closed" });
  }

  private send(connection: LiveConnection, message: Record<string, unknown>): void {
    this.frames.push({ connection: connection.record.id, direction: "sent", message, at: Date.now() });
    connection.socket.send(JSON.stringify(message));
  }

  /** The next live connection in turn; waits up to the ack timeout for one to appear (a client reconnecting). */
  private async pickConnection(): Promise<LiveConnection | undefined> {
    const deadline = Date.now() + this.ackTimeoutMs;
    while (!this.closed) {
      const candidates = [...this.live.values()].filter((c) => !c.draining);
      if (candidates.length > 0) {
        const chosen = candidates[this.roundRobin % candidates.length];
        this.roundRobin += 1;
        return chosen;
      }
      const left = deadline - Date.now();
      if (left <= 0) return undefined;
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          this.waiting.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, left);
        this.waiting.add(wake);
      });
    }
    return undefined;
  }
}
