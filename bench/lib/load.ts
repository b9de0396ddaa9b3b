import { createHmac } from "node:crypto";
import { Agent, request } from "node:http";

export interface SignedResponse {
  status: number;
  body: string;
  /** Milliseconds from writing the request to the end of the response. */
  ms: number;
}

/**
 * The load generator's side of Slack: POSTs signed exactly as `SlackEmulator.send()` signs them
 * (v0 HMAC-SHA256 over `v0:{timestamp}:{raw body}`, the same headers), over keep-alive connections
 * (one per request in flight). Plain `node:http` keeps the generator's own cost low and equal for
 * every target, so the figures say more about the server than about the client.
 */
export class SignedClient {
  private readonly agent: Agent;
  private readonly url: URL;

  constructor(
    target: string,
    private readonly signingSecret: string,
    maxSockets: number,
  ) {
    this.url = new URL(target);
    this.agent = new Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
  }

  post(body: string, contentType: string, extraHeaders: Record<string, string> = {}, timeoutMs = 10_000): Promise<SignedResponse> {
    const timestamp = Math.floor(Date.now() / 1000).toString();
    const signature = `v0=${createHmac("sha256", this.signingSecret).update(`v0:${timestamp}:${body}`).digest("hex")}`;
    const headers: Record<string, string | number> = {
      "content-type": contentType,
      "content-length": Buffer.byteLength(body),
      "x-slack-request-timestamp": timestamp,
      "x-slack-signature": signature,
      "user-agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
      ...extraHeaders,
    };
    return new Promise((resolve) => {
      const started = performance.now();
      const req = request({ agent: this.agent, method: "POST", hostname: this.url.hostname, port: this.url.port, path: this.url.pathname, headers, timeout: timeoutMs }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8"), ms: performance.now() - started }));
        res.on("error", () => resolve({ status: 0, body: "", ms: performance.now() - started }));
      });
      req.on("timeout", () => req.destroy(new Error("timeout")));
      req.on("error", (error) => resolve({ status: error.message === "timeout" ? 408 : 0, body: String(error), ms: performance.now() - started }));
      req.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** Runs `work` over every item with at most `concurrency` in flight; resolves when all are done. */
export async function inFlight<T>(items: readonly T[], concurrency: number, work: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next;
      next += 1;
      await work(items[index] as T, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
