import type { IncomingMessage } from "node:http";
import { checkBlocks, LIMITS } from "./limits.js";
import { channelObject, userObject, viewObject } from "./shapes.js";
import { compareTs, type SlackMessage, type Workspace } from "./workspace.js";

/** The Web API methods the bot calls, with Slack's response shapes and error codes, over the emulated workspace. */

/** What the methods need of the emulator: its workspace, the bot's identity, the open triggers, and how a post reaches the bot as an event. */
interface WebApiHost {
  workspace: Workspace;
  botUserId: string;
  botId: string;
  appId: string;
  botName: string;
  triggers: Map<string, Trigger>;
  threadFields(channel: string, threadTs: string): Pick<SlackMessage, "thread_ts" | "parent_user_id">;
  addRoot(message: SlackMessage): void;
  echo(message: SlackMessage): void;
}

export interface Trigger {
  user: string;
  createdAt: number;
  /** A trigger opens one view; using it again is `exchanged_trigger_id`. */
  exchanged?: boolean;
}

type Method = (args: Record<string, unknown>) => Record<string, unknown>;

const TRIGGER_TTL_MS = 3000;

export function webApiMethods(host: WebApiHost): Record<string, Method> {
  return {
    "auth.test": () => ({
      ok: true,
      url: `https://${host.workspace.teamDomain}.slack.test/`,
      team: "Orchestrator Sandbox",
      user: host.botName ?? "orchestrator",
      team_id: host.workspace.teamId,
      user_id: host.botUserId,
      bot_id: host.botId,
      is_enterprise_install: false,
    }),
    "chat.postMessage": (args) => {
      const channel = str(args.channel);
      if (!channel || !host.workspace.channels.has(channel)) return { ok: false, error: "channel_not_found" };
      const content = postContent(args);
      if ("error" in content) return { ok: false, ...content };
      const threadTs = str(args.thread_ts);
      const message = host.workspace.insert({
        type: "message",
        ts: host.workspace.nextTs(),
        channel,
        user: host.botUserId,
        bot_id: host.botId,
        app_id: host.appId,
        text: content.text,
        ...(content.blocks ? { blocks: content.blocks } : {}),
        ...(threadTs ? host.threadFields(channel, threadTs) : {}),
        ...(threadTs && truthy(args.reply_broadcast) ? { subtype: "thread_broadcast" } : {}),
        team: host.workspace.teamId,
      });
      host.addRoot(message);
      host.echo(message);
      return { ok: true, channel, ts: message.ts, message: publicMessage(message) };
    },
    "chat.update": (args) => {
      const channel = str(args.channel);
      const ts = str(args.ts);
      if (!channel || !host.workspace.channels.has(channel)) return { ok: false, error: "channel_not_found" };
      const message = ts ? host.workspace.find(channel, ts) : undefined;
      if (!message || message.deleted) return { ok: false, error: "message_not_found" };
      if (message.bot_id !== host.botId) return { ok: false, error: "cant_update_message" };
      const content = postContent(args);
      if ("error" in content) return { ok: false, ...content };
      message.text = content.text;
      if (content.blocks) message.blocks = content.blocks;
      else if (args.blocks !== undefined) delete message.blocks;
      message.edited = { user: host.botUserId, ts: host.workspace.nextTs() };
      host.workspace.changed(channel, message.ts);
      return { ok: true, channel, ts: message.ts, text: message.text, message: publicMessage(message) };
    },
    "chat.postEphemeral": (args) => {
      const channel = str(args.channel);
      const user = str(args.user);
      if (!channel || !host.workspace.channels.has(channel)) return { ok: false, error: "channel_not_found" };
      // Slack answers for someone who is not in the channel, which includes someone who does not exist.
      if (!user || !host.workspace.users.has(user)) return { ok: false, error: "user_not_in_channel" };
      const content = postContent(args);
      if ("error" in content) return { ok: false, ...content };
      const threadTs = str(args.thread_ts);
      const ephemeral = host.workspace.addEphemeral({ channel, user, text: content.text, ...(content.blocks ? { blocks: content.blocks } : {}), ...(threadTs ? { thread_ts: threadTs } : {}) });
      return { ok: true, message_ts: ephemeral.ts };
    },
    "chat.getPermalink": (args) => {
      const channel = str(args.channel);
      const ts = str(args.message_ts);
      if (!channel || !host.workspace.channels.has(channel)) return { ok: false, error: "channel_not_found" };
      const message = ts ? host.workspace.find(channel, ts) : undefined;
      if (!message || !ts) return { ok: false, error: "message_not_found" };
      const thread = message.thread_ts && message.thread_ts !== message.ts ? `?thread_ts=${message.thread_ts}&cid=${channel}` : "";
      return { ok: true, channel, permalink: `https://${host.workspace.teamDomain}.slack.test/archives/${channel}/p${ts.replace(".", "")}${thread}` };
    },
    "chat.delete": (args) => {
      const channel = str(args.channel);
      const ts = str(args.ts);
      if (!channel || !host.workspace.channels.has(channel)) return { ok: false, error: "channel_not_found" };
      const message = ts ? host.workspace.find(channel, ts) : undefined;
      if (!message || message.deleted) return { ok: false, error: "message_not_found" };
      if (message.bot_id !== host.botId) return { ok: false, error: "cant_delete_message" };
      message.deleted = true;
      host.workspace.changed(channel, message.ts);
      return { ok: true, channel, ts };
    },
    "reactions.add": (args) => {
      const channel = str(args.channel);
      const ts = str(args.timestamp);
      const name = str(args.name);
      if (!channel || !host.workspace.channels.has(channel)) return { ok: false, error: "channel_not_found" };
      if (!name || !/^[a-z0-9_+-]+$/.test(name)) return { ok: false, error: "invalid_name" };
      if (!ts) return { ok: false, error: "no_item_specified" };
      const message = host.workspace.find(channel, ts);
      if (!message || message.deleted) return { ok: false, error: "message_not_found" };
      const error = addReaction(message, name, host.botUserId);
      if (error) return { ok: false, error };
      host.workspace.changed(channel, message.ts);
      return { ok: true };
    },
    "views.open": (args) => {
      const triggerId = str(args.trigger_id);
      const trigger = triggerId ? host.triggers.get(triggerId) : undefined;
      if (!trigger || !triggerId) return { ok: false, error: "invalid_trigger_id" };
      if (trigger.exchanged) return { ok: false, error: "exchanged_trigger_id" };
      if (Date.now() - trigger.createdAt > TRIGGER_TTL_MS) return { ok: false, error: "expired_trigger_id" };
      const view = parseJson(args.view);
      if (!view || typeof view !== "object" || Array.isArray(view)) return invalidArguments("[ERROR] missing required field: view");
      const problem = checkView(view as Record<string, unknown>);
      if (problem) return invalidArguments(problem);
      trigger.exchanged = true;
      const id = host.workspace.nextId("V");
      const stored = viewObject(view as Record<string, unknown>, { id, teamId: host.workspace.teamId, appId: host.appId, botId: host.botId });
      host.workspace.views.set(id, { id, user: trigger.user, view: stored, closed: false });
      host.workspace.emit("change", { kind: "view", user: trigger.user, id });
      return { ok: true, view: stored };
    },
    "users.info": (args) => {
      const user = host.workspace.users.get(str(args.user) ?? "");
      if (!user) return { ok: false, error: "user_not_found" };
      return { ok: true, user: userObject(user, host.workspace, user.id === host.botUserId ? { botId: host.botId, appId: host.appId } : undefined) };
    },
    "conversations.info": (args) => {
      const channel = host.workspace.channels.get(str(args.channel) ?? "");
      if (!channel) return { ok: false, error: "channel_not_found" };
      return { ok: true, channel: channelObject(channel, host.workspace, host.botUserId) };
    },
    "conversations.members": (args) => {
      const channel = host.workspace.channels.get(str(args.channel) ?? "");
      if (!channel) return { ok: false, error: "channel_not_found" };
      return paginate(host.workspace.membersOf(channel.id), args, (members, _hasMore, cursor) => ({ ok: true, members, response_metadata: { next_cursor: cursor } }));
    },
    "conversations.history": (args) => {
      const channel = str(args.channel);
      if (!channel || !host.workspace.channels.has(channel)) return { ok: false, error: "channel_not_found" };
      const inRange = host.workspace.history(channel).filter((m) => withinRange(m.ts, args));
      // Slack returns history newest first.
      return paginate(inRange.reverse(), args, (messages, hasMore, cursor) => ({
        ok: true,
        messages: messages.map(publicMessage),
        has_more: hasMore,
        pin_count: 0,
        response_metadata: { next_cursor: cursor },
      }));
    },
    "conversations.replies": (args) => {
      const channel = str(args.channel);
      const ts = str(args.ts);
      if (!channel || !host.workspace.channels.has(channel)) return { ok: false, error: "channel_not_found" };
      const anchor = ts ? host.workspace.find(channel, ts) : undefined;
      if (!anchor || anchor.deleted) return { ok: false, error: "thread_not_found" };
      const parentTs = anchor.thread_ts ?? anchor.ts;
      const [parent, ...replies] = host.workspace.thread(channel, parentTs);
      // The parent always comes first; oldest/latest narrow the replies.
      const selected = [parent, ...replies.filter((m) => withinRange(m.ts, args))].filter((m): m is SlackMessage => m !== undefined);
      return paginate(selected, args, (messages, hasMore, cursor) => ({
        ok: true,
        messages: messages.map(publicMessage),
        has_more: hasMore,
        response_metadata: { next_cursor: cursor },
      }));
    },
  };
}

/** text and blocks of a post, or the error Slack would give. */
export function postContent(args: Record<string, unknown>): { text: string; blocks?: unknown[] } | { error: string; errors?: string[]; response_metadata?: { messages: string[] } } {
  const text = str(args.text) ?? "";
  const blocks = args.blocks === undefined ? undefined : parseJson(args.blocks);
  if (blocks !== undefined) {
    const problem = checkBlocks(blocks);
    if (problem) return { error: problem.error, errors: [problem.detail], response_metadata: { messages: [`[ERROR] ${problem.detail}`] } };
  }
  if (!text && (!Array.isArray(blocks) || blocks.length === 0)) return { error: "no_text" };
  if (text.length > LIMITS.messageText) return { error: "msg_too_long" };
  return { text, ...(Array.isArray(blocks) && blocks.length > 0 ? { blocks } : {}) };
}

export function str(value: unknown): string | undefined {
  return typeof value === "string" && value !== "" ? value : undefined;
}

function invalidArguments(message: string): Record<string, unknown> {
  return { ok: false, error: "invalid_arguments", response_metadata: { messages: [message] } };
}

/** A modal's own limits (title 24, submit/close 24, callback_id and private_metadata) and its blocks'. */
function checkView(view: Record<string, unknown>): string | undefined {
  if (view.type !== "modal") return "[ERROR] must be a modal [json-pointer:/view/type]";
  const title = (view.title as { text?: unknown } | undefined)?.text;
  if (typeof title !== "string" || title.length === 0) return "[ERROR] missing required field: title [json-pointer:/view/title]";
  if (title.length > LIMITS.viewTitle) return `[ERROR] must be less than ${LIMITS.viewTitle + 1} characters [json-pointer:/view/title/text]`;
  for (const key of ["submit", "close"] as const) {
    const text = (view[key] as { text?: unknown } | undefined)?.text;
    if (typeof text === "string" && text.length > LIMITS.viewTitle) return `[ERROR] must be less than ${LIMITS.viewTitle + 1} characters [json-pointer:/view/${key}/text]`;
  }
  if (typeof view.private_metadata === "string" && view.private_metadata.length > LIMITS.privateMetadata)
    return `[ERROR] must be less than ${LIMITS.privateMetadata + 1} characters [json-pointer:/view/private_metadata]`;
  if (typeof view.callback_id === "string" && view.callback_id.length > LIMITS.callbackId) return `[ERROR] must be less than ${LIMITS.callbackId + 1} characters [json-pointer:/view/callback_id]`;
  const problem = checkBlocks(view.blocks ?? [], "modal");
  return problem ? `[ERROR] ${problem.detail.replace("[json-pointer:/blocks", "[json-pointer:/view/blocks")}` : undefined;
}

function truthy(value: unknown): boolean {
  return value === true || value === "true" || value === "1" || value === 1;
}

function parseJson(value: unknown): unknown {
  if (typeof value !== "string") return value;
  try {
    return JSON.parse(value);
  } catch {
    return undefined;
  }
}

export function publicMessage(message: SlackMessage): Record<string, unknown> {
  const { deleted: _deleted, channel: _channel, ...rest } = message;
  return { ...rest };
}

export function addReaction(message: SlackMessage, name: string, user: string): string | undefined {
  message.reactions ??= [];
  const existing = message.reactions.find((r) => r.name === name);
  if (existing?.users.includes(user)) return "already_reacted";
  if (existing) {
    existing.users.push(user);
    existing.count += 1;
  } else {
    message.reactions.push({ name, users: [user], count: 1 });
  }
  return undefined;
}

function withinRange(ts: string, args: Record<string, unknown>): boolean {
  const oldest = str(args.oldest);
  const latest = str(args.latest);
  const inclusive = truthy(args.inclusive);
  if (oldest && (inclusive ? compareTs(ts, oldest) < 0 : compareTs(ts, oldest) <= 0)) return false;
  if (latest && (inclusive ? compareTs(ts, latest) > 0 : compareTs(ts, latest) >= 0)) return false;
  return true;
}

function paginate<T>(items: T[], args: Record<string, unknown>, shape: (page: T[], hasMore: boolean, cursor: string) => Record<string, unknown>): Record<string, unknown> {
  const limit = Math.min(Math.max(Number(args.limit ?? 100) || 100, 1), 999);
  let start = 0;
  const cursor = str(args.cursor);
  if (cursor) {
    const decoded = Number(
      Buffer.from(cursor, "base64")
        .toString("utf8")
        .replace(/^offset:/, ""),
    );
    if (!Number.isInteger(decoded) || decoded < 0 || decoded > items.length) return { ok: false, error: "invalid_cursor" };
    start = decoded;
  }
  const page = items.slice(start, start + limit);
  const next = start + limit < items.length ? Buffer.from(`offset:${start + limit}`).toString("base64") : "";
  return shape(page, next !== "", next);
}

export function parseApiRequest(req: IncomingMessage, raw: string): { args: Record<string, unknown>; token: string | undefined } {
  const contentType = req.headers["content-type"] ?? "";
  let args: Record<string, unknown> = {};
  if (contentType.includes("application/json")) {
    try {
      args = JSON.parse(raw || "{}") as Record<string, unknown>;
    } catch {
      args = {};
    }
  } else {
    args = Object.fromEntries(new URLSearchParams(raw));
  }
  const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1];
  const token = bearer ?? str(args.token);
  delete args.token;
  return { args, token };
}
