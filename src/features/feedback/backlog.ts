import { and, asc, count, desc, isNotNull, isNull, ne, sql } from "drizzle-orm";
import { type Executor, queryRows } from "../../db/client.js";
import { feedback } from "../../db/schema.js";
import type { Count } from "./stats.js";

/** The open backlog as the reports count it: counts only, never feedback text. */

interface ThemeBacklog {
  theme: string;
  open: number;
  urgent: number;
}

/** Open and in-progress feedback by theme, the most urgent themes first. */
export async function backlogByTheme(db: Executor): Promise<{ themes: ThemeBacklog[]; sprints: Count[] }> {
  const openNow = and(isNull(feedback.deletedAt), ne(feedback.status, "closed"));
  const countColumn = sql<number>`count(*)::int`;
  const theme = sql<string>`coalesce(${feedback.theme}, '(no theme)')`;
  const urgent = sql<number>`(count(*) filter (where ${feedback.priority} in ('high', 'critical')))::int`;
  const [themes, sprints] = await Promise.all([
    db.select({ theme, open: countColumn, urgent }).from(feedback).where(openNow).groupBy(theme).orderBy(desc(urgent), desc(countColumn), asc(theme)).limit(10),
    db
      .select({ key: sql<string>`${feedback.sprint}`, count: count() })
      .from(feedback)
      .where(and(openNow, isNotNull(feedback.sprint)))
      .groupBy(feedback.sprint)
      .orderBy(desc(count()), asc(feedback.sprint))
      .limit(8),
  ]);
  return { themes, sprints };
}

/** Open or in-progress critical and high feedback, counted. */
export async function openUrgentCounts(db: Executor): Promise<{ critical: number; high: number }> {
  // The predicate of the feedback_open_priority index, so the counts come from the index alone.
  const rows = await queryRows<{ priority: string; count: number }>(
    db,
    sql`select priority, count(*)::int as count from feedback
        where deleted_at is null and status <> 'closed' and priority in ('critical', 'high') group by priority`,
  );
  return { critical: rows.find((c) => c.priority === "critical")?.count ?? 0, high: rows.find((c) => c.priority === "high")?.count ?? 0 };
}
