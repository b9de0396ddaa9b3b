import { and, desc, eq, inArray, sql } from "drizzle-orm";
import { type Db, pgError, queryRows, type Tx } from "../../db/client.js";
import { releases, releaseTransitions } from "../../db/schema.js";
import { digestOf, evidenceOf } from "./evidence.js";
import type { DeployDecision } from "./freeze.js";
import type { Freeze } from "./freezes.js";
import { isSuperseded, tallyApprovals } from "./machine.js";
import { type Approval, LEASE_SECONDS, moveRelease, type Release } from "./store.js";

/** The two ways a deploy starts, each decided in the transaction that claims it: the last approval, and a scheduled release whose wait is over. */

const SYSTEM_ACTOR = "orchestrator";

type Held = Extract<DeployDecision, { start: false }>;

/** The approvals on record after one was counted, in order, and how many of them count (current approvers, not the requester). */
interface Tally {
  approvals: Approval[];
  count: number;
}

/** An Approve that was counted, with the release as it left the transaction. */
export type Approved =
  | { kind: "counted"; release: Release; tally: Tally }
  /** The last approval: the release is deploying, and the caller starts the deploy. `freezes`: those in force as it was decided. */
  | { kind: "completed"; release: Release; tally: Tally; freezes: Freeze[] }
  /** Approved, but a freeze or the deploy windows hold the deploy until `decision.at`. */
  | { kind: "scheduled"; release: Release; tally: Tally; freezes: Freeze[]; decision: Held };

type ApprovalOutcome =
  | Approved
  | { kind: "not_awaiting"; state: Release["state"] | undefined }
  | { kind: "window_passed" }
  | { kind: "duplicate" }
  | { kind: "evidence_changed" }
  | { kind: "environment_busy"; deploying: Release | undefined };

/** Whether a deploy may start now, and the freezes in force on its environment that it was decided by. */
export interface StartDecision {
  decision: DeployDecision;
  freezes: Freeze[];
}

/** Decides, inside the transaction that would start a deploy, whether it may start now (freezes, windows). */
type StartCheck = (tx: Tx, release: Release) => Promise<StartDecision>;

/**
 * Counts one approver's approval, and moves the release to `deploying` when it has enough — all in
 * one transaction. The first statement is a conditional update that locks the release row, so
 * approvers clicking at the same moment are counted one after another; the next statement, which
 * records the approval and reads the tally, starts after the lock is held, so it sees every approval
 * committed before. Only the transaction whose count reaches the threshold moves the state, and only
 * its caller starts the deploy, after the commit. `mayStart` is asked in that same transaction, so a
 * freeze or a closed window holds the deploy (→ `scheduled`) at the moment it would start.
 */
export async function approve(
  db: Db,
  /** The release as the click found it, its evidence checked just before. */
  clicked: Pick<Release, "id" | "environment" | "evidenceDigest">,
  approver: string,
  owner: string,
  rules: { expiresAfterMs: number; approvers: readonly string[] },
  mayStart: StartCheck,
): Promise<ApprovalOutcome> {
  const { expiresAfterMs } = rules;
  const { id: releaseId, evidenceDigest: expectedDigest } = clicked;
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
      // One statement records the approval and reads the tally: the approvals on record before it, and the one it added.
      const rows = await queryRows<{ approver: string; at: string; added: boolean }>(
        tx,
        sql`with added as (
          insert into approvals (release_id, approver, evidence_digest, evidence)
          values (${releaseId}, ${approver}, ${expectedDigest}, ${JSON.stringify(evidence)}::jsonb)
          on conflict do nothing
          returning approver, at
        )
        select approver, at, false as added from approvals where release_id = ${releaseId}
        union all select approver, at, true from added
        order by at`,
      );
      if (!rows.some((r) => r.added)) return { kind: "duplicate" };
      const recorded = rows.map((r) => ({ approver: r.approver, at: new Date(r.at) }));
      const count = tallyApprovals({ requester: locked.requester, approvers: rules.approvers, approvedBy: recorded.map((a) => a.approver) }).counting.length;
      const tally = { approvals: recorded, count };
      if (count < locked.requiredApprovals) return { kind: "counted", release: locked, tally };
      const { decision, freezes } = await mayStart(tx, locked);
      if (!decision.start) {
        const held = await moveRelease(tx, releaseId, "scheduled", approver, `approved (${count}/${locked.requiredApprovals}); ${holdDetail(decision)}`, {
          scheduledFor: decision.at,
          lockedIn: locked.state,
        });
        if (!held) return { kind: "not_awaiting", state: locked.state };
        return { kind: "scheduled", release: held, tally, freezes, decision };
      }
      const moved = await moveRelease(tx, releaseId, "deploying", approver, `approved (${count}/${locked.requiredApprovals}); ${locked.emergency ? "emergency: " : ""}deploy starts`, {
        owner,
        leaseSeconds: LEASE_SECONDS,
        lockedIn: locked.state,
      });
      if (!moved) return { kind: "not_awaiting", state: locked.state };
      return { kind: "completed", release: moved, tally, freezes };
    });
  } catch (error) {
    const { code, constraint } = pgError(error);
    if (code === "23505" && (constraint === "releases_one_deploy_per_environment" || constraint === undefined)) {
      const [deploying] = await db
        .select()
        .from(releases)
        .where(and(eq(releases.environment, clicked.environment), inArray(releases.state, ["deploying", "verifying"])));
      return { kind: "environment_busy", deploying };
    }
    throw error;
  }
}

/** Why a deploy waits, for the audit trail. */
function holdDetail(decision: Held): string {
  const causes = [
    ...(decision.freeze ? [`frozen (freeze #${decision.freeze.id} by ${decision.freeze.createdBy}: ${decision.freeze.reason})`] : []),
    ...(decision.outsideWindow ? ["outside the deploy windows"] : []),
  ];
  return `scheduled for ${decision.at.toISOString()}: ${causes.join(", ")}`;
}

export type StartOutcome =
  | { kind: "started"; release: Release }
  /** Not started, and rejected by Orchestrator: a newer version went live while it waited. */
  | { kind: "superseded"; release: Release; live: Release }
  | { kind: "held"; release: Release; decision: Held; moved: boolean }
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
        const rejected = await moveRelease(tx, releaseId, "rejected", SYSTEM_ACTOR, `superseded by ${live.version} (release #${live.id})`, { reason, lockedIn: locked.state });
        return rejected ? { kind: "superseded", release: rejected, live } : { kind: "gone" };
      }
      const { decision } = await mayStart(tx, locked);
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
      const moved = await moveRelease(tx, releaseId, "deploying", SYSTEM_ACTOR, `scheduled deploy starts: ${why}`, { owner, leaseSeconds: LEASE_SECONDS, lockedIn: locked.state });
      return moved ? { kind: "started", release: moved } : { kind: "gone" };
    });
  } catch (error) {
    const { code, constraint } = pgError(error);
    if (code === "23505" && (constraint === "releases_one_deploy_per_environment" || constraint === undefined)) return { kind: "busy" };
    throw error;
  }
}
