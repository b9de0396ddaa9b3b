import semver from "semver";
import type { ReleaseState } from "../db/schema.js";

/**
 * The release state machine and approval rules of SPEC §4, as plain functions over plain data.
 *
 *   gating → awaiting_approval → deploying → verifying → live
 *      ↘ blocked        ↘ rejected | expired    ↘ failed    ↘ failed
 *
 * Back edges, both voiding the approvals: awaiting_approval → gating (`release <version> regate`), and
 * deploying → awaiting_approval when the evidence changed (a moved tag) before the deploy started.
 */
export const TRANSITIONS: Record<ReleaseState, readonly ReleaseState[]> = {
  gating: ["awaiting_approval", "blocked", "failed"],
  awaiting_approval: ["deploying", "rejected", "expired", "gating"],
  deploying: ["verifying", "failed", "awaiting_approval"],
  verifying: ["live", "failed"],
  live: [],
  blocked: [],
  rejected: [],
  expired: [],
  failed: [],
};

export function canTransition(from: ReleaseState, to: ReleaseState): boolean {
  return TRANSITIONS[from].includes(to);
}

/** States a transition to `to` may start from: the conditional update's WHERE clause. */
export function statesLeadingTo(to: ReleaseState): ReleaseState[] {
  return (Object.keys(TRANSITIONS) as ReleaseState[]).filter((from) => canTransition(from, to));
}

export const FINAL_STATES: readonly ReleaseState[] = ["live", "blocked", "rejected", "expired", "failed"];

export function isFinal(state: ReleaseState): boolean {
  return FINAL_STATES.includes(state);
}

/** Normalized semver for "the same version", or undefined when the text is not a version. */
export function normalizeVersion(text: string): string | undefined {
  if (text.length > 64) return undefined;
  return semver.valid(text.trim()) ?? undefined;
}

export interface ApprovalFacts {
  state: ReleaseState;
  requester: string;
  approvers: readonly string[];
  approvedBy: readonly string[];
  required: number;
}

export type ClickVerdict = { ok: true } | { ok: false; reason: string };

/** Whether this person's Approve may count. The reason is shown to them as it is. */
export function checkApprove(facts: ApprovalFacts, user: string): ClickVerdict {
  if (!facts.approvers.includes(user)) return { ok: false, reason: "Only release approvers can approve releases." };
  if (facts.state !== "awaiting_approval") return { ok: false, reason: `This release is ${describeState(facts.state)}; there is nothing to approve.` };
  if (user === facts.requester) return { ok: false, reason: "You requested this release, so someone else has to approve it." };
  if (facts.approvedBy.includes(user)) {
    const missing = facts.required - facts.approvedBy.length;
    return { ok: false, reason: `You have already approved this release; it needs ${missing} more approval${missing === 1 ? "" : "s"} from someone else.` };
  }
  return { ok: true };
}

/** Whether this person may reject (a requester who is an approver may withdraw their own release). */
export function checkReject(facts: Pick<ApprovalFacts, "state" | "approvers">, user: string): ClickVerdict {
  if (!facts.approvers.includes(user)) return { ok: false, reason: "Only release approvers can reject releases." };
  if (facts.state !== "awaiting_approval") return { ok: false, reason: `This release is ${describeState(facts.state)}; there is nothing to reject.` };
  return { ok: true };
}

export function describeState(state: ReleaseState): string {
  switch (state) {
    case "gating":
      return "still running its gates";
    case "awaiting_approval":
      return "waiting for approval";
    case "deploying":
      return "already deploying";
    case "verifying":
      return "already deployed and being verified";
    case "live":
      return "already live";
    case "blocked":
      return "blocked by a failed gate";
    case "rejected":
      return "rejected";
    case "expired":
      return "expired";
    case "failed":
      return "failed";
  }
}
