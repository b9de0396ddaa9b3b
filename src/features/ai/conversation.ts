import type Anthropic from "@anthropic-ai/sdk";
import { type Claude, describeAiError, type MessageParam, textOf } from "./claude.js";
import { runTool, TOOLS, type ToolContext } from "./tools.js";

const MAX_ROUNDS = 6;

export interface ThreadMessage {
  user?: string;
  botId?: string;
  text: string;
  ts: string;
}

/**
 * Slack text as data: wrapped in delimiters the system prompt describes, with any attempt to close the
 * delimiter defused, so a message cannot pose as the bot's own instructions.
 */
export function asData(tag: "slack_message" | "feedback", attributes: Record<string, string>, text: string): string {
  const attrs = Object.entries(attributes)
    .map(([key, value]) => `${key}="${value.replace(/["<>]/g, "")}"`)
    .join(" ");
  const body = text.replace(new RegExp(`</?${tag}`, "gi"), (m) => m.replace("<", "‹"));
  return `<${tag} ${attrs}>\n${body}\n</${tag}>`;
}

/**
 * A Slack thread as conversation turns: the bot's own messages are the assistant's, everyone else's
 * are user turns of delimited data. Consecutive turns of one role are merged; the first is a user's.
 */
export function threadToTurns(thread: ThreadMessage[], botUserId: string): MessageParam[] {
  const turns: MessageParam[] = [];
  for (const message of thread) {
    const fromBot = message.user === botUserId;
    if (!fromBot && !message.text.trim()) continue;
    const role = fromBot ? "assistant" : "user";
    const content = fromBot ? message.text : asData("slack_message", { author: message.user ?? message.botId ?? "unknown", ts: message.ts }, message.text);
    const last = turns.at(-1);
    if (last && last.role === role && typeof last.content === "string") last.content = `${last.content}\n\n${content}`;
    else turns.push({ role, content });
  }
  while (turns[0]?.role === "assistant") turns.shift();
  return turns;
}

interface ConversationResult {
  answer: string;
  rounds: number;
  toolsUsed: string[];
}

/**
 * The tool-use loop: Claude answers, or asks for tools whose results go back to it, for at most
 * MAX_ROUNDS rounds and until the deadline. Errors become a sentence, never silence.
 */
export async function converse(claude: Claude, request: { system: string; turns: MessageParam[]; tools: ToolContext; deadlineMs: number; signal?: AbortSignal }): Promise<ConversationResult> {
  const messages: MessageParam[] = [...request.turns];
  const toolsUsed: string[] = [];
  const deadline = Date.now() + request.deadlineMs;
  for (let round = 1; round <= MAX_ROUNDS; round += 1) {
    const remaining = deadline - Date.now();
    if (remaining <= 0) return { answer: "I ran out of time gathering the facts for this; please ask again, perhaps more narrowly.", rounds: round - 1, toolsUsed };
    let reply: Anthropic.Message;
    try {
      reply = await claude.call({
        purpose: "mention",
        system: request.system,
        messages,
        tools: TOOLS.map((t) => t.definition),
        maxTokens: 1200,
        signal: request.signal ? AbortSignal.any([request.signal, AbortSignal.timeout(remaining)]) : AbortSignal.timeout(remaining),
      });
    } catch (error) {
      return { answer: `Sorry, I could not answer: ${describeAiError(error)}. Try again in a minute, or use \`/orch help\` for the commands.`, rounds: round, toolsUsed };
    }
    const calls = reply.content.filter((block): block is Anthropic.ToolUseBlock => block.type === "tool_use");
    if (reply.stop_reason !== "tool_use" || calls.length === 0) {
      return { answer: textOf(reply) || "I have nothing to add.", rounds: round, toolsUsed };
    }
    messages.push({ role: "assistant", content: reply.content });
    const results: Anthropic.ToolResultBlockParam[] = [];
    for (const call of calls) {
      toolsUsed.push(call.name);
      const result = await runTool(request.tools, call.name, call.input);
      results.push({ type: "tool_result", tool_use_id: call.id, content: result.content, ...(result.isError ? { is_error: true } : {}) });
    }
    messages.push({ role: "user", content: results });
  }
  return { answer: "That took more steps than I allow myself; please ask a narrower question.", rounds: MAX_ROUNDS, toolsUsed };
}
