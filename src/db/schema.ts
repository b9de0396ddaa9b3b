import { sql } from "drizzle-orm";
import { bigint, boolean, index, integer, jsonb, pgTable, primaryKey, serial, text, timestamp, uniqueIndex } from "drizzle-orm/pg-core";

const createdAt = () => timestamp("created_at", { withTimezone: true }).notNull().defaultNow();

/** Slack event ids already taken by a replica: a redelivery finds its id here and is not processed again. */
export const slackEvents = pgTable("slack_events", {
  eventId: text("event_id").primaryKey(),
  eventType: text("event_type").notNull(),
  receivedAt: timestamp("received_at", { withTimezone: true }).notNull().defaultNow(),
});

/**
 * Signatures of signed Slack requests already accepted (SPEC §2a): the same request sent again within
 * its 5-minute window finds its signature here and changes nothing, on any replica, after restarts.
 */
export const slackSignatures = pgTable(
  "slack_signatures",
  {
    signature: text("signature").primaryKey(),
    /** X-Slack-Request-Timestamp (Unix seconds): entries past the window are pruned by it. */
    requestTs: bigint("request_ts", { mode: "number" }).notNull(),
  },
  (t) => [index("slack_signatures_request_ts").on(t.requestTs)],
);

export const RELEASE_STATES = ["gating", "awaiting_approval", "scheduled", "deploying", "verifying", "live", "rolled_back", "blocked", "rejected", "expired", "failed"] as const;
export type ReleaseState = (typeof RELEASE_STATES)[number];

/** A release of a new version, or a rollback to one that was live before (no gates: it passed them then). */
export const RELEASE_KINDS = ["release", "rollback"] as const;
export type ReleaseKind = (typeof RELEASE_KINDS)[number];

export interface GateResult {
  name: string;
  kind: "run" | "http" | "manual";
  status: "pending" | "running" | "passed" | "failed" | "manual";
  detail: string;
  output?: string;
  durationMs?: number;
  /** A run gate's exit status (null: killed or never started). */
  exitCode?: number | null;
  /** An http gate's values against their thresholds, as measured. */
  measured?: MeasuredValue[];
}

export interface MeasuredValue {
  key: string;
  label: string;
  unit?: string;
  value: unknown;
  max?: number;
  min?: number;
  equals?: number | string | boolean;
  ok: boolean;
}

/**
 * The commits a release ships, read from `repository` with git: from the tag of the version live on the
 * environment (exclusive) to this version's tag. Kept with the release so the message, the evidence
 * digest and lead time all use what the approvers were shown.
 */
export interface CommitRange {
  /** ok, or why there is no list: shown on the message, never blocking the release. */
  status: "ok" | "missing_tag" | "missing_repository" | "error";
  note?: string;
  tag: string;
  sha?: string;
  fromVersion?: string;
  fromTag?: string;
  fromSha?: string;
  total: number;
  authors: Array<{ name: string; commits: number }>;
  /** The newest commits first, at most COMMITS_SHOWN of them. */
  commits: Array<{ sha: string; author: string; subject: string }>;
  /** Author date of the oldest commit in the range (ISO), for lead time. */
  oldestAt?: string;
}

/** What an approval covered: the version, the gate results and the commit range, and their digest. */
export interface Evidence {
  version: string;
  gates: Array<{ name: string; status: GateResult["status"]; detail?: string; measured?: Array<{ key: string; value: unknown }> }>;
  range: { from: string | null; to: string | null } | null;
}

export const releases = pgTable(
  "releases",
  {
    id: serial("id").primaryKey(),
    /** Canonical semver text (1.4.0, never v1.4.0 or build metadata): shown and substituted into deploy commands. */
    version: text("version").notNull(),
    /** Normalized semver (1.4.0): what "the same version" means. */
    semver: text("semver").notNull(),
    environment: text("environment").notNull(),
    state: text("state").$type<ReleaseState>().notNull(),
    kind: text("kind").$type<ReleaseKind>().notNull().default("release"),
    /** Set for `--emergency`: why it may deploy during a freeze or outside a window. */
    emergency: text("emergency"),
    /** A rollback: the release of this version that passed the gates it skips. */
    gatesFrom: integer("gates_from"),
    /** A scheduled release: when it is expected to start (the window's opening or the freeze's end). */
    scheduledFor: timestamp("scheduled_for", { withTimezone: true }),
    /** Bumped by every change, so a message rendered from an older revision is rendered again. */
    revision: integer("revision").notNull().default(0),
    requester: text("requester").notNull(),
    requiredApprovals: integer("required_approvals").notNull(),
    channel: text("channel"),
    messageTs: text("message_ts"),
    gates: jsonb("gates").$type<GateResult[]>().notNull().default([]),
    reason: text("reason"),
    outputTail: text("output_tail"),
    /** The replica driving gates or the deploy, and until when its claim holds without a heartbeat. */
    owner: text("owner"),
    leaseUntil: timestamp("lease_until", { withTimezone: true }),
    createdAt: createdAt(),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
    awaitingSince: timestamp("awaiting_since", { withTimezone: true }),
    liveAt: timestamp("live_at", { withTimezone: true }),
    commits: jsonb("commits").$type<CommitRange>(),
    /** Author date of the oldest commit shipped: where lead time for changes starts (DORA). */
    oldestCommitAt: timestamp("oldest_commit_at", { withTimezone: true }),
    /** Digest of the evidence approvers are asked to approve now; an approval of another digest is void. */
    evidenceDigest: text("evidence_digest"),
  },
  (t) => [
    // One release of a version in flight per environment, whoever asks and however often.
    uniqueIndex("releases_in_flight_version").on(t.environment, t.semver).where(sql`${t.state} in ('gating', 'awaiting_approval', 'scheduled', 'deploying', 'verifying')`),
    // One deploy at a time per environment.
    uniqueIndex("releases_one_deploy_per_environment").on(t.environment).where(sql`${t.state} in ('deploying', 'verifying')`),
    index("releases_environment_live").on(t.environment, t.liveAt),
    index("releases_state").on(t.state),
    // Emergency releases per environment by request time: DORA's "followed by an emergency within 7
    // days" is one probe per deployed release instead of a scan of the ledger.
    index("releases_emergency").on(t.environment, t.createdAt).where(sql`${t.emergency} is not null`),
  ],
);

/** The audit trail: every state change with who caused it and when. */
export const releaseTransitions = pgTable(
  "release_transitions",
  {
    id: serial("id").primaryKey(),
    releaseId: integer("release_id")
      .notNull()
      .references(() => releases.id),
    fromState: text("from_state").$type<ReleaseState>(),
    toState: text("to_state").$type<ReleaseState>().notNull(),
    actor: text("actor").notNull(),
    detail: text("detail"),
    at: timestamp("at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index("release_transitions_release").on(t.releaseId, t.id)],
);

/**
 * Change freezes: no deploy starts on the environment from `startsAt` until `endsAt`, or until someone
 * ends it early (`endedAt`, `endedBy`). A freeze that ran out is marked ended by the housekeeping job
 * (actor "orchestrator"), which announces it once.
 */
export const freezes = pgTable(
  "freezes",
  {
    id: serial("id").primaryKey(),
    environment: text("environment").notNull(),
    /** "all" when the freeze was asked for every environment: one row per environment, announced once. */
    scope: text("scope").notNull(),
    reason: text("reason").notNull(),
    createdBy: text("created_by").notNull(),
    startsAt: timestamp("starts_at", { withTimezone: true }).notNull(),
    endsAt: timestamp("ends_at", { withTimezone: true }).notNull(),
    endedAt: timestamp("ended_at", { withTimezone: true }),
    endedBy: text("ended_by"),
  },
  (t) => [index("freezes_open").on(t.environment, t.endsAt).where(sql`${t.endedAt} is null`)],
);

export const approvals = pgTable(
  "approvals",
  {
    releaseId: integer("release_id")
      .notNull()
      .references(() => releases.id),
    approver: text("approver").notNull(),
    at: timestamp("at", { withTimezone: true }).notNull().defaultNow(),
    evidenceDigest: text("evidence_digest"),
    evidence: jsonb("evidence").$type<Evidence>(),
  },
  (t) => [primaryKey({ columns: [t.releaseId, t.approver] })],
);

/**
 * Approvals made void because the evidence changed (regate, a moved tag): moved here out of `approvals`,
 * so they no longer count, and kept for the audit trail with what they had covered.
 */
export const voidedApprovals = pgTable(
  "voided_approvals",
  {
    id: serial("id").primaryKey(),
    releaseId: integer("release_id")
      .notNull()
      .references(() => releases.id),
    approver: text("approver").notNull(),
    approvedAt: timestamp("approved_at", { withTimezone: true }).notNull(),
    evidenceDigest: text("evidence_digest"),
    evidence: jsonb("evidence").$type<Evidence>(),
    voidedAt: timestamp("voided_at", { withTimezone: true }).notNull().defaultNow(),
    reason: text("reason").notNull(),
  },
  (t) => [index("voided_approvals_release").on(t.releaseId)],
);

export const FEEDBACK_STATUSES = ["open", "in-progress", "closed"] as const;
export type FeedbackStatus = (typeof FEEDBACK_STATUSES)[number];

export const feedback = pgTable(
  "feedback",
  {
    id: serial("id").primaryKey(),
    teamId: text("team_id"),
    channel: text("channel").notNull(),
    /** Slack message ts; null for feedback typed with `/orch feedback add`. */
    ts: text("ts"),
    threadTs: text("thread_ts"),
    author: text("author").notNull(),
    text: text("text").notNull(),
    /** Slack's ts of the edit the text comes from: an older edit delivered late does not overwrite a newer one. */
    editedTs: text("edited_ts"),
    permalink: text("permalink"),
    source: text("source").notNull(),
    kind: text("kind").notNull(),
    priority: text("priority").notNull(),
    status: text("status").$type<FeedbackStatus>().notNull().default("open"),
    theme: text("theme"),
    sprint: text("sprint"),
    /** How it arrived first: message, reaction, shortcut, command, backfill. */
    capturedBy: text("captured_by").notNull(),
    triagedBy: text("triaged_by"),
    postedAt: timestamp("posted_at", { withTimezone: true }).notNull().defaultNow(),
    createdAt: createdAt(),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
    closedAt: timestamp("closed_at", { withTimezone: true }),
    deletedAt: timestamp("deleted_at", { withTimezone: true }),
    /** `feedback fixed`: the normalized version that fixes it, as typed, and the release that closed it. */
    fixedIn: text("fixed_in"),
    fixedVersion: text("fixed_version"),
    closedByRelease: integer("closed_by_release"),
  },
  (t) => [
    uniqueIndex("feedback_message").on(t.channel, t.ts),
    index("feedback_status").on(t.status, t.postedAt),
    index("feedback_posted").on(t.postedAt),
    index("feedback_channel_ts").on(t.channel, t.threadTs),
    // Recently closed items and closures in a period, without scanning the open ones.
    index("feedback_closed").on(t.closedAt).where(sql`${t.closedAt} is not null and ${t.deletedAt} is null`),
    // The backlog and the oldest open items (digests, recommendations), without scanning closed ones.
    index("feedback_fixed_in").on(t.fixedIn).where(sql`${t.fixedIn} is not null`),
    // "Resolved by releases" in a period, without scanning every closed item.
    index("feedback_closed_by_release").on(t.closedAt).where(sql`${t.closedByRelease} is not null`),
    // Open critical and high counts (remaining work and blockers), from the index alone.
    index("feedback_open_priority").on(t.priority).where(sql`${t.deletedAt} is null and ${t.status} <> 'closed'`),
    // The backlog by status (open, in progress), from the index alone.
    index("feedback_open_status").on(t.status).where(sql`${t.deletedAt} is null and ${t.status} <> 'closed'`),
    // Every breakdown of a period (feedback analyze, digests, the report) from the index alone: the
    // period is a range of its first column and the grouped columns are the rest.
    index("feedback_period_breakdown").on(t.postedAt, t.kind, t.priority, t.source, t.status, t.theme).where(sql`${t.deletedAt} is null`),
    index("feedback_open_by_age").on(t.postedAt, t.id).where(sql`${t.deletedAt} is null and ${t.status} <> 'closed'`),
  ],
);

/**
 * "Fixed in …, live in production since …" posted into a feedback thread: one row per thread and
 * version, inserted by the one transaction that closed the items, posted once by whoever claims it.
 */
export const fixNotices = pgTable(
  "fix_notices",
  {
    channel: text("channel").notNull(),
    threadTs: text("thread_ts").notNull(),
    semver: text("semver").notNull(),
    version: text("version").notNull(),
    releaseId: integer("release_id").notNull(),
    feedbackIds: jsonb("feedback_ids").$type<number[]>().notNull(),
    createdAt: createdAt(),
    claimedAt: timestamp("claimed_at", { withTimezone: true }),
    postedAt: timestamp("posted_at", { withTimezone: true }),
  },
  (t) => [primaryKey({ columns: [t.channel, t.threadTs, t.semver] })],
);

/** What happened to each feedback row: edits keep the old text here, status and sprint changes their actor. */
export const feedbackEvents = pgTable(
  "feedback_events",
  {
    id: serial("id").primaryKey(),
    feedbackId: integer("feedback_id")
      .notNull()
      .references(() => feedback.id),
    kind: text("kind").notNull(),
    actor: text("actor"),
    detail: jsonb("detail").$type<Record<string, unknown>>().notNull().default({}),
    at: timestamp("at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index("feedback_events_feedback").on(t.feedbackId)],
);

export const JOB_RUN_STATUSES = ["running", "succeeded", "failed", "skipped"] as const;
export type JobRunStatus = (typeof JOB_RUN_STATUSES)[number];

export const jobRuns = pgTable(
  "job_runs",
  {
    id: serial("id").primaryKey(),
    job: text("job").notNull(),
    /** The scheduled time this run belongs to; ad-hoc runs get the time they were asked for. */
    slot: timestamp("slot", { withTimezone: true }).notNull(),
    trigger: text("trigger").notNull(),
    replica: text("replica").notNull(),
    requestedBy: text("requested_by"),
    status: text("status").$type<JobRunStatus>().notNull(),
    summary: text("summary"),
    outputTail: text("output_tail"),
    details: jsonb("details").$type<Record<string, unknown>>(),
    startedAt: timestamp("started_at", { withTimezone: true }).notNull().defaultNow(),
    finishedAt: timestamp("finished_at", { withTimezone: true }),
    leaseUntil: timestamp("lease_until", { withTimezone: true }),
  },
  (t) => [
    uniqueIndex("job_runs_slot").on(t.job, t.slot),
    index("job_runs_job_started").on(t.job, t.startedAt),
    // Runs of a period by status and failures by job (reports), from the index alone.
    index("job_runs_started_status").on(t.startedAt, t.status, t.job),
  ],
);

/** Replicas that run the scheduler, with when each was last alive: catch-up looks for slots nobody was up for. */
export const schedulerHeartbeats = pgTable("scheduler_heartbeats", {
  replica: text("replica").primaryKey(),
  seenAt: timestamp("seen_at", { withTimezone: true }).notNull().defaultNow(),
});

export const healthChecks = pgTable(
  "health_checks",
  {
    id: serial("id").primaryKey(),
    environment: text("environment").notNull(),
    ok: boolean("ok").notNull(),
    statusCode: integer("status_code"),
    latencyMs: integer("latency_ms"),
    error: text("error"),
    at: timestamp("at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index("health_checks_environment_at").on(t.environment, t.at)],
);

/** Which environments are known to be failing, so an alert goes out on the change and not on every check. */
export const healthState = pgTable("health_state", {
  environment: text("environment").primaryKey(),
  ok: boolean("ok").notNull(),
  since: timestamp("since", { withTimezone: true }).notNull().defaultNow(),
});

export const aiCalls = pgTable(
  "ai_calls",
  {
    id: serial("id").primaryKey(),
    purpose: text("purpose").notNull(),
    model: text("model").notNull(),
    inputTokens: integer("input_tokens").notNull().default(0),
    outputTokens: integer("output_tokens").notNull().default(0),
    cacheReadTokens: integer("cache_read_tokens").notNull().default(0),
    cacheWriteTokens: integer("cache_write_tokens").notNull().default(0),
    latencyMs: integer("latency_ms").notNull(),
    outcome: text("outcome").notNull(),
    error: text("error"),
    at: timestamp("at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index("ai_calls_at").on(t.at)],
);

/** Backfill progress per feedback channel: history is read from here on, not from the start. */
export const backfillCursors = pgTable("backfill_cursors", {
  channel: text("channel").primaryKey(),
  latestTs: text("latest_ts").notNull(),
  runs: bigint("runs", { mode: "number" }).notNull().default(0),
  updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
});
