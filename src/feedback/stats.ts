import { and, asc, desc, gte, inArray, isNotNull, isNull, lt, ne, sql } from "drizzle-orm";
import type { Executor } from "../db/client.js";
import { feedback } from "../db/schema.js";

export interface Count {
  key: string;
  count: number;
}

export interface FeedbackItem {
  id: number;
  text: string;
  kind: string;
  priority: string;
  status: string;
  source: string;
  author: string;
  permalink: string | null;
  postedAt: Date;
  closedAt: Date | null;
}

export interface FeedbackStats {
  since: Date;
  until: Date;
  /** Feedback given in the period. */
  total: number;
  byKind: Count[];
  byPriority: Count[];
  bySource: Count[];
  byStatus: Count[];
  /** New feedback per week of the period (weeks start on Monday in the configured zone). */
  weekly: Array<{ week: string; count: number }>;
  topThemes: Count[];
  /** The backlog now, whatever the period. */
  open: number;
  inProgress: number;
  closedInPeriod: number;
  recentlyClosed: FeedbackItem[];
  /** The five oldest open high or critical items. */
  oldestUrgent: FeedbackItem[];
}

const PRIORITY_ORDER = ["critical", "high", "medium", "low"];

const itemColumns = {
  id: feedback.id,
  text: feedback.text,
  kind: feedback.kind,
  priority: feedback.priority,
  status: feedback.status,
  source: feedback.source,
  author: feedback.author,
  permalink: feedback.permalink,
  postedAt: feedback.postedAt,
  closedAt: feedback.closedAt,
};

/** Every figure of `feedback analyze` and the digests, aggregated by the database, never by loading rows. */
export async function feedbackStats(db: Executor, period: { since: Date; until: Date; timeZone: string }): Promise<FeedbackStats> {
  const live = isNull(feedback.deletedAt);
  const inPeriod = and(live, gte(feedback.postedAt, period.since), lt(feedback.postedAt, period.until));
  const countBy = (column: typeof feedback.kind | typeof feedback.priority | typeof feedback.source | typeof feedback.status) =>
    db
      .select({ key: sql<string>`${column}`, count: sql<number>`count(*)::int` })
      .from(feedback)
      .where(inPeriod)
      .groupBy(column)
      .orderBy(desc(sql`count(*)`), asc(column));
  const week = sql<string>`to_char(date_trunc('week', ${feedback.postedAt} at time zone ${period.timeZone}), 'YYYY-MM-DD')`;
  const [byKind, byPriority, bySource, byStatus, weekly, topThemes, backlog, closed, recentlyClosed, oldestUrgent] = await Promise.all([
    countBy(feedback.kind),
    countBy(feedback.priority),
    countBy(feedback.source),
    countBy(feedback.status),
    // By position: the zone is a bound parameter, so the expression cannot be repeated in GROUP BY.
    db.select({ week, count: sql<number>`count(*)::int` }).from(feedback).where(inPeriod).groupBy(sql`1`).orderBy(sql`1`),
    db
      .select({ key: sql<string>`${feedback.theme}`, count: sql<number>`count(*)::int` })
      .from(feedback)
      .where(and(inPeriod, isNotNull(feedback.theme)))
      .groupBy(feedback.theme)
      .orderBy(desc(sql`count(*)`), asc(feedback.theme))
      .limit(5),
    db.select({ status: feedback.status, count: sql<number>`count(*)::int` }).from(feedback).where(and(live, ne(feedback.status, "closed"))).groupBy(feedback.status),
    db
      .select({ count: sql<number>`count(*)::int` })
      .from(feedback)
      .where(and(live, gte(feedback.closedAt, period.since), lt(feedback.closedAt, period.until))),
    db
      .select(itemColumns)
      .from(feedback)
      .where(and(live, gte(feedback.closedAt, period.since), lt(feedback.closedAt, period.until)))
      .orderBy(desc(feedback.closedAt))
      .limit(5),
    db
      .select(itemColumns)
      .from(feedback)
      .where(and(live, ne(feedback.status, "closed"), inArray(feedback.priority, ["critical", "high"])))
      .orderBy(asc(feedback.postedAt), asc(feedback.id))
      .limit(5),
  ]);
  return {
    since: period.since,
    until: period.until,
    total: byKind.reduce((n, r) => n + r.count, 0),
    byKind,
    byPriority: [...byPriority].sort((a, b) => PRIORITY_ORDER.indexOf(a.key) - PRIORITY_ORDER.indexOf(b.key)),
    bySource,
    byStatus,
    weekly,
    topThemes,
    open: backlog.find((r) => r.status === "open")?.count ?? 0,
    inProgress: backlog.find((r) => r.status === "in-progress")?.count ?? 0,
    closedInPeriod: closed[0]?.count ?? 0,
    recentlyClosed,
    oldestUrgent,
  };
}
