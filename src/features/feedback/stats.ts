import { and, asc, desc, gte, inArray, isNull, lt, ne, sql } from "drizzle-orm";
import { type Executor, queryRows } from "../../db/client.js";
import { feedback } from "../../db/schema.js";
import { type Audience, forAudience } from "./visibility.js";

export interface Count {
  key: string;
  count: number;
}

export interface FeedbackItem {
  id: number;
  /** Null when the audience it is shown to may not read it (see `statsFor`). */
  text: string | null;
  /** Its source channel: who may read the text. */
  channel: string;
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
  channel: feedback.channel,
  kind: feedback.kind,
  priority: feedback.priority,
  status: feedback.status,
  source: feedback.source,
  author: feedback.author,
  permalink: feedback.permalink,
  postedAt: feedback.postedAt,
  closedAt: feedback.closedAt,
};

type Dimension = "kind" | "priority" | "source" | "status" | "theme" | "week";

/**
 * Every figure of `feedback analyze` and the digests, aggregated by the database, never by loading
 * rows: one pass over the period with GROUPING SETS gives every breakdown at once.
 */
export async function feedbackStats(db: Executor, period: { since: Date; until: Date; timeZone: string }): Promise<FeedbackStats> {
  const live = isNull(feedback.deletedAt);
  const closedInPeriod = and(gte(feedback.closedAt, period.since), lt(feedback.closedAt, period.until));
  const [groups, [backlog], recentlyClosed, oldestUrgent] = await Promise.all([
    queryRows<{ dimension: Dimension; key: string | null; count: number }>(
      db,
      // The week is formatted once per group, not once per row.
      sql`select dimension, case when dimension = 'week' then to_char(week, 'YYYY-MM-DD') else coalesce(kind, priority, source, status, theme) end as key, count
        from (
          select case
              when grouping(kind) = 0 then 'kind' when grouping(priority) = 0 then 'priority'
              when grouping(source) = 0 then 'source' when grouping(status) = 0 then 'status'
              when grouping(theme) = 0 then 'theme' else 'week' end as dimension,
            kind, priority, source, status, theme, week, count(*)::int as count
          from (
            select kind, priority, source, status, theme, date_trunc('week', posted_at at time zone ${period.timeZone}) as week
            from ${feedback}
            where deleted_at is null and posted_at >= ${period.since.toISOString()} and posted_at < ${period.until.toISOString()}
          ) as period
          group by grouping sets ((kind), (priority), (source), (status), (theme), (week))
        ) as groups`,
    ),
    // Two counts, each from a partial index alone (feedback_open_status, feedback_closed).
    queryRows<{ open: number; inProgress: number; closed: number }>(
      db,
      sql`select b.open, b."inProgress", c.closed
        from (select (count(*) filter (where status = 'open'))::int as open, (count(*) filter (where status = 'in-progress'))::int as "inProgress"
              from ${feedback} where deleted_at is null and status <> 'closed') as b,
          (select count(*)::int as closed from ${feedback} where ${and(live, closedInPeriod)}) as c`,
    ),
    db.select(itemColumns).from(feedback).where(and(live, closedInPeriod)).orderBy(desc(feedback.closedAt)).limit(5),
    db
      .select(itemColumns)
      .from(feedback)
      .where(and(live, ne(feedback.status, "closed"), inArray(feedback.priority, ["critical", "high"])))
      .orderBy(asc(feedback.postedAt), asc(feedback.id))
      .limit(5),
  ]);
  const of = (dimension: Dimension): Count[] =>
    groups
      .filter((g) => g.dimension === dimension && g.key !== null)
      .map((g) => ({ key: g.key as string, count: g.count }))
      .sort((a, b) => b.count - a.count || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const byKind = of("kind");
  return {
    since: period.since,
    until: period.until,
    total: byKind.reduce((n, r) => n + r.count, 0),
    byKind,
    byPriority: of("priority").sort((a, b) => PRIORITY_ORDER.indexOf(a.key) - PRIORITY_ORDER.indexOf(b.key)),
    bySource: of("source"),
    byStatus: of("status"),
    weekly: of("week")
      .map((w) => ({ week: w.key, count: w.count }))
      .sort((a, b) => (a.week < b.week ? -1 : 1)),
    topThemes: of("theme").slice(0, 5),
    open: backlog?.open ?? 0,
    inProgress: backlog?.inProgress ?? 0,
    closedInPeriod: backlog?.closed ?? 0,
    recentlyClosed,
    oldestUrgent,
  };
}

/** The figures as an audience may see them: every count, but item text only where it may read it. Pure. */
export function statsFor(stats: FeedbackStats, audience: Audience): FeedbackStats {
  return { ...stats, recentlyClosed: forAudience(stats.recentlyClosed, audience), oldestUrgent: forAudience(stats.oldestUrgent, audience) };
}

/** Whether any item text is left in figures (an answer carrying it goes only to the person asking). */
export function carriesText(stats: FeedbackStats): boolean {
  return [...stats.recentlyClosed, ...stats.oldestUrgent].some((item) => item.text !== null);
}
