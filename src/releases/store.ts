import { and, asc, desc, eq, inArray, isNull, lt, or, sql } from "drizzle-orm";
import { type Db, type Executor, pgError, type Tx } from "../db/client.js";
import { approvals, type GateResult, releases, type ReleaseState, releaseTransitions } from "../db/schema.js";
import { canTransition } from "./machine.js";
import { IN_FLIGHT } from "./queries.js";

export type Release = typeof releases.$inferSelect;

/** How long a replica's claim on a running release holds without a heartbeat. */
export const LEASE_SECONDS = 30;
export const HEARTBEAT_MS = 10_000;

const SYSTEM_ACTOR = "orchestrator";

export async function getRelease(db: Executor, id: number): Promise<Release | undefined> {
  const [row] = await db.select().from(releases).where(eq(releases.id, id));
  return row;
}

export async function approversOf(db: Executor, releaseId: number): Promise<Array<{ approver: string; at: Date }>> {
  return db.select({ approver: approvals.approver, at: approvals.at }).from(approvals).where(eq(approvals.releaseId, releaseId)).orderBy(asc(approvals.at));
}

export type CreateResult = { ok: true; release: Release } | { ok: false; inFlight: Release | undefined };

/**
 * Creates a release in `gating`, owned by this replica. A release of the same version already in
 * flight to the environment is refused by a unique index, not by a prior read, so two requests at
 * the same moment cannot both start.
 */
export async function createRelease(
  db: Db,
  input: { version: string; semver: string; environment: string; requester: string; requiredApprovals: number; gates: GateResult[]; owner: string },
): Promise<CreateResult> {
  try {
    const release = await db.transaction(async (tx) => {
      const [row] = await tx
        .insert(releases)
        .values({ ...input, state: "gating", leaseUntil: sql`now() + make_interval(secs => ${LEASE_SECONDS})` })
        .returning();
      if (!row) throw new Error("insert returned nothing");
      await tx.insert(releaseTransitions).values({ releaseId: row.id, fromState: null, toState: "gating", actor: input.requester, detail: `requested ${input.version} to ${input.environment}` });
      return row;
    });
    return { ok: true, release };
  } catch (error) {
    if (pgError(error).code !== "23505") throw error;
    const [inFlight] = await db
      .select()
      .from(releases)
      .where(and(eq(releases.environment, input.environment), eq(releases.semver, input.semver), inArray(releases.state, IN_FLIGHT)));
    return { ok: false, inFlight };
  }
}

/**
 * Moves a release to `to` if, and only if, its current state allows it: the row is locked, the
 * transition checked against the state machine, then updated with the state it was found in as the
 * condition. Returns undefined (and changes nothing) when the state had already moved on.
 */
export async function moveRelease(
  tx: Tx,
  id: number,
  to: ReleaseState,
  actor: string,
  detail: string | null,
  set: Partial<Pick<Release, "reason" | "outputTail" | "owner" | "gates">> & {
    live?: boolean;
    awaiting?: boolean;
    leaseSeconds?: number;
    /** Move only if the driving replica's claim has lapsed, judged under the row lock (a renewal may just have committed). */
    onlyIfLeaseLapsed?: boolean;
  } = {},
): Promise<Release | undefined> {
  const [current] = await tx.select({ state: releases.state }).from(releases).where(eq(releases.id, id)).for("update");
  if (!current || !canTransition(current.state, to)) return undefined;
  const { live, awaiting, leaseSeconds, onlyIfLeaseLapsed, ...columns } = set;
  const [row] = await tx
    .update(releases)
    .set({
      ...columns,
      state: to,
      revision: sql`${releases.revision} + 1`,
      updatedAt: sql`now()`,
      ...(live ? { liveAt: sql`now()` } : {}),
      ...(awaiting ? { awaitingSince: sql`now()` } : {}),
      leaseUntil: leaseSeconds ? sql`now() + make_interval(secs => ${leaseSeconds})` : null,
    })
    .where(and(eq(releases.id, id), eq(releases.state, current.state), onlyIfLeaseLapsed ? leaseLapsed() : undefined))
    .returning();
  if (!row) return undefined;
  await tx.insert(releaseTransitions).values({ releaseId: id, fromState: current.state, toState: to, actor, detail });
  return row;
}

export function transition(db: Db, id: number, to: ReleaseState, actor: string, detail: string | null, set: Parameters<typeof moveRelease>[5] = {}) {
  return db.transaction((tx) => moveRelease(tx, id, to, actor, detail, set));
}

/** Records gate progress while the release is still gating (a late result cannot touch a finished release). */
export async function saveGates(db: Db, id: number, gates: GateResult[]): Promise<boolean> {
  const rows = await db
    .update(releases)
    .set({ gates, revision: sql`${releases.revision} + 1`, updatedAt: sql`now()` })
    .where(and(eq(releases.id, id), eq(releases.state, "gating")))
    .returning({ id: releases.id });
  return rows.length > 0;
}

export type ApprovalOutcome =
  | { kind: "counted"; release: Release; approvals: number }
  | { kind: "deploy"; release: Release; approvals: number }
  | { kind: "not_awaiting"; state: ReleaseState | undefined }
  | { kind: "window_passed" }
  | { kind: "duplicate" }
  | { kind: "environment_busy"; deploying: Release | undefined };

/**
 * Counts one approver's approval, and moves the release to `deploying` when it has enough — all in
 * one transaction. The first statement is a conditional update that locks the release row, so
 * approvers clicking at the same moment are counted one after another, each seeing the others'
 * approvals; only the transaction whose count reaches the threshold moves the state, and only its
 * caller starts the deploy, after the commit.
 */
export async function approve(db: Db, releaseId: number, approver: string, owner: string, expiresAfterMs: number): Promise<ApprovalOutcome> {
  try {
    return await db.transaction(async (tx): Promise<ApprovalOutcome> => {
      // Also past its window counts as no longer awaiting, even before the expiry job has marked it.
      const [locked] = await tx
        .update(releases)
        .set({ revision: sql`${releases.revision} + 1`, updatedAt: sql`now()` })
        .where(
          and(
            eq(releases.id, releaseId),
            eq(releases.state, "awaiting_approval"),
            sql`${releases.awaitingSince} > now() - make_interval(secs => ${expiresAfterMs / 1000})`,
          ),
        )
        .returning();
      if (!locked) {
        const [found] = await tx.select({ state: releases.state }).from(releases).where(eq(releases.id, releaseId));
        return found?.state === "awaiting_approval" ? { kind: "window_passed" } : { kind: "not_awaiting", state: found?.state };
      }
      const inserted = await tx.insert(approvals).values({ releaseId, approver }).onConflictDoNothing().returning({ approver: approvals.approver });
      if (inserted.length === 0) return { kind: "duplicate" };
      const [{ count } = { count: 0 }] = await tx.select({ count: sql<number>`count(*)::int` }).from(approvals).where(eq(approvals.releaseId, releaseId));
      if (count < locked.requiredApprovals) return { kind: "counted", release: locked, approvals: count };
      const moved = await moveRelease(tx, releaseId, "deploying", approver, `approved (${count}/${locked.requiredApprovals}); deploy starts`, {
        owner,
        leaseSeconds: LEASE_SECONDS,
      });
      if (!moved) return { kind: "not_awaiting", state: locked.state };
      return { kind: "deploy", release: moved, approvals: count };
    });
  } catch (error) {
    const { code, constraint } = pgError(error);
    if (code === "23505" && (constraint === "releases_one_deploy_per_environment" || constraint === undefined)) {
      const [release] = await db.select({ environment: releases.environment }).from(releases).where(eq(releases.id, releaseId));
      const [deploying] = release
        ? await db.select().from(releases).where(and(eq(releases.environment, release.environment), inArray(releases.state, ["deploying", "verifying"])))
        : [];
      return { kind: "environment_busy", deploying };
    }
    throw error;
  }
}

/** Keeps this replica's claim on a release it is driving; false when the release is no longer ours. */
export async function heartbeat(db: Db, id: number, owner: string): Promise<boolean> {
  const rows = await db
    .update(releases)
    .set({ leaseUntil: sql`now() + make_interval(secs => ${LEASE_SECONDS})` })
    .where(and(eq(releases.id, id), eq(releases.owner, owner), inArray(releases.state, ["gating", "deploying", "verifying"])))
    .returning({ id: releases.id });
  return rows.length > 0;
}

/** Pending approvals older than `expiresAfterMs` become `expired`. Returns the releases that expired. */
export async function expirePending(db: Db, expiresAfterMs: number): Promise<Release[]> {
  const due = await db
    .select({ id: releases.id })
    .from(releases)
    .where(and(eq(releases.state, "awaiting_approval"), lt(releases.awaitingSince, sql`now() - make_interval(secs => ${expiresAfterMs / 1000})`)));
  const expired: Release[] = [];
  for (const { id } of due) {
    const moved = await transition(db, id, "expired", SYSTEM_ACTOR, `no decision within ${Math.round(expiresAfterMs / 3_600_000)}h`, {
      reason: "Approval expired before enough approvers decided.",
    });
    if (moved) expired.push(moved);
  }
  return expired;
}

/** Whose driving replica's claim has run out (or was never taken). */
const leaseLapsed = () => or(isNull(releases.leaseUntil), lt(releases.leaseUntil, sql`now()`));

/** Releases gating, deploying or verifying whose claim has lapsed, as last seen: candidates for the sweep. */
export function staleReleases(db: Executor): Promise<Array<{ id: number; state: ReleaseState }>> {
  return db
    .select({ id: releases.id, state: releases.state })
    .from(releases)
    .where(and(inArray(releases.state, ["gating", "deploying", "verifying"]), leaseLapsed()));
}

/**
 * Marks one stale release failed ("interrupted"), unless its replica renewed the claim since it was
 * seen stale: the lapse is checked again in the conditional update, under the row lock.
 */
export function sweepInterrupted(db: Db, id: number, state: ReleaseState): Promise<Release | undefined> {
  return transition(db, id, "failed", SYSTEM_ACTOR, `interrupted while ${state}`, {
    reason: `Interrupted: Orchestrator stopped while this release was ${state}. Nothing is re-run automatically; check the environment, then release again.`,
    onlyIfLeaseLapsed: true,
  });
}

/**
 * Releases whose driving replica stopped heartbeating while gating, deploying or verifying: the
 * process died. They are marked failed ("interrupted") and never re-run by themselves.
 */
export async function failInterrupted(db: Db): Promise<Release[]> {
  const failed: Release[] = [];
  for (const { id, state } of await staleReleases(db)) {
    const moved = await sweepInterrupted(db, id, state);
    if (moved) failed.push(moved);
  }
  return failed;
}

/** Marks a release this replica is driving as failed because this replica is shutting down. */
export async function failOnShutdown(db: Db, id: number, state: ReleaseState): Promise<Release | undefined> {
  return transition(db, id, "failed", SYSTEM_ACTOR, `interrupted by shutdown while ${state}`, {
    reason: `Interrupted: Orchestrator was shut down while this release was ${state}. Check the environment, then release again.`,
  });
}

/** Every release of a version, newest first, with its transitions and approvals: the audit trail. */
export async function auditTrail(db: Executor, semverText: string) {
  const rows = await db.select().from(releases).where(eq(releases.semver, semverText)).orderBy(desc(releases.createdAt));
  const ids = rows.map((r) => r.id);
  if (ids.length === 0) return [];
  const [transitions, approvalRows] = await Promise.all([
    db.select().from(releaseTransitions).where(inArray(releaseTransitions.releaseId, ids)).orderBy(asc(releaseTransitions.id)),
    db.select().from(approvals).where(inArray(approvals.releaseId, ids)).orderBy(asc(approvals.at)),
  ]);
  return rows.map((release) => ({
    release,
    transitions: transitions.filter((t) => t.releaseId === release.id),
    approvals: approvalRows.filter((a) => a.releaseId === release.id),
  }));
}

export async function currentLive(db: Executor, environment: string): Promise<Release | undefined> {
  const [row] = await db
    .select()
    .from(releases)
    .where(and(eq(releases.environment, environment), eq(releases.state, "live")))
    .orderBy(desc(releases.liveAt))
    .limit(1);
  return row;
}

export async function setMessage(db: Db, id: number, channel: string, ts: string): Promise<void> {
  await db.update(releases).set({ channel, messageTs: ts }).where(and(eq(releases.id, id), isNull(releases.messageTs)));
}
