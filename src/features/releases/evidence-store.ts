import { and, eq, sql } from "drizzle-orm";
import type { Db, Tx } from "../../db/client.js";
import { approvals, type CommitRange, type GateResult, releases, type ReleaseState, releaseTransitions, voidedApprovals } from "../../db/schema.js";
import { plural } from "../../slack/text.js";
import { LEASE_SECONDS, moveRelease, type Release } from "./store.js";

/** Moves a release's approvals out of `approvals` (they stop counting) into `voided_approvals`, with why. */
async function voidApprovals(tx: Tx, releaseId: number, reason: string): Promise<number> {
  const removed = await tx.delete(approvals).where(eq(approvals.releaseId, releaseId)).returning();
  if (removed.length === 0) return 0;
  await tx.insert(voidedApprovals).values(removed.map((a) => ({ releaseId, approver: a.approver, approvedAt: a.at, evidenceDigest: a.evidenceDigest, evidence: a.evidence, reason })));
  return removed.length;
}

interface NewEvidence {
  commits: CommitRange | null;
  digest: string;
}

/**
 * The evidence of a release changed (a moved tag): stores the new commit range and digest and voids the
 * approvals of the old one, all in one transaction, only if the release still is in `state` with the
 * digest that was checked (so two replicas noticing the same change void once). A release already
 * deploying goes back to awaiting approval: nothing was deployed, and the new evidence needs approvals.
 */
export async function replaceEvidence(db: Db, release: Pick<Release, "id" | "state" | "evidenceDigest">, next: NewEvidence, reason: string): Promise<{ release: Release; voided: number } | undefined> {
  return db.transaction(async (tx) => {
    const [current] = await tx.select().from(releases).where(eq(releases.id, release.id)).for("update");
    if (!current || current.state !== release.state || current.evidenceDigest !== release.evidenceDigest) return undefined;
    const voided = await voidApprovals(tx, release.id, reason);
    const columns = { commits: next.commits, oldestCommitAt: next.commits?.oldestAt ? new Date(next.commits.oldestAt) : null, evidenceDigest: next.digest };
    if (current.state !== "awaiting_approval") {
      const moved = await moveRelease(tx, release.id, "awaiting_approval", "orchestrator", `evidence changed: ${reason}`, { ...columns, owner: null, awaiting: true, lockedIn: current.state });
      return moved ? { release: moved, voided } : undefined;
    }
    const [row] = await tx
      .update(releases)
      .set({ ...columns, revision: sql`${releases.revision} + 1`, updatedAt: sql`now()` })
      .where(and(eq(releases.id, release.id), eq(releases.state, current.state)))
      .returning();
    if (!row) return undefined;
    await tx.insert(releaseTransitions).values({ releaseId: release.id, fromState: current.state, toState: current.state, actor: "orchestrator", detail: `evidence changed: ${reason}` });
    return { release: row, voided };
  });
}

/** `release <version> regate`: back to gating with fresh gates; every approval so far becomes void. */
export async function startRegate(db: Db, releaseId: number, actor: string, owner: string, gates: GateResult[]): Promise<{ release: Release; voided: number } | undefined> {
  return db.transaction(async (tx) => {
    const [current] = await tx.select({ state: releases.state }).from(releases).where(eq(releases.id, releaseId)).for("update");
    if (current?.state !== ("awaiting_approval" satisfies ReleaseState)) return undefined;
    const voided = await voidApprovals(tx, releaseId, "gates re-run with regate");
    const moved = await moveRelease(tx, releaseId, "gating", actor, `gates re-run (regate)${voided > 0 ? `; ${plural(voided, "approval")} void` : ""}`, {
      gates,
      evidenceDigest: null,
      owner,
      leaseSeconds: LEASE_SECONDS,
      lockedIn: current.state,
    });
    return moved ? { release: moved, voided } : undefined;
  });
}
