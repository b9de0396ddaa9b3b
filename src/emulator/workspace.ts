import { EventEmitter } from "node:events";

/** The emulated workspace's state: people, channels, messages, ephemerals and modals, as Slack would hold them. */

export interface EmulatedUser {
  id: string;
  name: string;
  realName: string;
  title: string;
  isBot?: boolean;
}

export interface EmulatedChannel {
  id: string;
  name: string;
  isPrivate?: boolean;
  /** Who is in it; unset: everyone in the workspace. */
  members?: string[];
}

interface Reaction {
  name: string;
  users: string[];
  count: number;
}

export interface SlackMessage {
  type: "message";
  ts: string;
  channel: string;
  user?: string;
  bot_id?: string;
  app_id?: string;
  text: string;
  blocks?: unknown[];
  thread_ts?: string;
  reply_count?: number;
  reply_users?: string[];
  reply_users_count?: number;
  latest_reply?: string;
  subtype?: string;
  edited?: { user: string; ts: string };
  reactions?: Reaction[];
  /** Shared files: id, name and title, with the rest of Slack's file object once the message is posted. */
  files?: Array<{ id: string; name: string; title: string; [field: string]: unknown }>;
  team?: string;
  /** Set by Slack's clients on a person's message. */
  client_msg_id?: string;
  /** On a reply: who wrote the thread's parent. */
  parent_user_id?: string;
  /** On a broadcast reply (`subtype: "thread_broadcast"`): the thread's parent. */
  root?: Record<string, unknown>;
  deleted?: boolean;
}

export interface EphemeralMessage {
  id: string;
  channel: string;
  user: string;
  ts: string;
  text: string;
  blocks?: unknown[];
  thread_ts?: string;
  /** Which command or click produced it, so a later response_url can replace it. */
  responseUrlId?: string;
}

interface OpenView {
  id: string;
  user: string;
  view: Record<string, unknown>;
  closed: boolean;
}

export type WorkspaceChange =
  | { kind: "message"; channel: string; ts: string }
  | { kind: "ephemeral"; channel: string; user: string; id: string }
  | { kind: "view"; user: string; id: string }
  | { kind: "notice"; user: string; text: string };

export class Workspace extends EventEmitter<{ change: [WorkspaceChange] }> {
  readonly teamId: string;
  readonly teamDomain: string;
  readonly users = new Map<string, EmulatedUser>();
  readonly channels = new Map<string, EmulatedChannel>();
  /** All messages of a channel, top-level and replies, in ts order. */
  readonly messages = new Map<string, SlackMessage[]>();
  readonly ephemerals: EphemeralMessage[] = [];
  readonly views = new Map<string, OpenView>();
  private lastTs = 0;
  private counter = 0;

  constructor(options: { teamId?: string; teamDomain?: string } = {}) {
    super();
    this.setMaxListeners(100);
    this.teamId = options.teamId ?? "T0SANDBOX";
    this.teamDomain = options.teamDomain ?? "orchestrator-sandbox";
  }

  addUser(user: EmulatedUser): void {
    this.users.set(user.id, user);
  }

  addChannel(channel: EmulatedChannel): void {
    this.channels.set(channel.id, channel);
    if (!this.messages.has(channel.id)) this.messages.set(channel.id, []);
  }

  /** Slack's message timestamps: seconds with six decimals, unique and increasing within the workspace. */
  nextTs(at: number = Date.now()): string {
    const micros = Math.max(at * 1000, this.lastTs + 1);
    this.lastTs = micros;
    return formatTs(micros);
  }

  nextId(prefix: string): string {
    this.counter += 1;
    return `${prefix}${Date.now().toString(36).toUpperCase()}${this.counter.toString(36).toUpperCase()}`;
  }

  channelMessages(channel: string): SlackMessage[] {
    let list = this.messages.get(channel);
    if (!list) {
      list = [];
      this.messages.set(channel, list);
    }
    return list;
  }

  find(channel: string, ts: string): SlackMessage | undefined {
    return this.messages.get(channel)?.find((m) => m.ts === ts);
  }

  /** Stores a message (a reply updates its parent's thread fields) and tells watchers. */
  insert(message: SlackMessage): SlackMessage {
    const list = this.channelMessages(message.channel);
    list.push(message);
    list.sort((a, b) => compareTs(a.ts, b.ts));
    if (message.thread_ts && message.thread_ts !== message.ts) {
      const parent = this.find(message.channel, message.thread_ts);
      if (parent) {
        parent.thread_ts = parent.ts;
        const replies = list.filter((m) => m.thread_ts === parent.ts && m.ts !== parent.ts && !m.deleted);
        parent.reply_count = replies.length;
        parent.latest_reply = replies[replies.length - 1]?.ts;
        parent.reply_users = [...new Set(replies.map((m) => m.user ?? m.bot_id ?? ""))].filter(Boolean);
        parent.reply_users_count = parent.reply_users.length;
      }
    }
    this.emit("change", { kind: "message", channel: message.channel, ts: message.ts });
    return message;
  }

  changed(channel: string, ts: string): void {
    this.emit("change", { kind: "message", channel, ts });
  }

  addEphemeral(ephemeral: Omit<EphemeralMessage, "id" | "ts">): EphemeralMessage {
    const stored = { ...ephemeral, id: this.nextId("E"), ts: this.nextTs() };
    this.ephemerals.push(stored);
    this.emit("change", { kind: "ephemeral", channel: stored.channel, user: stored.user, id: stored.id });
    return stored;
  }

  membersOf(channel: string): string[] {
    const found = this.channels.get(channel);
    return found?.members ? [...found.members] : [...this.users.keys()];
  }

  /** Top-level messages and broadcast replies, as a channel shows them. */
  history(channel: string): SlackMessage[] {
    return this.channelMessages(channel).filter((m) => !m.deleted && (!m.thread_ts || m.thread_ts === m.ts || m.subtype === "thread_broadcast"));
  }

  thread(channel: string, threadTs: string): SlackMessage[] {
    return this.channelMessages(channel).filter((m) => !m.deleted && (m.ts === threadTs || m.thread_ts === threadTs));
  }

  /** The conversation as plain data (people and channels come from the config, so they are not part of it). */
  snapshot(): WorkspaceSnapshot {
    return {
      lastTs: this.lastTs,
      counter: this.counter,
      messages: [...this.messages.values()].flat(),
      ephemerals: [...this.ephemerals],
      views: [...this.views.values()],
    };
  }

  /** Puts a saved conversation back, replacing what is held; watchers are not told (nothing new happened). */
  restore(snapshot: WorkspaceSnapshot): void {
    this.lastTs = Math.max(this.lastTs, snapshot.lastTs);
    this.counter = Math.max(this.counter, snapshot.counter);
    for (const list of this.messages.values()) list.length = 0;
    for (const message of snapshot.messages) this.channelMessages(message.channel).push(message);
    for (const list of this.messages.values()) list.sort((a, b) => compareTs(a.ts, b.ts));
    this.ephemerals.splice(0, this.ephemerals.length, ...snapshot.ephemerals);
    this.views.clear();
    for (const view of snapshot.views) this.views.set(view.id, view);
  }
}

export interface WorkspaceSnapshot {
  lastTs: number;
  counter: number;
  messages: SlackMessage[];
  ephemerals: EphemeralMessage[];
  views: OpenView[];
}

export function formatTs(micros: number): string {
  const whole = Math.floor(micros / 1_000_000);
  const fraction = Math.floor(micros % 1_000_000);
  return `${whole}.${fraction.toString().padStart(6, "0")}`;
}

export function compareTs(a: string, b: string): number {
  const [aw = "0", af = "0"] = a.split(".");
  const [bw = "0", bf = "0"] = b.split(".");
  return Number(aw) - Number(bw) || Number(af.padEnd(6, "0")) - Number(bf.padEnd(6, "0"));
}
