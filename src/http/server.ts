import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { readBody } from "./body.js";
import type { Log } from "../log.js";

interface HttpRoutes {
  health(): Promise<{ status: number; body: Record<string, unknown> }>;
  metrics(): Promise<{ contentType: string; body: string }>;
  /** POST /slack/events, in HTTP and sandbox modes. */
  slack?: (req: IncomingMessage, res: ServerResponse, rawBody: string) => Promise<void>;
  /** Anything else the mode serves (the sandbox's console and Slack emulator); false when not handled. */
  extra?: (req: IncomingMessage, res: ServerResponse, pathname: string) => Promise<boolean>;
  /** WebSocket upgrades (the sandbox emulator's Socket Mode); false when not taken. */
  upgrade?: (req: IncomingMessage, socket: Duplex, head: Buffer) => boolean;
}

export interface HttpServer {
  server: Server;
  port: number;
  close(): Promise<void>;
}

/** The bot's one HTTP server: /healthz, /metrics and /slack/events in every mode that has them. */
export async function startHttpServer(routes: HttpRoutes, port: number, log: Log, host?: string): Promise<HttpServer> {
  const server = createServer((req, res) => {
    handle(routes, req, res).catch((error: unknown) => {
      log.error("http request failed", { path: req.url, error });
      if (!res.headersSent) {
        res.writeHead(500, { "content-type": "application/json" });
        res.end(JSON.stringify({ ok: false, error: "internal error" }));
      }
    });
  });
  server.on("upgrade", (req, socket, head) => {
    if (!routes.upgrade?.(req, socket, head)) socket.destroy();
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        setTimeout(() => server.closeAllConnections(), 2000).unref();
      }),
  };
}

async function handle(routes: HttpRoutes, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const pathname = new URL(req.url ?? "/", "http://localhost").pathname;
  if (pathname === "/healthz" && (req.method === "GET" || req.method === "HEAD")) {
    const { status, body } = await routes.health();
    res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" });
    res.end(req.method === "HEAD" ? undefined : JSON.stringify(body));
    return;
  }
  if (pathname === "/metrics" && req.method === "GET") {
    const { contentType, body } = await routes.metrics();
    res.writeHead(200, { "content-type": contentType });
    res.end(body);
    return;
  }
  if (pathname === "/slack/events" && routes.slack) {
    if (req.method !== "POST") {
      res.writeHead(405, { allow: "POST" });
      res.end();
      return;
    }
    let raw: string;
    try {
      raw = await readBody(req, 1024 * 1024);
    } catch {
      res.writeHead(413);
      res.end();
      return;
    }
    await routes.slack(req, res, raw);
    return;
  }
  if (routes.extra && (await routes.extra(req, res, pathname))) return;
  res.writeHead(404, { "content-type": "application/json" });
  res.end(JSON.stringify({ ok: false, error: "not found" }));
}
