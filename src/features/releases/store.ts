import { and, asc, desc, eq, getTableColumns, inArray, isNull, lt, or, sql } from "drizzle-orm";
import { type Db, type Executor, pgError, type Tx } from "../../db/client.js";
import { approvals, type GateResult, type ReleaseKind, releases, type ReleaseState, releaseTransitions, voidedApprovals } from "../../db/schema.js";
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

/** A recorded approval, as the release message lists it. */
export type Approval = { approver: string; at: Date };
/** An approval made void by changed evidence, as the release message lists it. */
export type VoidedApproval = Approval & { reason: string };

/**
 * A clicked release with who approved it and the approvals made void, in one statement: what an Approve
 * click checks before anything is counted, and what its message shows besides the tally.
 */
export async function clickedRelease(db: Executor, id: number): Promise<{ release: Release; approvedBy: string[]; voided: VoidedApproval[] } | undefined> {
  const [row] = await db
    .select({
      release: getTableColumns(releases),
      approvedBy: sql<string[]>`array(select ${approvals.approver} from ${approvals} where ${approvals.releaseId} = ${releases.id} order by ${approvals.at})`,
      voided: sql<
        Array<{ approver: string; at: string; reason: string }>
      >`coalesce((select json_agg(json_build_object('approver', ${voidedApprovals.approver}, 'at', ${voidedApprovals.approvedAt}, 'reason', ${voidedApprovals.reason}) order by ${voidedApprovals.id}) from ${voidedApprovals} where ${voidedApprovals.releaseId} = ${releases.id}), '[]'::json)`,
    })
    .from(releases)
    .where(eq(releases.id, id));
  if (!row) return undefined;
  return { release: row.release, approvedBy: row.approvedBy, voided: row.voided.map((v) => ({ approver: v.approver, at: new Date(v.at), reason: v.reason })) };
}

export async function voidedOf(db: Executor, releaseId: number): Promise<VoidedApproval[]> {
  return db
    .select({ approver: voidedApprovals.approver, at: voidedApprovals.approvedAt, reason: voidedApprovals.reason })
    .from(voidedApprovals)
    .where(eq(voidedApprovals.releaseId, releaseId))
    .orderBy(asc(voidedApprovals.id));
}

export async function approversOf(db: Executor, releaseId: number): Promise<Approval[]> {
  return db.select({ approver: approvals.approver, at: approvals.at }).from(approvals).where(eq(approvals.releaseId, releaseId)).orderBy(asc(approvals.at));
}

type CreateResult = { ok: true; release: Release } | { ok: false; inFlight: Release | undefined };

/**
 * Creates a release in `gating`, owned by this replica. A release of the same version already in
 * flight to the environment is refused by a unique index, not by a prior read, so two requests at
 * the same moment cannot both start.
 */
export async function createRelease(
  db: Db,
  input: {
    version: string;
    semver: string;
    environment: string;
    requester: string;
    requiredApprovals: number;
    gates: GateResult[];
    owner: string;
    kind?: ReleaseKind;
    emergency?: string;
    gatesFrom?: number;
    /** A rollback skips the gates and waits for approval from the start, with its evidence known at once. */
    start?: "gating" | "awaiting_approval";
    commits?: Release["commits"];
    oldestCommitAt?: Date | null;
    evidenceDigest?: string;
    detail?: string;
  },
): Promise<CreateResult> {
  const { start = "gating", detail, ...columns } = input;
  try {
    const release = await db.transaction(async (tx) => {
      const [row] = await tx
        .insert(releases)
        .values({
          ...columns,
          state: start,
          ...(start === "gating" ? { leaseUntil: sql`now() + make_interval(secs => ${LEASE_SECONDS})` } : { owner: null, awaitingSince: sql`now()` }),
        })
        .returning();
      if (!row) throw new Error("insert returned nothing");
      await tx
        .insert(releaseTransitions)
        .values({ releaseId: row.id, fromState: null, toState: start, actor: input.requester, detail: detail ?? `requested ${input.version} to ${input.environment}` });
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
  set: Partial<Pick<Release, "reason" | "outputTail" | "owner" | "gates" | "scheduledFor" | "commits" | "oldestCommitAt" | "evidenceDigest">> & {
    live?: boolean;
    awaiting?: boolean;
    leaseSeconds?: number;
    /** Move only if the driving replica's claim has lapsed, judged under the row lock (a renewal may just have committed). */
    onlyIfLeaseLapsed?: boolean;
    /** The state the caller found the release in under the row lock it holds in `tx`: no second read. */
    lockedIn?: ReleaseState;
  } = {},
): Promise<Release | undefined> {
  const { live, awaiting, leaseSeconds, onlyIfLeaseLapsed, lockedIn, ...columns } = set;
  const [current] = lockedIn ? [{ state: lockedIn }] : await tx.select({ state: releases.state }).from(releases).where(eq(releases.id, id)).for("update");
  if (!current || !canTransition(current.state, to)) return undefined;
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

/** Rejects (or withdraws) a release; when its state no longer allows that, the state it was found in instead. */
export function rejectRelease(db: Db, id: number, actor: string, detail: string, reason: string): Promise<{ rejected: Release } | { state: ReleaseState | undefined }> {
  return db.transaction(async (tx) => {
    const [current] = await tx.select({ state: releases.state }).from(releases).where(eq(releases.id, id)).for("update");
    const rejected = current && (await moveRelease(tx, id, "rejected", actor, detail, { reason, lockedIn: current.state }));
    return rejected ? { rejected } : { state: current?.state };
  });
}

/** Records gate progress while the release is still gating (a late result cannot touch a finished release); the row as saved. */
export async function saveGates(db: Db, id: number, gates: GateResult[]): Promise<Release | undefined> {
  const [row] = await db
    .update(releases)
    .set({ gates, revision: sql`${releases.revision} + 1`, updatedAt: sql`now()` })
    .where(and(eq(releases.id, id), eq(releases.state, "gating")))
    .returning();
  return row;
}

/** Scheduled releases, the longest-waiting first. */
export async function scheduledReleases(db: Executor): Promise<Release[]> {
  return db.select().from(releases).where(eq(releases.state, "scheduled")).orderBy(asc(releases.updatedAt), asc(releases.id));
}

/**
 * Verifying → live. A rollback going live moves the release it replaced (the one live before it, of
 * another version) to `rolled_back` in the same transaction. Returns the live release and the replaced one.
 */
export async function goLive(db: Db, release: Release, detail: string, tail: string | null): Promise<{ live: Release | undefined; replaced: Release | undefined }> {
  return db.transaction(async (tx) => {
    const live = await moveRelease(tx, release.id, "live", SYSTEM_ACTOR, detail, { live: true, outputTail: tail });
    if (!live || release.kind !== "rollback") return { live, replaced: undefined };
    const [previous] = await tx
      .select()
      .from(releases)
      .where(and(eq(releases.environment, release.environment), eq(releases.state, "live"), sql`${releases.id} <> ${release.id}`))
      .orderBy(desc(releases.liveAt))
      .limit(1);
    if (!previous || previous.semver === release.semver) return { live, replaced: undefined };
    const replaced = await moveRelease(tx, previous.id, "rolled_back", release.requester, `rolled back to ${release.version} by release #${release.id}`);
    return { live, replaced };
  });
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

export async function currentLive(db: Executor, environment: string): Promise<Release | undefined> {
  const [row] = await db
    .select()
    .from(releases)
    .where(and(eq(releases.environment, environment), eq(releases.state, "live")))
    .orderBy(desc(releases.liveAt))
    .limit(1);
  return row;
}

/** Records the release's message; the row as it is now, or undefined when another replica's message was recorded first. */
export async function setMessage(db: Db, id: number, channel: string, ts: string): Promise<Release | undefined> {
  const [row] = await db
    .update(releases)
    .set({ channel, messageTs: ts })
    .where(and(eq(releases.id, id), isNull(releases.messageTs)))
    .returning();
  return row;
}

/** The release's revision now: whether a message rendered from an earlier row is still current. */
export async function revisionOf(db: Executor, id: number): Promise<number | undefined> {
  const [row] = await db.select({ revision: releases.revision }).from(releases).where(eq(releases.id, id));
  return row?.revision;
}

/** Forgets a release message that is gone from Slack, unless another replica already replaced it; the row without it when this call did. */
export async function forgetMessage(db: Db, id: number, ts: string): Promise<Release | undefined> {
  const [row] = await db
    .update(releases)
    .set({ messageTs: null })
    .where(and(eq(releases.id, id), eq(releases.messageTs, ts)))
    .returning();
  return row;
}
