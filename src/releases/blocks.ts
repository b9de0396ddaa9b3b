import type { KnownBlock } from "@slack/types";
import type { CommitRange, GateResult, ReleaseState } from "../db/schema.js";
import { codeBlock, escapeMrkdwn, truncate } from "../slack/text.js";
import { formatDateTime } from "../time.js";
import { commitSummary } from "./commits.js";
import { shortDigest } from "./evidence.js";
import { measuredLine, runOutcome } from "./measured.js";

export const APPROVE_ACTION = "release_approve";
export const REJECT_ACTION = "release_reject";
export const REJECT_MODAL = "release_reject_modal";
export const REJECT_REASON_BLOCK = "reason";
export const REJECT_REASON_INPUT = "reason_input";

export interface ReleaseView {
  id: number;
  version: string;
  environment: string;
  state: ReleaseState;
  requester: string;
  requiredApprovals: number;
  gates: GateResult[];
  approvals: Array<{ approver: string; at: Date }>;
  reason: string | null;
  outputTail: string | null;
  createdAt: Date;
  updatedAt: Date;
  rejectedBy?: string;
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
  deploying: ":rocket: Deploying",
  verifying: ":mag: Verifying (smoke test and health)",
  live: ":white_check_mark: Live",
  blocked: ":no_entry: Blocked by a gate",
  rejected: ":x: Rejected",
  expired: ":hourglass: Expired",
  failed: ":boom: Failed",
};

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
export function releaseMessage(view: ReleaseView, timeZone: string): { text: string; blocks: KnownBlock[] } {
  const approvalsLine = `${view.approvals.length}/${view.requiredApprovals}`;
  const blocks: KnownBlock[] = [
    { type: "header", text: { type: "plain_text", text: truncate(`Release ${view.version} → ${view.environment}`, 150) } },
    {
      type: "section",
      fields: [
        { type: "mrkdwn", text: `*State*\n${STATE_LABEL[view.state]}${view.state === "awaiting_approval" ? ` (${approvalsLine})` : ""}` },
        { type: "mrkdwn", text: `*Requested by*\n<@${view.requester}>` },
        { type: "mrkdwn", text: `*Environment*\n${view.environment}` },
        { type: "mrkdwn", text: `*Approvals needed*\n${view.requiredApprovals}` },
      ],
    },
  ];
  if (view.gates.length > 0) {
    const firstApprover = view.approvals[0]?.approver;
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
    ...view.approvals.map((a) => `:white_check_mark: <@${a.approver}> — ${formatDateTime(a.at, timeZone, false)}`),
    ...(view.voided ?? []).map((a) => `:heavy_multiplication_x: ~<@${a.approver}> ${formatDateTime(a.at, timeZone, false)}~ — void (${escapeMrkdwn(truncate(a.reason, 200))}); must approve again`),
  ];
  if (approvalLines.length > 0 || view.state === "awaiting_approval") {
    blocks.push({
      type: "section",
      text: { type: "mrkdwn", text: approvalLines.length > 0 ? fitLines(`*Approvals (${approvalsLine})*`, approvalLines, 1500) : `*Approvals (${approvalsLine})*\n_none yet_` },
    });
  }
  if (view.reason) {
    const who = view.state === "rejected" && view.rejectedBy ? ` by <@${view.rejectedBy}>` : "";
    blocks.push({ type: "section", text: { type: "mrkdwn", text: truncate(`*${view.state === "rejected" ? "Rejected" : "Why"}${who}:* ${escapeMrkdwn(view.reason)}`, 2000) } });
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
  const text = `Release ${view.version} to ${view.environment}: ${STATE_LABEL[view.state].replace(/^:[a-z_]+: /, "").toLowerCase()}${view.state === "awaiting_approval" ? ` (${approvalsLine} approvals)` : ""}`;
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
    const more = `\n…and ${lines.length - index + beyond} more`;
    if (text.length + 1 + line.length + more.length > max) return truncate(`${text}${more}`, max);
    text += `\n${line}`;
  }
  return beyond > 0 ? `${text}\n…and ${beyond} more` : text;
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

export function rejectModal(releaseId: number, version: string, environment: string) {
  return {
    type: "modal" as const,
    callback_id: REJECT_MODAL,
    private_metadata: String(releaseId),
    title: { type: "plain_text" as const, text: "Reject release" },
    submit: { type: "plain_text" as const, text: "Reject" },
    close: { type: "plain_text" as const, text: "Cancel" },
    blocks: [
      { type: "section" as const, text: { type: "mrkdwn" as const, text: truncate(`Reject *${escapeMrkdwn(version)}* to *${environment}*? The reason goes on the release message and into the audit trail.`, 3000) } },
      {
        type: "input" as const,
        block_id: REJECT_REASON_BLOCK,
        label: { type: "plain_text" as const, text: "Reason" },
        element: { type: "plain_text_input" as const, action_id: REJECT_REASON_INPUT, multiline: true, min_length: 3, max_length: 1000 },
      },
    ],
  };
}
