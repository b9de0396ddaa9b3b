import { and, desc, eq, inArray, isNull, ne, sql } from "drizzle-orm";
import type { PgUpdateSetSource } from "drizzle-orm/pg-core";
import { type Db, type Executor, isConnectionError } from "../../db/client.js";
import { backfillCursors, feedback, feedbackEvents, type FeedbackStatus } from "../../db/schema.js";
import type { TriageResult } from "./keyword-triage.js";

type Feedback = typeof feedback.$inferSelect;
export type NewFeedback = typeof feedback.$inferInsert;

/** "deletion": a marker for a message deleted before it was recorded; a later insert fills it in and it stays deleted. */
export type CaptureMethod = "message" | "reaction" | "shortcut" | "command" | "backfill" | "edit" | "deletion";

/** Feedback typed with `/orch feedback add`: it has no Slack message of its own. */
export async function addManualFeedback(db: Executor, row: NewFeedback): Promise<Feedback> {
  const [inserted] = await db
    .insert(feedback)
    .values({ ...row, ts: null })
    .returning();
  if (!inserted) throw new Error("insert returned nothing");
  return inserted;
}

export async function findByMessage(db: Executor, channel: string, ts: string): Promise<Feedback | undefined> {
  const [row] = await db
    .select()
    .from(feedback)
    .where(and(eq(feedback.channel, channel), eq(feedback.ts, ts)));
  return row;
}

/**
 * An edit replaces the text; the old text is kept in the events table. Edits are applied in Slack's
 * order, not delivery order: an edit older than the one stored changes nothing. False when the message
 * is not recorded.
 */
export async function editFeedback(db: Db, channel: string, ts: string, text: string, editedTs: string | undefined, actor: string | undefined): Promise<boolean> {
  return db.transaction(async (tx) => {
    const [current] = await tx
      .select({ id: feedback.id, text: feedback.text, editedTs: feedback.editedTs })
      .from(feedback)
      .where(and(eq(feedback.channel, channel), eq(feedback.ts, ts)))
      .for("update");
    if (!current) return false;
    if (current.text === text || !isNewerEdit(editedTs, current.editedTs)) return true;
    await tx
      .update(feedback)
      .set({ text, editedTs: editedTs ?? current.editedTs, updatedAt: sql`now()` })
      .where(eq(feedback.id, current.id));
    await tx.insert(feedbackEvents).values({ feedbackId: current.id, kind: "edited", actor: actor ?? null, detail: { previousText: current.text, editedTs: editedTs ?? null } });
    return true;
  });
}

/**
 * Whether an edit made at `incoming` (Slack's `edited.ts`; none: the message as first posted) is newer
 * than the version stored: edits are applied in Slack's order, not in the order they arrive.
 */
export function isNewerEdit(incoming: string | null | undefined, stored: string | null | undefined): boolean {
  if (!stored) return true;
  return Boolean(incoming) && Number(incoming) > Number(stored);
}

/**
 * A deleted message stays in the table for the audit, marked deleted. A message deleted before it was
 * recorded (the deletion's event came first) leaves `marker` as a deleted row, so the message arriving
 * later (event, redelivery, backfill) fills it in and stays deleted: the unique key decides, not a read.
 */
export async function markDeleted(db: Db, channel: string, ts: string, marker?: NewFeedback): Promise<boolean> {
  return db.transaction(async (tx) => {
    const [row] = await tx
      .update(feedback)
      .set({ deletedAt: sql`now()`, updatedAt: sql`now()` })
      .where(and(eq(feedback.channel, channel), eq(feedback.ts, ts), isNull(feedback.deletedAt)))
      .returning({ id: feedback.id });
    const [marked] =
      row || !marker
        ? []
        : await tx
            .insert(feedback)
            .values({ ...marker, channel, ts, deletedAt: sql`now()` })
            .onConflictDoNothing()
            .returning({ id: feedback.id });
    const id = row?.id ?? marked?.id;
    if (id === undefined) return false;
    await tx.insert(feedbackEvents).values({ feedbackId: id, kind: "deleted", detail: marked ? { beforeRecorded: true } : {} });
    return true;
  });
}

/** Recorded Slack messages of a channel from `sinceTs` on: what backfill compares history with. */
export async function recordedSince(db: Executor, channel: string, sinceTs: string): Promise<Map<string, { threadTs: string | null; editedTs: string | null; deleted: boolean }>> {
  const rows = await db
    .select({ ts: feedback.ts, threadTs: feedback.threadTs, editedTs: feedback.editedTs, deletedAt: feedback.deletedAt })
    .from(feedback)
    .where(and(eq(feedback.channel, channel), sql`${feedback.ts} is not null`, sql`${feedback.ts}::numeric > ${sinceTs}::numeric`));
  return new Map(rows.map((r) => [r.ts as string, { threadTs: r.threadTs, editedTs: r.editedTs, deleted: r.deletedAt !== null }]));
}

/** What one change to an item sets, and the feedback event that records it. */
interface ItemChange {
  set: PgUpdateSetSource<typeof feedback>;
  kind: string;
  actor: string;
  detail: Record<string, unknown>;
}

/**
 * Changes one item that is not deleted, under its row lock, and records the change as a feedback event in the same
 * transaction. `decide` sees the item as it was and returns the change, or a word saying why not (its words given as
 * the type argument: `changeItem<"closed">`); "missing" when there is no such item.
 */
export async function changeItem<Reason extends string = never>(
  db: Db,
  id: number,
  decide: (current: Feedback) => ItemChange | NoInfer<Reason>,
): Promise<{ before: Feedback; row: Feedback } | Reason | "missing"> {
  return db.transaction(async (tx) => {
    const [current] = await tx
      .select()
      .from(feedback)
      .where(and(eq(feedback.id, id), isNull(feedback.deletedAt)))
      .for("update");
    if (!current) return "missing";
    const change = decide(current);
    if (typeof change === "string") return change;
    const { set, ...event } = change;
    const [row] = await tx
      .update(feedback)
      .set({ ...set, updatedAt: sql`now()` })
      .where(eq(feedback.id, id))
      .returning();
    if (!row) throw new Error("update of a locked row returned nothing");
    await tx.insert(feedbackEvents).values({ feedbackId: id, ...event });
    return { before: current, row };
  });
}

export async function setStatus(db: Db, id: number, status: FeedbackStatus, actor: string): Promise<{ before: FeedbackStatus; row: Feedback } | undefined> {
  const changed = await changeItem(db, id, (current) => ({
    set: { status, closedAt: status === "closed" ? sql`now()` : null },
    kind: "status",
    actor,
    detail: { from: current.status, to: status },
  }));
  return changed === "missing" ? undefined : { before: changed.before.status, row: changed.row };
}

export async function linkSprint(db: Db, id: number, sprint: string, actor: string): Promise<{ before: string | null; row: Feedback } | undefined> {
  const changed = await changeItem(db, id, (current) => ({ set: { sprint }, kind: "sprint", actor, detail: { from: current.sprint, to: sprint } }));
  return changed === "missing" ? undefined : { before: changed.before.sprint, row: changed.row };
}

export async function recentFeedback(db: Executor, statuses: FeedbackStatus[], limit: number): Promise<{ rows: Feedback[]; total: number }> {
  const where = and(isNull(feedback.deletedAt), inArray(feedback.status, statuses));
  const [rows, [count]] = await Promise.all([
    db.select().from(feedback).where(where).orderBy(desc(feedback.postedAt), desc(feedback.id)).limit(limit),
    db.select({ n: sql<number>`count(*)::int` }).from(feedback).where(where),
  ]);
  return { rows, total: count?.n ?? 0 };
}

/** Where backfill should start reading a channel: the newer of the last recorded message and the last backfill. */
export async function backfillStart(db: Executor, channel: string): Promise<string | undefined> {
  const [[recorded], [cursor]] = await Promise.all([
    db
      .select({ ts: sql<string | null>`max(${feedback.ts}::numeric)::text` })
      .from(feedback)
      .where(and(eq(feedback.channel, channel), ne(feedback.capturedBy, "command"), ne(feedback.capturedBy, "deletion"))),
    db.select({ ts: backfillCursors.latestTs }).from(backfillCursors).where(eq(backfillCursors.channel, channel)),
  ]);
  const candidates = [recorded?.ts, cursor?.ts].filter((ts): ts is string => typeof ts === "string");
  return candidates.sort((a, b) => Number(a) - Number(b)).at(-1);
}

export async function saveBackfillCursor(db: Executor, channel: string, latestTs: string): Promise<void> {
  await db
    .insert(backfillCursors)
    .values({ channel, latestTs, runs: 1 })
    .onConflictDoUpdate({
      target: backfillCursors.channel,
      set: {
        latestTs: sql`greatest(${backfillCursors.latestTs}::numeric, ${latestTs}::numeric)::text`,
        runs: sql`${backfillCursors.runs} + 1`,
        updatedAt: sql`now()`,
      },
    });
}

/** Threads with recorded replies since `sinceTs`: their newer replies are looked up even when the parent is old. */
export async function activeThreads(db: Executor, channel: string, sinceTs: string, limit: number): Promise<Array<{ threadTs: string; latestTs: string }>> {
  const rows = await db
    .select({ threadTs: feedback.threadTs, latestTs: sql<string | null>`max(${feedback.ts}::numeric)::text` })
    .from(feedback)
    .where(and(eq(feedback.channel, channel), sql`${feedback.threadTs} is not null`, sql`${feedback.ts}::numeric >= ${sinceTs}::numeric`))
    .groupBy(feedback.threadTs)
    .limit(limit);
  return rows.filter((r): r is { threadTs: string; latestTs: string } => r.threadTs !== null && r.latestTs !== null);
}

interface PendingRow {
  row: NewFeedback;
  resolve: (id: number | undefined) => void;
  reject: (error: unknown) => void;
}

/**
 * Records Slack messages, one row per message however often and however it arrives: the unique key
 * on (channel, ts) turns every later insert into nothing, and the caller learns the id only when its
 * call inserted the row. Group commit: rows arriving in the same turn of the event loop, or while the
 * previous write runs, go to the database as one multi-row INSERT … ON CONFLICT DO NOTHING. Each caller
 * still learns whether its own row was stored before it answers Slack. A batch the database refused is
 * retried row by row, so one bad row fails only its own event; a lost connection fails them all at once
 * (Slack redelivers them).
 */
export class FeedbackRecorder {
  private queue: PendingRow[] = [];
  private running = 0;
  private scheduled = false;

  constructor(
    private readonly db: Executor,
    private readonly maxRows = 250,
    private readonly maxConcurrent = 2,
  ) {}

  record(row: NewFeedback): Promise<number | undefined> {
    return new Promise((resolve, reject) => {
      this.queue.push({ row, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.running >= this.maxConcurrent || this.queue.length === 0) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
    const batch = this.queue.splice(0, this.maxRows);
    if (batch.length === 0) return;
    this.running += 1;
    try {
      await this.write(batch);
    } catch (error) {
      if (isConnectionError(error) || batch.length === 1) {
        for (const pending of batch) pending.reject(error);
      } else {
        for (const pending of batch) await this.write([pending]).catch((rowError: unknown) => pending.reject(rowError));
      }
    } finally {
      this.running -= 1;
      this.schedule();
    }
  }

  private async write(batch: PendingRow[]): Promise<void> {
    // The same message twice in one batch is written once (a row may be updated only once per statement).
    const unique = new Map<string, NewFeedback>();
    for (const { row } of batch) if (!unique.has(`${row.channel} ${row.ts}`)) unique.set(`${row.channel} ${row.ts}`, row);
    const excludedIsNewer = sql`(${feedback.editedTs} is null or (excluded.edited_ts is not null and excluded.edited_ts::numeric > ${feedback.editedTs}::numeric))`;
    const written = await this.db
      .insert(feedback)
      .values([...unique.values()])
      .onConflictDoUpdate({
        target: [feedback.channel, feedback.ts],
        // Only a deletion marker is filled in (and stays deleted); a message already recorded is left alone.
        setWhere: sql`${feedback.capturedBy} = 'deletion'`,
        set: {
          teamId: sql`excluded.team_id`,
          threadTs: sql`excluded.thread_ts`,
          author: sql`excluded.author`,
          text: sql`case when ${excludedIsNewer} then excluded.text else ${feedback.text} end`,
          editedTs: sql`case when ${excludedIsNewer} then excluded.edited_ts else ${feedback.editedTs} end`,
          permalink: sql`excluded.permalink`,
          source: sql`excluded.source`,
          kind: sql`excluded.kind`,
          priority: sql`excluded.priority`,
          theme: sql`excluded.theme`,
          capturedBy: sql`excluded.captured_by`,
          triagedBy: sql`excluded.triaged_by`,
          updatedAt: sql`now()`,
        },
      })
      .returning({ id: feedback.id, channel: feedback.channel, ts: feedback.ts, deletedAt: feedback.deletedAt });
    // A filled-in marker is no new feedback: no reaction, no triage.
    const ids = new Map(written.filter((r) => r.deletedAt === null).map((r) => [`${r.channel} ${r.ts}`, r.id]));
    for (const pending of batch) {
      const key = `${pending.row.channel} ${pending.row.ts}`;
      pending.resolve(ids.get(key));
      // The same message twice in one batch: only the first caller stored it.
      ids.delete(key);
    }
  }
}

/** Recorded feedback (not deleted) per status. */
export function statusCounts(db: Executor) {
  return db.select({ status: feedback.status, count: sql<number>`count(*)::int` }).from(feedback).where(isNull(feedback.deletedAt)).groupBy(feedback.status);
}

/** Of these rows, the ones still carrying the keyword triage they were stored with: what Claude may triage. */
export function awaitingTriage(db: Executor, ids: number[]) {
  return db
    .select({ id: feedback.id, text: feedback.text, source: feedback.source, channel: feedback.channel, kind: feedback.kind, priority: feedback.priority })
    .from(feedback)
    .where(and(inArray(feedback.id, ids), eq(feedback.triagedBy, "rules")));
}

/** Stores Claude's triage, unless a person (or another run) triaged the row meanwhile. */
export async function applyClaudeTriage(db: Executor, id: number, triage: TriageResult): Promise<void> {
  await db
    .update(feedback)
    .set({ kind: triage.kind, priority: triage.priority, theme: triage.theme, triagedBy: "claude" })
    .where(and(eq(feedback.id, id), eq(feedback.triagedBy, "rules")));
}
