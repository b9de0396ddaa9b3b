import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/** What the Messages API received: the JSON body of POST /v1/messages. */
export interface ClaudeRequest {
  model: string;
  max_tokens: number;
  system: Array<{ type: string; text: string; cache_control?: { type: string } }>;
  messages: Array<{ role: "user" | "assistant"; content: string | Array<Record<string, unknown>> }>;
  tools?: Array<{ name: string; description: string; input_schema: Record<string, unknown> }>;
}

export interface FakeResponse {
  status?: number;
  body: unknown;
  delayMs?: number;
  headers?: Record<string, string>;
}

export type Responder = (request: ClaudeRequest, index: number) => FakeResponse;

let messageCounter = 0;

/** A reply in the Messages API's shape, with usage as the real API reports it. */
export function textReply(text: string, usage: Partial<Record<string, number>> = {}): FakeResponse {
  messageCounter += 1;
  return {
    body: {
      id: `msg_fake${messageCounter}`,
      type: "message",
      role: "assistant",
      model: "claude-test",
      content: [{ type: "text", text }],
      stop_reason: "end_turn",
      stop_sequence: null,
      usage: { input_tokens: 420, output_tokens: 60, cache_creation_input_tokens: 0, cache_read_input_tokens: 380, ...usage },
    },
  };
}

export function toolReply(calls: Array<{ name: string; input: Record<string, unknown> }>, text = ""): FakeResponse {
  messageCounter += 1;
  return {
    body: {
      id: `msg_fake${messageCounter}`,
      type: "message",
      role: "assistant",
      model: "claude-test",
      content: [...(text ? [{ type: "text", text }] : []), ...calls.map((call, i) => ({ type: "tool_use", id: `toolu_fake${messageCounter}_${i}`, name: call.name, input: call.input }))],
      stop_reason: "tool_use",
      stop_sequence: null,
      usage: { input_tokens: 900, output_tokens: 45, cache_creation_input_tokens: 0, cache_read_input_tokens: 700 },
    },
  };
}

export function overloaded(): FakeResponse {
  return { status: 529, body: { type: "error", error: { type: "overloaded_error", message: "Overloaded" } }, headers: { "retry-after-ms": "5", "x-should-retry": "true" } };
}

/** A local stand-in for the Anthropic Messages API (ANTHROPIC_BASE_URL), answering from the test's script. */
export class FakeClaude {
  readonly requests: ClaudeRequest[] = [];
  private server: Server | undefined;
  url = "";
  /** Picks the answer for each request; tests replace it. */
  responder: Responder = () => textReply("Hello from the fake model.");

  async start(): Promise<void> {
    const server = createServer((req, res) => {
      let raw = "";
      req.on("data", (chunk: Buffer) => (raw += chunk.toString()));
      req.on("end", () => {
        if (req.method !== "POST" || req.url !== "/v1/messages") {
          res.writeHead(404, { "content-type": "application/json" });
          res.end(JSON.stringify({ type: "error", error: { type: "not_found_error", message: req.url } }));
          return;
        }
        const request = JSON.parse(raw) as ClaudeRequest;
        this.requests.push(request);
        const response = this.responder(request, this.requests.length - 1);
        const send = () => {
          if (res.destroyed) return;
          res.writeHead(response.status ?? 200, { "content-type": "application/json", "request-id": `req_${this.requests.length}`, ...response.headers });
          res.end(JSON.stringify(response.body));
        };
        if (response.delayMs) setTimeout(send, response.delayMs);
        else send();
      });
    });
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  /** Requests whose system prompt contains the text (to tell mentions, triage and digests apart). */
  requestsFor(systemText: string): ClaudeRequest[] {
    return this.requests.filter((r) => r.system.some((s) => s.text.includes(systemText)));
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
