import { and, asc, desc, eq, gte, isNotNull, isNull, lt, ne, sql } from "drizzle-orm";
import { type Db, type Executor, queryRows } from "../../db/client.js";
import { feedback, feedbackEvents, fixNotices } from "../../db/schema.js";
import type { Services } from "../../core/feature.js";
import { liveReleasesRelation, releaseLiveAt, releaseVersionsRelation } from "../releases/index.js";
import { formatDateTime } from "../../time.js";
import { changeItem } from "./store.js";

/**
 * Feedback closed by the release that fixes it (`feedback fixed <id> <version>`): when that version is
 * live on the last environment, the items close and each feedback thread is told once.
 */

/** Ties a feedback item to the version that fixes it: the version it was tied to before, or why it cannot be. */
export async function markFixed(db: Db, id: number, semver: string, version: string, actor: string): Promise<{ before: string | null } | "missing" | "closed"> {
  const changed = await changeItem<"closed">(db, id, (current) =>
    current.status === "closed" ? "closed" : { set: { fixedIn: semver, fixedVersion: version }, kind: "fixed", actor, detail: { version, previous: current.fixedVersion } },
  );
  return typeof changed === "string" ? changed : { before: changed.before.fixedVersion };
}

interface ClosedRow {
  id: number;
  channel: string;
  ts: string | null;
  thread_ts: string | null;
  release_id: number;
  semver: string;
  version: string;
}

/**
 * Closes every open item whose fixing version has gone live on `environment` (the last one) and queues
 * one notice per thread and version. One statement closes each item, so of several replicas sweeping at
 * once only one closes it and queues its notice; the notice's key keeps a thread from hearing twice.
 */
async function closeShipped(db: Db, environment: string): Promise<number> {
  return db.transaction(async (tx) => {
    const closed = await queryRows<ClosedRow>(
      tx,
      sql`
        with shipped as (
          select distinct on (r.semver) r.id, r.semver, r.version
          from ${liveReleasesRelation()} r
          where r.environment = ${environment}
            and r.semver in (select distinct f.fixed_in from feedback f where f.fixed_in is not null and f.status <> 'closed' and f.deleted_at is null)
          order by r.semver, r.live_at
        )
        update feedback f
        set status = 'closed', closed_at = now(), updated_at = now(), closed_by_release = s.id
        from shipped s
        where f.fixed_in = s.semver and f.status <> 'closed' and f.deleted_at is null
        returning f.id, f.channel, f.ts, f.thread_ts, s.id as release_id, s.semver, s.version`,
    );
    if (closed.length === 0) return 0;
    await tx.insert(feedbackEvents).values(closed.map((c) => ({ feedbackId: c.id, kind: "status", actor: "orchestrator", detail: { to: "closed", fixedIn: c.version, releaseId: c.release_id } })));
    const threads = new Map<string, { channel: string; threadTs: string; semver: string; version: string; releaseId: number; feedbackIds: number[] }>();
    for (const c of closed) {
      const threadTs = c.thread_ts ?? c.ts;
      if (!threadTs) continue; // typed with `feedback add`: no thread to tell
      const key = `${c.channel} ${threadTs} ${c.semver}`;
      const entry = threads.get(key) ?? { channel: c.channel, threadTs, semver: c.semver, version: c.version, releaseId: c.release_id, feedbackIds: [] };
      entry.feedbackIds.push(c.id);
      threads.set(key, entry);
    }
    if (threads.size > 0)
      await tx
        .insert(fixNotices)
        .values([...threads.values()].map((t) => ({ ...t, feedbackIds: t.feedbackIds.sort((a, b) => a - b) })))
        .onConflictDoNothing();
    return closed.length;
  });
}

/**
 * Posts the queued notices, each claimed first by one conditional update so that of several replicas
 * only one posts it. A post Slack refuses is unclaimed and tried again on the next sweep.
 */
async function deliverFixNotices(services: Pick<Services, "db" | "poster" | "log" | "config">): Promise<number> {
  const { db, poster, log, config } = services;
  const environment = config.environments.at(-1)?.name ?? "production";
  const claimed = await db
    .update(fixNotices)
    .set({ claimedAt: sql`now()` })
    .where(and(isNull(fixNotices.postedAt), isNull(fixNotices.claimedAt)))
    .returning();
  let posted = 0;
  for (const notice of claimed) {
    const key = and(eq(fixNotices.channel, notice.channel), eq(fixNotices.threadTs, notice.threadTs), eq(fixNotices.semver, notice.semver));
    try {
      const liveAt = await releaseLiveAt(db, notice.releaseId);
      const since = liveAt ? formatDateTime(liveAt, config.timezone) : "now";
      const ids = notice.feedbackIds.map((id) => `#${id}`).join(", ");
      await poster.post(notice.channel, { threadTs: notice.threadTs, text: `:white_check_mark: Fixed in \`${notice.version}\`, live in ${environment} since ${since} (feedback ${ids}).` });
      await db.update(fixNotices).set({ postedAt: sql`now()` }).where(key);
      posted += 1;
    } catch (error) {
      log.warn("could not tell a feedback thread its fix is live; trying again on the next sweep", { channel: notice.channel, threadTs: notice.threadTs, error });
      await db
        .update(fixNotices)
        .set({ claimedAt: null })
        .where(key)
        .catch(() => undefined);
    }
  }
  return posted;
}

/** Closes what shipped on the last environment and tells the threads: after a deploy there, on `feedback fixed`, and on the approval-expiry sweep. */
export async function settleFixes(services: Pick<Services, "db" | "poster" | "log" | "config">): Promise<{ closed: number; posted: number }> {
  const last = services.config.environments.at(-1)?.name;
  if (!last) return { closed: 0, posted: 0 };
  const closed = await closeShipped(services.db, last);
  const posted = await deliverFixNotices(services);
  return { closed, posted };
}

export interface FixFigures {
  /** Closed in the period because their fix went live, per version. */
  resolved: Array<{ version: string; count: number }>;
  /** Still open, waiting for a version to go live on the last environment. */
  waiting: Array<{ version: string; count: number; urgent: number }>;
}

/** Counts only (no feedback text): digests go to a channel whose members may not see every source channel. */
export async function fixFigures(db: Executor, period: { since: Date; until: Date }): Promise<FixFigures> {
  const count = sql<number>`count(*)::int`;
  // Waiting items are grouped by the normalized version; shown as typed (v1.4.1 and 1.4.1 are one version).
  const typed = sql<string>`min(coalesce(${feedback.fixedVersion}, ${feedback.fixedIn}))`;
  const version = sql<string>`r.version`;
  const [resolved, waiting] = await Promise.all([
    db
      .select({ version, count })
      .from(feedback)
      .innerJoin(sql`${releaseVersionsRelation()} r`, sql`r.id = ${feedback.closedByRelease}`)
      .where(and(isNull(feedback.deletedAt), eq(feedback.status, "closed"), gte(feedback.closedAt, period.since), lt(feedback.closedAt, period.until)))
      .groupBy(version)
      .orderBy(desc(count), asc(version))
      .limit(10),
    db
      .select({ version: typed, count, urgent: sql<number>`(count(*) filter (where ${feedback.priority} in ('high', 'critical')))::int` })
      .from(feedback)
      .where(and(isNotNull(feedback.fixedIn), isNull(feedback.deletedAt), ne(feedback.status, "closed")))
      .groupBy(feedback.fixedIn)
      .orderBy(desc(count), asc(feedback.fixedIn))
      .limit(10),
  ]);
  return { resolved, waiting };
}
