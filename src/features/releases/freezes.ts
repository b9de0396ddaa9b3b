import { and, asc, desc, eq, gt, inArray, isNull, lte, sql } from "drizzle-orm";
import type { Db, Executor, Tx } from "../../db/client.js";
import { freezes } from "../../db/schema.js";

/** The freezes table (SPEC §3 `freeze`, `unfreeze`): who froze what, until when, why, and who ended it. */
export type Freeze = typeof freezes.$inferSelect;

/**
 * Serializes "a freeze starts" with "a deploy starts" on one environment: both take this transaction-scoped
 * lock, so a deploy that checks for freezes sees every freeze committed before it, and a freeze either
 * comes before a deploy's check or after the deploy has started (and is told so).
 */
export async function lockEnvironment(tx: Tx, environment: string): Promise<void> {
  await tx.execute(sql`select pg_advisory_xact_lock(hashtext(${`orchestrator:deploys:${environment}`}))`);
}

/** Freezes in force at `now`, soonest end first; all environments when none is named. */
export async function openFreezes(db: Executor, now: Date, environment?: string): Promise<Freeze[]> {
  return db
    .select()
    .from(freezes)
    .where(and(isNull(freezes.endedAt), lte(freezes.startsAt, now), gt(freezes.endsAt, now), ...(environment ? [eq(freezes.environment, environment)] : [])))
    .orderBy(asc(freezes.environment), asc(freezes.endsAt));
}

/** Freezes `environments` (one row each, in one transaction) from `now` until `endsAt`. */
export async function createFreezes(db: Db, input: { environments: string[]; scope: string; reason: string; createdBy: string; now: Date; endsAt: Date }): Promise<Freeze[]> {
  return db.transaction(async (tx) => {
    // Sorted, so two freezes of overlapping sets of environments take the locks in one order.
    for (const environment of [...input.environments].sort()) await lockEnvironment(tx, environment);
    return tx
      .insert(freezes)
      .values(input.environments.map((environment) => ({ environment, scope: input.scope, reason: input.reason, createdBy: input.createdBy, startsAt: input.now, endsAt: input.endsAt })))
      .returning();
  });
}

/** Ends every freeze in force on these environments now. Returns the freezes it ended. */
export async function endFreezes(db: Db, environments: string[], endedBy: string, now: Date): Promise<Freeze[]> {
  return db
    .update(freezes)
    .set({ endedAt: now, endedBy })
    .where(and(inArray(freezes.environment, environments), isNull(freezes.endedAt), gt(freezes.endsAt, now)))
    .returning();
}

/**
 * Freezes whose end time has passed are marked ended by "orchestrator" at that time. The conditional
 * update hands each one to exactly one replica, which announces it.
 */
export async function endLapsedFreezes(db: Db, now: Date): Promise<Freeze[]> {
  return db
    .update(freezes)
    .set({ endedAt: sql`${freezes.endsAt}`, endedBy: "orchestrator" })
    .where(and(isNull(freezes.endedAt), lte(freezes.endsAt, now)))
    .returning();
}

/** Freezes of an environment that began or ended between two instants (a release's lifetime), for its log. */
export async function freezesDuring(db: Executor, environment: string, since: Date, until: Date): Promise<Freeze[]> {
  return db
    .select()
    .from(freezes)
    .where(and(eq(freezes.environment, environment), lte(freezes.startsAt, until), sql`coalesce(${freezes.endedAt}, ${freezes.endsAt}) >= ${since.toISOString()}::timestamptz`))
    .orderBy(desc(freezes.startsAt))
    .limit(20);
}
