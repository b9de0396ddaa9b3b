import { z } from "zod";
import type { FeedbackChannelConfig, Priority } from "../../config/schema.js";
import type { Services } from "../../core/feature.js";
import {
  type CaptureMethod,
  activeThreads,
  backfillStart,
  editFeedback,
  FeedbackRecorder,
  findByMessage,
  isNewerEdit,
  markDeleted,
  type NewFeedback,
  recordedSince,
  saveBackfillCursor,
} from "./store.js";
import { permalink } from "../../slack/permalink.js";
import { triageByRules } from "./keyword-triage.js";

export const CAPTURED_REACTION = "inbox_tray";
/**
 * How far back history is read to find threads with new replies (and how far back a channel with
 * nothing recorded yet is read): a reply to an older thread is found only if the thread had replies
 * recorded within this window too.
 */
const THREAD_WINDOW_DAYS = 14;
/** Backfill rereads this much before its starting point: messages that failed while later ones were stored. */
const BACKFILL_OVERLAP_SECONDS = 48 * 3600;
const ACTIVE_THREADS_LIMIT = 200;
/** Backfill takes a recorded message missing from history for deleted only if it is older than this. */
const DELETION_CHECK_MARGIN_MS = 60_000;
/** Slack allows reactions.add about 50 times a minute: one every 1.2 s keeps within it. */
const REACTION_SPACING_MS = 1200;

/** The parts of a Slack message that feedback needs, from an event, history, replies or a shortcut. */
export const slackMessageSchema = z.object({
  ts: z.string(),
  thread_ts: z.string().optional(),
  user: z.string().optional(),
  bot_id: z.string().optional(),
  subtype: z.string().optional(),
  text: z.string().optional().default(""),
  team: z.string().optional(),
  reply_count: z.number().optional(),
  latest_reply: z.string().optional(),
  edited: z.object({ ts: z.string() }).passthrough().optional(),
  files: z.array(z.object({ name: z.string().optional(), title: z.string().optional() }).passthrough()).optional(),
});
type SlackMessageData = z.infer<typeof slackMessageSchema>;

/** Subtypes that are still a person speaking: a file with a comment, a thread reply also sent to the channel. */
const HUMAN_SUBTYPES = new Set([undefined, "file_share", "thread_broadcast"]);

function isHumanMessage(message: SlackMessageData, botUserId: string): boolean {
  return Boolean(message.user) && !message.bot_id && message.user !== botUserId && HUMAN_SUBTYPES.has(message.subtype);
}

export function tsToDate(ts: string): Date {
  return new Date(Math.round(Number(ts) * 1000));
}

function dateToTs(date: Date): string {
  return (date.getTime() / 1000).toFixed(6);
}

function compareTs(a: string, b: string): number {
  return Number(a) - Number(b);
}

type FeedbackDefaults = { source: string; kind: string; priority: Priority };

interface BackfillReport {
  channel: string;
  recorded: number;
  /** Recorded messages whose text history shows edited since. */
  updated: number;
  /** Recorded messages that history no longer has: deleted while the bot was away. */
  deleted: number;
  examined: number;
  threads: number;
  /** Why the channel could not be read, if it could not. */
  error?: string;
}

/** Who refines the keyword triage later, off the acknowledgement path (Claude, when configured). */
export interface FeedbackTriager {
  enqueue(id: number): void;
}

/** Captures feedback from Slack: messages in feedback channels, reactions, shortcuts, and backfill of what was missed. */
export class FeedbackService {
  private triager: FeedbackTriager | undefined;
  /** Messages waiting for their :inbox_tray:, reacted to a few at a time so a burst of feedback is stored first. */
  private readonly toAcknowledge: Array<{ channel: string; ts: string }> = [];
  private acknowledging = false;
  private readonly recorder: FeedbackRecorder;

  constructor(
    private readonly services: Services,
    private readonly reactionSpacingMs = REACTION_SPACING_MS,
  ) {
    this.recorder = new FeedbackRecorder(services.db);
  }

  /** Set once at start-up when Claude is configured. */
  useTriager(triager: FeedbackTriager): void {
    this.triager = triager;
  }

  /** New feedback that only has keyword triage so far. */
  triageLater(id: number): void {
    this.triager?.enqueue(id);
  }

  channelConfig(channel: string): FeedbackChannelConfig | undefined {
    return this.services.config.feedback.channels.find((c) => c.channel === channel);
  }

  /**
   * Records a Slack message as feedback. Returns the new row's id, or undefined when that message was
   * already recorded (by any path, on any replica). The author gets an :inbox_tray: reaction.
   */
  async record(channel: string, message: SlackMessageData, capturedBy: CaptureMethod, fallback: FeedbackDefaults): Promise<number | undefined> {
    const id = await this.recorder.record(this.rowOf(channel, message, capturedBy, fallback));
    if (id === undefined) return undefined;
    this.services.metrics.feedbackRecorded.inc({ captured_by: capturedBy });
    this.triageLater(id);
    this.toAcknowledge.push({ channel, ts: message.ts });
    if (!this.acknowledging) {
      this.acknowledging = true;
      void this.services.background.run("react to recorded feedback", (signal) => this.drainAcknowledgements(signal));
    }
    return id;
  }

  /** The row a Slack message becomes, with keyword triage and the version (`edited.ts`) its text is from. */
  private rowOf(channel: string, message: SlackMessageData, capturedBy: CaptureMethod, fallback: FeedbackDefaults): NewFeedback {
    const configured = this.channelConfig(channel);
    const text = messageText(message);
    const triage = triageByRules({ text, defaultKind: configured?.kind ?? fallback.kind, defaultPriority: configured?.priority ?? fallback.priority });
    return {
      teamId: message.team ?? this.services.bot.teamId,
      channel,
      ts: message.ts,
      threadTs: message.thread_ts ?? null,
      author: message.user ?? message.bot_id ?? "unknown",
      text,
      editedTs: message.edited?.ts ?? null,
      permalink: permalink(this.services.bot.workspaceUrl, channel, message.ts, message.thread_ts),
      source: configured?.source ?? fallback.source,
      kind: triage.kind,
      priority: triage.priority,
      theme: triage.theme,
      capturedBy,
      triagedBy: "rules",
      postedAt: tsToDate(message.ts),
    };
  }

  /** Every human message and thread reply in a feedback channel. */
  async recordChannelMessage(channel: string, message: SlackMessageData): Promise<number | undefined> {
    const configured = this.channelConfig(channel);
    if (!configured || !isHumanMessage(message, this.services.bot.userId)) return undefined;
    return this.record(channel, message, "message", configured);
  }

  async edit(channel: string, message: SlackMessageData): Promise<void> {
    const updated = await editFeedback(this.services.db, channel, message.ts, messageText(message), message.edited?.ts, message.user);
    // An edit of a feedback-channel message the bot never stored is still feedback: store it now.
    if (!updated) await this.recordChannelMessage(channel, message);
  }

  /**
   * A deletion (`message_deleted`, or a thread parent's tombstone). In a feedback channel a deletion that
   * comes before its message leaves a deleted marker (with the text Slack sent as `previous_message`, if
   * any) that the message, arriving later, cannot bring back.
   */
  async remove(channel: string, ts: string, previous?: SlackMessageData): Promise<void> {
    const configured = this.channelConfig(channel);
    const original = previous?.ts === ts && isHumanMessage(previous, this.services.bot.userId) ? previous : undefined;
    const marker = configured && (original || !previous) ? this.rowOf(channel, original ?? { ts, text: "" }, "deletion", configured) : undefined;
    await markDeleted(this.services.db, channel, ts, marker);
  }

  /** Someone reacted with the configured emoji: record that message, wherever it is. */
  async captureByReaction(channel: string, ts: string): Promise<number | undefined> {
    if (await findByMessage(this.services.db, channel, ts)) return undefined;
    const message = await this.fetchMessage(channel, ts);
    if (!message || message.user === this.services.bot.userId) return undefined;
    return this.record(channel, message, "reaction", { source: "Slack reaction", kind: "direct-feedback", priority: "medium" });
  }

  /** Looks a message up by ts: channel history for top-level messages, the thread for replies. */
  async fetchMessage(channel: string, ts: string): Promise<SlackMessageData | undefined> {
    const { slack } = this.services;
    const history = await slack.conversations.history({ channel, oldest: ts, latest: ts, inclusive: true, limit: 1 });
    const top = (history.messages ?? []).find((m) => m.ts === ts);
    if (top) return slackMessageSchema.parse(top);
    const replies = await slack.conversations.replies({ channel, ts, oldest: ts, latest: ts, inclusive: true, limit: 10 });
    const reply = (replies.messages ?? []).find((m) => m.ts === ts);
    return reply ? slackMessageSchema.parse(reply) : undefined;
  }

  /** One reaction at a time, paced to Slack's limit; a burst of feedback is stored first and reacted to after. */
  private async drainAcknowledgements(signal: AbortSignal): Promise<void> {
    try {
      for (let next = this.toAcknowledge.shift(); next && !signal.aborted; next = this.toAcknowledge.shift()) {
        await this.acknowledge(next.channel, next.ts);
        if (this.reactionSpacingMs > 0 && this.toAcknowledge.length > 0) await abortableSleep(this.reactionSpacingMs, signal);
      }
    } finally {
      this.acknowledging = false;
    }
  }

  private async acknowledge(channel: string, ts: string): Promise<void> {
    try {
      await this.services.slack.reactions.add({ channel, timestamp: ts, name: CAPTURED_REACTION });
    } catch (error) {
      const code = (error as { data?: { error?: string } }).data?.error;
      if (code !== "already_reacted") this.services.log.warn("could not react to recorded feedback", { channel, ts, error });
    }
  }

  /**
   * Reads each feedback channel's history (and the threads with new replies) since the last recorded
   * message, recording what is missing. Redelivery covers a few minutes; this covers hours of downtime.
   */
  async backfill(signal?: AbortSignal): Promise<BackfillReport[]> {
    const reports: BackfillReport[] = [];
    for (const channel of this.services.config.feedback.channels) {
      if (signal?.aborted) break;
      try {
        reports.push(await this.backfillChannel(channel, signal));
      } catch (error) {
        // One channel failing (the bot removed from it, say) must not stop the others.
        this.services.log.error("feedback backfill of a channel failed", { channel: channel.channel, error });
        reports.push({ channel: channel.channel, recorded: 0, updated: 0, deleted: 0, examined: 0, threads: 0, error: slackErrorOf(error) });
      }
    }
    return reports;
  }

  private async backfillChannel(channel: FeedbackChannelConfig, signal?: AbortSignal): Promise<BackfillReport> {
    const { slack, db, bot } = this.services;
    // Messages recorded while this pass reads were not in what it read: only older ones are checked for deletion.
    const checkBefore = dateToTs(new Date(Date.now() - DELETION_CHECK_MARGIN_MS));
    const windowStart = dateToTs(new Date(Date.now() - THREAD_WINDOW_DAYS * 86_400_000));
    const start = (await backfillStart(db, channel.channel)) ?? windowStart;
    const oldest = (Number(start) - BACKFILL_OVERLAP_SECONDS).toFixed(6);
    // History from the older of the two: new messages since the start, and every recent thread's parent.
    const historyOldest = compareTs(windowStart, oldest) < 0 ? windowStart : oldest;
    const report: BackfillReport = { channel: channel.channel, recorded: 0, updated: 0, deleted: 0, examined: 0, threads: 0 };
    const recorded = await recordedSince(db, channel.channel, historyOldest);
    const seen = new Set<string>();
    let newest = start;
    const threads = new Set<string>();
    const consider = async (raw: unknown) => {
      const parsed = slackMessageSchema.safeParse(raw);
      if (!parsed.success) return;
      const message = parsed.data;
      report.examined += 1;
      if (compareTs(message.ts, newest) > 0) newest = message.ts;
      if (message.reply_count && message.latest_reply && compareTs(message.latest_reply, oldest) > 0) threads.add(message.ts);
      // A thread parent deleted while it has replies stays in history as a tombstone.
      if (message.subtype === "tombstone") return;
      seen.add(message.ts);
      const known = recorded.get(message.ts);
      if (known) {
        // Edited while the bot was away: the newer text wins, as with a late message_changed.
        if (!known.deleted && message.edited && isNewerEdit(message.edited.ts, known.editedTs)) {
          await editFeedback(db, channel.channel, message.ts, messageText(message), message.edited.ts, message.user);
          report.updated += 1;
        }
        return;
      }
      if (isHumanMessage(message, bot.userId) && (await this.record(channel.channel, message, "backfill", channel)) !== undefined) report.recorded += 1;
    };
    let cursor: string | undefined;
    do {
      if (signal?.aborted) return report;
      const page = await slack.conversations.history({ channel: channel.channel, oldest: historyOldest, limit: 200, ...(cursor ? { cursor } : {}) });
      for (const message of page.messages ?? []) await consider(message);
      cursor = page.response_metadata?.next_cursor || undefined;
    } while (cursor);
    for (const thread of await activeThreads(db, channel.channel, windowStart, ACTIVE_THREADS_LIMIT)) threads.add(thread.threadTs);
    const readThreads = new Set<string>();
    for (const threadTs of threads) {
      report.threads += 1;
      let replyCursor: string | undefined;
      let complete = true;
      do {
        if (signal?.aborted) return report;
        let page: Awaited<ReturnType<typeof slack.conversations.replies>>;
        try {
          page = await slack.conversations.replies({ channel: channel.channel, ts: threadTs, oldest, limit: 200, ...(replyCursor ? { cursor: replyCursor } : {}) });
        } catch (error) {
          // A thread whose parent was deleted is gone; the rest of the channel still counts.
          if (slackErrorOf(error) !== "thread_not_found") throw error;
          complete = false;
          break;
        }
        for (const message of page.messages ?? []) await consider(message);
        replyCursor = page.response_metadata?.next_cursor || undefined;
      } while (replyCursor);
      if (complete) readThreads.add(threadTs);
    }
    // Everything in the window was read: a recorded message history no longer returns was deleted.
    for (const [ts, known] of recorded) {
      if (known.deleted || seen.has(ts) || compareTs(ts, checkBefore) >= 0) continue;
      const topLevel = !known.threadTs || known.threadTs === ts;
      const inReadThread = known.threadTs !== null && readThreads.has(known.threadTs) && compareTs(ts, oldest) > 0;
      if ((topLevel || inReadThread) && (await markDeleted(db, channel.channel, ts))) report.deleted += 1;
    }
    await saveBackfillCursor(db, channel.channel, newest);
    return report;
  }
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}

function slackErrorOf(error: unknown): string {
  return (error as { data?: { error?: string } }).data?.error ?? (error instanceof Error ? error.message : String(error));
}

/** A message's text for the record; a file shared without a comment is named by its files. */
function messageText(message: SlackMessageData): string {
  const text = message.text ?? "";
  if (text.trim()) return text;
  const files = (message.files ?? []).map((f) => f.title ?? f.name ?? "file").filter(Boolean);
  return files.length > 0 ? `[shared ${files.join(", ")}]` : "";
}
