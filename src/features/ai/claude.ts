import Anthropic from "@anthropic-ai/sdk";
import { and, gte, sql } from "drizzle-orm";
import type { Db } from "../../db/client.js";
import { aiCalls } from "../../db/schema.js";
import type { Log } from "../../log.js";
import type { Metrics } from "../../metrics.js";

export type MessageParam = Anthropic.MessageParam;
export type Tool = Anthropic.Tool;
type Message = Anthropic.Message;

export interface ClaudeOptions {
  apiKey: string;
  baseUrl?: string;
  model: string;
  /** Per request; the SDK retries timeouts, overload (529) and 5xx up to maxRetries times. */
  timeoutMs?: number;
  maxRetries?: number;
}

interface CallRequest {
  purpose: string;
  system: string;
  messages: MessageParam[];
  tools?: Tool[];
  maxTokens?: number;
  signal?: AbortSignal;
}

/**
 * Claude through the Anthropic SDK: every call is stored (purpose, model, tokens, latency, outcome),
 * and the system prompt is marked for prompt caching, since each purpose reuses the same one.
 */
export class Claude {
  private readonly client: Anthropic;

  constructor(
    private readonly options: ClaudeOptions,
    private readonly deps: { db: Db; log: Log; metrics: Metrics },
  ) {
    this.client = new Anthropic({
      apiKey: options.apiKey,
      ...(options.baseUrl ? { baseURL: options.baseUrl } : {}),
      maxRetries: options.maxRetries ?? 2,
      timeout: options.timeoutMs ?? 60_000,
    });
  }

  get model(): string {
    return this.options.model;
  }

  async call(request: CallRequest): Promise<Message> {
    const started = performance.now();
    try {
      const message = await this.client.messages.create(
        {
          model: this.options.model,
          max_tokens: request.maxTokens ?? 1024,
          system: [{ type: "text", text: request.system, cache_control: { type: "ephemeral" } }],
          messages: request.messages,
          ...(request.tools && request.tools.length > 0 ? { tools: request.tools } : {}),
        },
        request.signal ? { signal: request.signal } : {},
      );
      await this.record(request.purpose, started, "ok", undefined, message.usage);
      return message;
    } catch (error) {
      await this.record(request.purpose, started, outcomeOf(error), error instanceof Error ? error.message.slice(0, 500) : String(error));
      throw error;
    }
  }

  private async record(purpose: string, started: number, outcome: string, error?: string, usage?: Anthropic.Usage): Promise<void> {
    this.deps.metrics.aiCalls.inc({ purpose, outcome });
    try {
      await this.deps.db.insert(aiCalls).values({
        purpose,
        model: this.options.model,
        inputTokens: usage?.input_tokens ?? 0,
        outputTokens: usage?.output_tokens ?? 0,
        cacheReadTokens: usage?.cache_read_input_tokens ?? 0,
        cacheWriteTokens: usage?.cache_creation_input_tokens ?? 0,
        latencyMs: Math.round(performance.now() - started),
        outcome,
        error: error ?? null,
      });
    } catch (recordError) {
      this.deps.log.warn("could not record a Claude call", { purpose, error: recordError });
    }
  }
}

function outcomeOf(error: unknown): string {
  if (error instanceof Anthropic.APIConnectionTimeoutError) return "timeout";
  if (error instanceof Anthropic.APIUserAbortError) return "aborted";
  if (error instanceof Anthropic.APIConnectionError) return "unreachable";
  if (error instanceof Anthropic.APIError) {
    if (error.status === 529) return "overloaded";
    if (error.status === 429) return "rate_limited";
    if (error.status === 401 || error.status === 403) return "unauthorized";
    return `http_${error.status ?? "error"}`;
  }
  return "error";
}

/** What went wrong with Claude, as a sentence for the person waiting on an answer. */
export function describeAiError(error: unknown): string {
  switch (outcomeOf(error)) {
    case "timeout":
      return "Claude did not answer in time";
    case "overloaded":
      return "Claude is overloaded right now (it said so several times in a row)";
    case "rate_limited":
      return "Claude's rate limit for this workspace is reached";
    case "unauthorized":
      return "Claude refused the API key (check ANTHROPIC_API_KEY)";
    case "unreachable":
      return "Claude's API could not be reached";
    case "aborted":
      return "the answer was interrupted (Orchestrator is shutting down)";
    default:
      return "Claude returned an error";
  }
}

/** This month's calls and tokens, for `/orch status`. */
export async function usageThisMonth(db: Db, timeZone: string): Promise<{ calls: number; failed: number; input: number; output: number; cacheRead: number }> {
  const [row] = await db
    .select({
      calls: sql<number>`count(*)::int`,
      failed: sql<number>`count(*) filter (where ${aiCalls.outcome} <> 'ok')::int`,
      input: sql<number>`coalesce(sum(${aiCalls.inputTokens}), 0)::int`,
      output: sql<number>`coalesce(sum(${aiCalls.outputTokens}), 0)::int`,
      cacheRead: sql<number>`coalesce(sum(${aiCalls.cacheReadTokens}), 0)::int`,
    })
    .from(aiCalls)
    .where(and(gte(aiCalls.at, sql`date_trunc('month', now() at time zone ${timeZone}) at time zone ${timeZone}`)));
  return row ?? { calls: 0, failed: 0, input: 0, output: 0, cacheRead: 0 };
}

/** The text blocks of a reply, joined. */
export function textOf(message: Message): string {
  return message.content
    .filter((block): block is Anthropic.TextBlock => block.type === "text")
    .map((block) => block.text)
    .join("\n")
    .trim();
}
