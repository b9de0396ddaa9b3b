import type { KnownBlock } from "@slack/types";
import type { CommitRange, GateResult, ReleaseKind, ReleaseState } from "../../db/schema.js";
import { codeBlock, escapeMrkdwn, moreLine, truncate } from "../../slack/text.js";
import { formatDateTime, formatWhen } from "../../time.js";
import { commitSummary } from "./commits.js";
import type { Approved } from "./deploy-start.js";
import type { DeployDecision } from "./freeze.js";
import { shortDigest } from "./evidence.js";
import type { FreezeFacts } from "./freeze.js";
import { isWithdrawal, tallyApprovals, WITHDRAWN } from "./machine.js";
import { measuredLine, runOutcome } from "./measured.js";

export const APPROVE_ACTION = "release_approve";
export const REJECT_ACTION = "release_reject";
export const REJECT_MODAL = "release_reject_modal";
export const REJECT_REASON_BLOCK = "reason";
export const REJECT_REASON_INPUT = "reason_input";
export const ROLLBACK_ACTION = "release_rollback";

export interface ReleaseView {
  id: number;
  version: string;
  environment: string;
  state: ReleaseState;
  requester: string;
  requiredApprovals: number;
  gates: GateResult[];
  approvals: Array<{ approver: string; at: Date }>;
  /** `people.approvers` now: an approval by someone no longer among them is shown as not counting. */
  approvers: readonly string[];
  reason: string | null;
  outputTail: string | null;
  createdAt: Date;
  updatedAt: Date;
  rejectedBy?: string;
  kind: ReleaseKind;
  emergency: string | null;
  gatesFrom: number | null;
  /** Permalink of the release whose gates a rollback skips. */
  gatesLink?: string;
  scheduledFor: Date | null;
  /** Freezes in force on the environment now. */
  freezes: FreezeFacts[];
  /** When the message is rendered (for "Tue 09:00" against a date further out). */
  now: Date;
  /** The commits shipped (with `repository`); null without one. */
  commits?: CommitRange | null;
  evidenceDigest?: string | null;
  /** Approvals made void by changed evidence: shown struck through, to be given again. */
  voided?: Array<{ approver: string; at: Date; reason: string }>;
  repositoryUrl?: string;
}

const STATE_LABEL: Record<ReleaseState, string> = {
  gating: ":hourglass_flowing_sand: Running gates",
  awaiting_approval: ":large_yellow_circle: Awaiting approval",
  scheduled: ":calendar: Scheduled (approved)",
  deploying: ":rocket: Deploying",
  verifying: ":mag: Verifying (smoke test and health)",
  live: ":white_check_mark: Live",
  rolled_back: ":leftwards_arrow_with_hook: Rolled back",
  blocked: ":no_entry: Blocked by a gate",
  rejected: ":x: Rejected",
  expired: ":hourglass: Expired",
  failed: ":boom: Failed",
};

const WITHDRAWN_LABEL = `:leftwards_arrow_with_hook: ${WITHDRAWN.charAt(0).toUpperCase()}${WITHDRAWN.slice(1)}`;

const GATE_ICON: Record<GateResult["status"], string> = {
  pending: ":white_circle:",
  running: ":hourglass_flowing_sand:",
  passed: ":white_check_mark:",
  failed: ":x:",
  manual: ":ballot_box_with_check:",
};

export function stateLabel(state: ReleaseState): string {
  return STATE_LABEL[state];
}

/** The one message per release and environment, rendered from its current state. Pure. */
/** "🚨 Release 1.4.1 → production (emergency)", "Release 1.3.0 → production (rollback)". */
function releaseTitle(view: Pick<ReleaseView, "version" | "environment" | "kind" | "emergency">): string {
  const marks = [...(view.kind === "rollback" ? ["rollback"] : []), ...(view.emergency !== null ? ["emergency"] : [])];
  return `${view.emergency !== null ? "🚨 " : ""}Release ${view.version} → ${view.environment}${marks.length > 0 ? ` (${marks.join(", ")})` : ""}`;
}

const WAITING: readonly ReleaseState[] = ["gating", "awaiting_approval", "scheduled"];

export function releaseMessage(view: ReleaseView, timeZone: string): { text: string; blocks: KnownBlock[] } {
  const withdrawn = view.state === "rejected" && isWithdrawal(view.requester, view.rejectedBy);
  const label = withdrawn ? WITHDRAWN_LABEL : STATE_LABEL[view.state];
  const tally = tallyApprovals({ requester: view.requester, approvers: view.approvers, approvedBy: view.approvals.map((a) => a.approver) });
  const approvalsLine = `${tally.counting.length}/${view.requiredApprovals}`;
  const blocks: KnownBlock[] = [
    { type: "header", text: { type: "plain_text", text: truncate(releaseTitle(view), 150) } },
    {
      type: "section",
      fields: [
        { type: "mrkdwn", text: `*State*\n${label}${view.state === "awaiting_approval" ? ` (${approvalsLine})` : ""}` },
        { type: "mrkdwn", text: `*Requested by*\n<@${view.requester}>` },
        { type: "mrkdwn", text: `*Environment*\n${view.environment}` },
        { type: "mrkdwn", text: `*Approvals needed*\n${view.requiredApprovals}` },
      ],
    },
  ];
  if (view.emergency !== null) {
    blocks.push({
      type: "section",
      text: {
        type: "mrkdwn",
        text: truncate(
          `🚨 *Emergency:* ${escapeMrkdwn(view.emergency)}\nIt may deploy during a freeze or outside the deploy windows, so it needs ${view.requiredApprovals} approvals and is announced in the alerts channel.`,
          3000,
        ),
      },
    });
  }
  if (view.kind === "rollback") {
    const source = view.gatesFrom !== null ? (view.gatesLink ? `<${view.gatesLink}|release #${view.gatesFrom}>` : `release #${view.gatesFrom}`) : "an earlier release";
    blocks.push({ type: "section", text: { type: "mrkdwn", text: `:leftwards_arrow_with_hook: *Rollback* — no gates run: \`${escapeMrkdwn(view.version)}\` passed them in ${source}.` } });
  }
  if (view.state === "scheduled" && view.scheduledFor) {
    blocks.push({
      type: "section",
      text: { type: "mrkdwn", text: `:calendar: *Approved; deploys at ${formatWhen(view.scheduledFor, timeZone, view.now)}* — it starts by itself then, unless someone rejects it first.` },
    });
  }
  if (WAITING.includes(view.state) && view.freezes.length > 0) {
    const lines = view.freezes.map((f) => `:snowflake: *${view.environment} is frozen* until ${formatWhen(f.endsAt, timeZone, view.now)} by <@${f.createdBy}>: ${escapeMrkdwn(f.reason)}`);
    const effect = view.emergency !== null ? "As an emergency release, it may deploy anyway." : "Approvals still count; the deploy waits until the freeze ends.";
    blocks.push({ type: "section", text: { type: "mrkdwn", text: truncate(`${lines.join("\n")}\n${effect}`, 3000) } });
  }
  if (view.gates.length > 0) {
    const firstApprover = tally.counting[0];
    const lines = view.gates.map((gate) => {
      return `${GATE_ICON[gate.status]} *${escapeMrkdwn(gate.name)}* — ${gateDetail(gate, firstApprover)}`;
    });
    blocks.push({ type: "section", text: { type: "mrkdwn", text: truncate(`*Gates*\n${lines.join("\n")}`, 3000) } });
  }
  if (view.commits) {
    const { heading, lines, more } = commitSummary(view.commits, view.repositoryUrl, escapeMrkdwn);
    blocks.push({ type: "section", text: { type: "mrkdwn", text: fitLines(heading, lines, 2000, more) } });
  }
  const approvalLines = [
    ...view.approvals.map((a) => {
      const stale = tally.notCounting.find((n) => n.approver === a.approver);
      const when = formatDateTime(a.at, timeZone, false);
      return stale ? `:heavy_minus_sign: ~<@${a.approver}> — ${when}~ _not counting: ${stale.why}_` : `:white_check_mark: <@${a.approver}> — ${when}`;
    }),
    ...(view.voided ?? []).map((a) => `:heavy_multiplication_x: ~<@${a.approver}> ${formatDateTime(a.at, timeZone, false)}~ — void (${escapeMrkdwn(truncate(a.reason, 200))}); must approve again`),
  ];
  if (approvalLines.length > 0 || view.state === "awaiting_approval") {
    blocks.push({
      type: "section",
      text: { type: "mrkdwn", text: approvalLines.length > 0 ? fitLines(`*Approvals (${approvalsLine})*`, approvalLines, 1500) : `*Approvals (${approvalsLine})*\n_none yet_` },
    });
  }
  if (view.reason) {
    const rejecter = view.rejectedBy ? ` by ${/^[UW][A-Z0-9]+$/.test(view.rejectedBy) ? `<@${view.rejectedBy}>` : "Orchestrator"}` : "";
    const heading = view.state !== "rejected" ? "Why" : withdrawn ? `Withdrawn by the requester <@${view.requester}>` : `Rejected${rejecter}`;
    blocks.push({ type: "section", text: { type: "mrkdwn", text: truncate(`*${heading}:* ${escapeMrkdwn(view.reason)}`, 2000) } });
  }
  if (view.outputTail && (view.state === "failed" || view.state === "blocked")) {
    blocks.push({ type: "section", text: { type: "mrkdwn", text: codeBlock("Output (last lines)", view.outputTail) } });
  }
  if (view.state === "awaiting_approval") {
    blocks.push({
      type: "actions",
      block_id: `release_${view.id}`,
      elements: [
        { type: "button", action_id: APPROVE_ACTION, text: { type: "plain_text", text: "Approve" }, style: "primary", value: String(view.id) },
        { type: "button", action_id: REJECT_ACTION, text: { type: "plain_text", text: "Reject" }, style: "danger", value: String(view.id) },
      ],
    });
  } else if (view.state === "scheduled") {
    blocks.push({
      type: "actions",
      block_id: `release_${view.id}`,
      elements: [{ type: "button", action_id: REJECT_ACTION, text: { type: "plain_text", text: "Reject" }, style: "danger", value: String(view.id) }],
    });
  }
  blocks.push({
    type: "context",
    elements: [
      {
        type: "mrkdwn",
        text: `Release #${view.id} · requested ${formatDateTime(view.createdAt, timeZone, false)} · updated ${formatDateTime(view.updatedAt, timeZone)}${view.evidenceDigest ? ` · evidence ${shortDigest(view.evidenceDigest)}` : ""}`,
      },
    ],
  });
  const scheduled = view.state === "scheduled" && view.scheduledFor ? `, deploys at ${formatWhen(view.scheduledFor, timeZone, view.now)}` : "";
  const text = `${releaseTitle(view).replace(" → ", " to ")}: ${label.replace(/^:[a-z_]+: /, "").toLowerCase()}${view.state === "awaiting_approval" ? ` (${approvalsLine} approvals)` : ""}${scheduled}`;
  return { text, blocks };
}

/**
 * A heading and as many whole lines as fit in `max` characters, then "…and N more": the message's
 * sections together stay under Slack's ~13,000 characters (gates 3,000, commits 2,000, approvals
 * 1,500, reason 2,000, output 3,000).
 */
function fitLines(heading: string, lines: string[], max: number, beyond = 0): string {
  let text = heading;
  for (const [index, line] of lines.entries()) {
    const more = `\n${moreLine(lines.length - index + beyond)}`;
    if (text.length + 1 + line.length + more.length > max) return truncate(`${text}${more}`, max);
    text += `\n${line}`;
  }
  return beyond > 0 ? `${text}\n${moreLine(beyond)}` : text;
}

/** A gate's line: a run gate's last output line with exit status and duration, an http gate's values against thresholds. */
function gateDetail(gate: GateResult, firstApprover: string | undefined): string {
  if (gate.kind === "manual") return firstApprover ? `confirmed by <@${firstApprover}>` : escapeMrkdwn(gate.detail);
  if (gate.kind === "http" && gate.measured && gate.measured.length > 0) {
    const failure = gate.status === "failed" && gate.measured.every((m) => m.ok) ? ` — ${escapeMrkdwn(truncate(gate.detail, 200))}` : "";
    return `${escapeMrkdwn(truncate(measuredLine(gate.measured), 400))}${failure}`;
  }
  const outcome = gate.kind === "run" && (gate.status === "passed" || gate.status === "failed") ? runOutcome(gate) : "";
  return `${escapeMrkdwn(truncate(gate.detail, 300))}${outcome ? ` (${outcome})` : ""}`;
}

/** The **Roll back to <version>** button on a failed deploy's alert; the value names what it offered, nothing more. */
export function rollbackButton(failedReleaseId: number, version: string, semver: string): KnownBlock {
  return {
    type: "actions",
    block_id: `rollback_${failedReleaseId}`,
    elements: [
      {
        type: "button",
        action_id: ROLLBACK_ACTION,
        text: { type: "plain_text", text: truncate(`Roll back to ${version}`, 75) },
        style: "danger",
        value: JSON.stringify({ failed: failedReleaseId, to: semver }),
      },
    ],
  };
}

/** The reject dialog; for the requester it withdraws their own release. */
export function rejectModal(releaseId: number, version: string, environment: string, withdraw = false) {
  const verb = withdraw ? "Withdraw" : "Reject";
  return {
    type: "modal" as const,
    callback_id: REJECT_MODAL,
    private_metadata: String(releaseId),
    title: { type: "plain_text" as const, text: `${verb} release` },
    submit: { type: "plain_text" as const, text: verb },
    close: { type: "plain_text" as const, text: "Cancel" },
    blocks: [
      {
        type: "section" as const,
        text: {
          type: "mrkdwn" as const,
          text: truncate(
            `${verb} *${escapeMrkdwn(version)}* to *${environment}*?${withdraw ? " You requested it, so this is recorded as withdrawn by the requester." : ""} The reason goes on the release message and into the audit trail.`,
            3000,
          ),
        },
      },
      {
        type: "input" as const,
        block_id: REJECT_REASON_BLOCK,
        label: { type: "plain_text" as const, text: "Reason" },
        element: { type: "plain_text_input" as const, action_id: REJECT_REASON_INPUT, multiline: true, min_length: 3, max_length: 1000 },
      },
    ],
  };
}

/** Why an approved release waits: the freeze, the deploy window, or both, as one sentence start. */
export function holdReason(decision: Extract<DeployDecision, { start: false }>, environment: string): string {
  const parts = [
    ...(decision.freeze ? [`${environment} is frozen (${escapeMrkdwn(decision.freeze.reason)})`] : []),
    ...(decision.outsideWindow ? [`it is outside ${environment}'s deploy windows`] : []),
  ];
  return parts.join(" and ").replace(/^./, (c) => c.toUpperCase());
}

/** The answer, only for the approver, to an Approve that was counted. */
export function approvalReply(approval: Approved, timeZone: string, now: Date): string {
  const { release, tally } = approval;
  if (approval.kind === "counted") return `Your approval is counted (${tally.count}/${release.requiredApprovals}); it needs ${release.requiredApprovals - tally.count} more.`;
  if (approval.kind === "completed") return `Your approval completed the release; deploying \`${release.version}\` to ${release.environment}.`;
  const why = holdReason(approval.decision, release.environment);
  return `Your approval completed the release; ${why.charAt(0).toLowerCase()}${why.slice(1)}, so it deploys at ${formatWhen(approval.decision.at, timeZone, now)}.`;
}
