import { and, asc, desc, eq, inArray, isNull, lt, or, sql } from "drizzle-orm";
import { type Db, type Executor, pgError, type Tx } from "../../db/client.js";
import { approvals, type GateResult, type ReleaseKind, releases, type ReleaseState, releaseTransitions } from "../../db/schema.js";
import { digestOf, evidenceOf } from "./evidence.js";
import type { DeployDecision } from "./freeze.js";
import { canTransition, isSuperseded, tallyApprovals } from "./machine.js";
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

type ApprovalOutcome =
  /** `approvals`: how many count now (current approvers, not the requester). */
  | { kind: "counted"; release: Release; approvals: number }
  | { kind: "deploy"; release: Release; approvals: number }
  /** Approved, but a freeze or the deploy windows hold the deploy until `decision.at`. */
  | { kind: "scheduled"; release: Release; approvals: number; decision: Extract<DeployDecision, { start: false }> }
  | { kind: "not_awaiting"; state: ReleaseState | undefined }
  | { kind: "window_passed" }
  | { kind: "duplicate" }
  | { kind: "evidence_changed" }
  | { kind: "environment_busy"; deploying: Release | undefined };

/** Decides, inside the transaction that would start a deploy, whether it may start now (freezes, windows). */
type StartCheck = (tx: Tx, release: Release) => Promise<DeployDecision>;

/**
 * Counts one approver's approval, and moves the release to `deploying` when it has enough — all in
 * one transaction. The first statement is a conditional update that locks the release row, so
 * approvers clicking at the same moment are counted one after another, each seeing the others'
 * approvals; only the transaction whose count reaches the threshold moves the state, and only its
 * caller starts the deploy, after the commit. `mayStart` is asked in that same transaction, so a
 * freeze or a closed window holds the deploy (→ `scheduled`) at the moment it would start.
 */
export async function approve(
  db: Db,
  releaseId: number,
  approver: string,
  owner: string,
  rules: { expiresAfterMs: number; approvers: readonly string[] },
  mayStart: StartCheck,
  expectedDigest: string | null,
): Promise<ApprovalOutcome> {
  const { expiresAfterMs } = rules;
  try {
    return await db.transaction(async (tx): Promise<ApprovalOutcome> => {
      // Also past its window counts as no longer awaiting, even before the expiry job has marked it.
      const [locked] = await tx
        .update(releases)
        .set({ revision: sql`${releases.revision} + 1`, updatedAt: sql`now()` })
        .where(and(eq(releases.id, releaseId), eq(releases.state, "awaiting_approval"), sql`${releases.awaitingSince} > now() - make_interval(secs => ${expiresAfterMs / 1000})`))
        .returning();
      if (!locked) {
        const [found] = await tx.select({ state: releases.state }).from(releases).where(eq(releases.id, releaseId));
        return found?.state === "awaiting_approval" ? { kind: "window_passed" } : { kind: "not_awaiting", state: found?.state };
      }
      // The approval covers the evidence checked just before this click; if it changed since, it covers nothing.
      const evidence = evidenceOf(locked);
      if (locked.evidenceDigest !== expectedDigest || digestOf(evidence) !== expectedDigest) return { kind: "evidence_changed" };
      const inserted = await tx.insert(approvals).values({ releaseId, approver, evidenceDigest: expectedDigest, evidence }).onConflictDoNothing().returning({ approver: approvals.approver });
      if (inserted.length === 0) return { kind: "duplicate" };
      const recorded = await tx.select({ approver: approvals.approver }).from(approvals).where(eq(approvals.releaseId, releaseId)).orderBy(asc(approvals.at));
      const count = tallyApprovals({ requester: locked.requester, approvers: rules.approvers, approvedBy: recorded.map((a) => a.approver) }).counting.length;
      if (count < locked.requiredApprovals) return { kind: "counted", release: locked, approvals: count };
      const decision = await mayStart(tx, locked);
      if (!decision.start) {
        const held = await moveRelease(tx, releaseId, "scheduled", approver, `approved (${count}/${locked.requiredApprovals}); ${holdDetail(decision)}`, { scheduledFor: decision.at });
        if (!held) return { kind: "not_awaiting", state: locked.state };
        return { kind: "scheduled", release: held, approvals: count, decision };
      }
      const moved = await moveRelease(tx, releaseId, "deploying", approver, `approved (${count}/${locked.requiredApprovals}); ${locked.emergency ? "emergency: " : ""}deploy starts`, {
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
        ? await db
            .select()
            .from(releases)
            .where(and(eq(releases.environment, release.environment), inArray(releases.state, ["deploying", "verifying"])))
        : [];
      return { kind: "environment_busy", deploying };
    }
    throw error;
  }
}

/** Why a deploy waits, for the audit trail. */
function holdDetail(decision: Extract<DeployDecision, { start: false }>): string {
  const causes = [
    ...(decision.freeze ? [`frozen (freeze #${decision.freeze.id} by ${decision.freeze.createdBy}: ${decision.freeze.reason})`] : []),
    ...(decision.outsideWindow ? ["outside the deploy windows"] : []),
  ];
  return `scheduled for ${decision.at.toISOString()}: ${causes.join(", ")}`;
}

type StartOutcome =
  | { kind: "started"; release: Release }
  /** Not started, and rejected by Orchestrator: a newer version went live while it waited. */
  | { kind: "superseded"; release: Release; live: Release }
  | { kind: "held"; release: Release; decision: Extract<DeployDecision, { start: false }>; moved: boolean }
  | { kind: "busy" }
  | { kind: "gone" };

/**
 * Starts a scheduled release whose freeze or window allows it now, claiming it for this replica in the
 * transaction that checks: the row lock and the conditional move mean one replica starts it, once;
 * a release still held gets its expected start time updated (`moved` when it changed).
 */
export async function startScheduled(db: Db, releaseId: number, owner: string, mayStart: StartCheck): Promise<StartOutcome> {
  try {
    return await db.transaction(async (tx): Promise<StartOutcome> => {
      const [locked] = await tx
        .select()
        .from(releases)
        .where(and(eq(releases.id, releaseId), eq(releases.state, "scheduled")))
        .for("update");
      if (!locked) return { kind: "gone" };
      const [live] = await tx
        .select()
        .from(releases)
        .where(and(eq(releases.environment, locked.environment), eq(releases.state, "live")))
        .orderBy(desc(releases.liveAt))
        .limit(1);
      if (live && isSuperseded(locked, live)) {
        const reason = `Not deployed: ${live.version}, as new or newer, went live on ${locked.environment} while this release waited (release #${live.id}). Release again if it is still wanted.`;
        const rejected = await moveRelease(tx, releaseId, "rejected", SYSTEM_ACTOR, `superseded by ${live.version} (release #${live.id})`, { reason });
        return rejected ? { kind: "superseded", release: rejected, live } : { kind: "gone" };
      }
      const decision = await mayStart(tx, locked);
      if (!decision.start) {
        if (locked.scheduledFor?.getTime() === decision.at.getTime()) return { kind: "held", release: locked, decision, moved: false };
        const [row] = await tx
          .update(releases)
          .set({ scheduledFor: decision.at, revision: sql`${releases.revision} + 1`, updatedAt: sql`now()` })
          .where(eq(releases.id, releaseId))
          .returning();
        await tx.insert(releaseTransitions).values({ releaseId, fromState: "scheduled", toState: "scheduled", actor: SYSTEM_ACTOR, detail: `re${holdDetail(decision)}` });
        return { kind: "held", release: row ?? locked, decision, moved: true };
      }
      const why = locked.scheduledFor ? "the freeze has ended and the window is open" : "may start now";
      const moved = await moveRelease(tx, releaseId, "deploying", SYSTEM_ACTOR, `scheduled deploy starts: ${why}`, { owner, leaseSeconds: LEASE_SECONDS });
      return moved ? { kind: "started", release: moved } : { kind: "gone" };
    });
  } catch (error) {
    const { code, constraint } = pgError(error);
    if (code === "23505" && (constraint === "releases_one_deploy_per_environment" || constraint === undefined)) return { kind: "busy" };
    throw error;
  }
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

export async function setMessage(db: Db, id: number, channel: string, ts: string): Promise<void> {
  await db
    .update(releases)
    .set({ channel, messageTs: ts })
    .where(and(eq(releases.id, id), isNull(releases.messageTs)));
}

/** Forgets a release message that is gone from Slack, unless another replica already replaced it; true when this call did. */
export async function forgetMessage(db: Db, id: number, ts: string): Promise<boolean> {
  const rows = await db
    .update(releases)
    .set({ messageTs: null })
    .where(and(eq(releases.id, id), eq(releases.messageTs, ts)))
    .returning({ id: releases.id });
  return rows.length > 0;
}
