/**
 * What the bench processes share: the workspace they pretend to be, the bot's configuration, the
 * feedback messages sent as events, and the tiny request/response protocol over the IPC channel.
 */

export const BOT_TOKEN = "xoxb-bench-token";
export const SIGNING_SECRET = "bench-signing-secret";
/** App-level tokens of the two Socket Mode apps on the emulator: the bot, and the bare Bolt app of (e). */
export const APP_TOKEN = "xapp-1-A0ORCH-bench";
export const BARE_APP_TOKEN = "xapp-1-A0BARE-bench";
export const TEAM_ID = "T0BENCH";
export const BOT_USER_ID = "U0ORCHBOT";
export const BOT_ID = "B0ORCHBOT";
export const COMMAND = "/orch";

export const CHANNELS = {
  general: "C0GENERAL",
  releases: "C0RELEASES",
  digests: "C0DIGESTS",
  alerts: "C0ALERTS",
  helpdesk: "C0HELPDESK",
  stakeholders: "C0STAKEHOLDERS",
} as const;

export const USERS = {
  approver1: "U0APPROVER1",
  approver2: "U0APPROVER2",
  admin: "U0ADMIN",
  engineer: "U0ENGINEER",
  stakeholder1: "U0STAKEHOLDER1",
  stakeholder2: "U0STAKEHOLDER2",
  stakeholder3: "U0STAKEHOLDER3",
  helpdesk: "U0HELPDESK",
} as const;

/**
 * The bot's configuration in the bench: two feedback channels as in the README example, environments
 * without health URLs (nothing leaves the machine). The hourly `feedback-backfill` job is disabled so a
 * run that crosses minute 7 of an hour does not read the 10,000 seeded messages from history in the
 * middle of the ingestion measure; the start-up backfill still runs (before any message exists).
 */
export const BENCH_CONFIG_YAML = `
timezone: Asia/Bangkok
command: ${COMMAND}
channels: { releases: ${CHANNELS.releases}, digests: ${CHANNELS.digests}, alerts: ${CHANNELS.alerts} }
people:
  approvers: [${USERS.approver1}, ${USERS.approver2}]
  admins: [${USERS.admin}]
feedback:
  reaction: memo
  channels:
    - { channel: ${CHANNELS.helpdesk}, source: PEA Help Desk, kind: support-ticket, priority: high }
    - { channel: ${CHANNELS.stakeholders}, source: Stakeholder Meetings, kind: direct-feedback, priority: critical }
environments:
  - name: staging
    approvals: 1
    deploy: { run: ["true"], timeout: 1m }
  - name: production
    approvals: 2
    after: staging
    deploy: { run: ["true"], timeout: 1m }
gates:
  - name: Runbooks updated
    manual: true
approval: { expiresAfter: 24h }
jobs:
  feedback-backfill: { enabled: false }
`;

/** Stakeholder texts of the kind the reference process describes; the keyword triage sees a realistic mix. */
export const SAMPLE_TEXTS = [
  "The solar forecast for feeder 12 was way off yesterday afternoon, cloud cover not reflected",
  "Voltage chart hides the 22 kV feeders when zoomed out",
  "Could you add a CSV export of the day-ahead forecast?",
  "Dashboard is slow to load in the morning, takes too long",
  "Thanks, the new substation view is very helpful",
  "How do I change the alert threshold for transformer overload?",
  "Login fails for the regional operators since this morning",
  "Missing data from meter 4411 between 02:00 and 04:00",
  "Would be great to get SMS notification when MAPE goes above 10%",
  "The PDF report shows the wrong forecast horizon",
  "Irradiance input seems stale on the map page",
  "Please add documentation for the new API endpoint",
];

export interface BenchMessage {
  channel: string;
  ts: string;
  user: string;
  text: string;
  threadTs?: string;
}

function formatTs(micros: number): string {
  const whole = Math.floor(micros / 1_000_000);
  const fraction = Math.floor(micros % 1_000_000);
  return `${whole}.${fraction.toString().padStart(6, "0")}`;
}

/**
 * `count` feedback messages in groups of ten: five top-level messages (the first one starts a thread)
 * then five replies in that thread; groups alternate between the two feedback channels. Half are
 * top-level, half thread replies; every ts is unique.
 */
export function feedbackMessages(count: number, startMs: number): BenchMessage[] {
  const authors = [USERS.stakeholder1, USERS.stakeholder2, USERS.stakeholder3, USERS.helpdesk, USERS.engineer];
  const messages: BenchMessage[] = [];
  let micros = startMs * 1000;
  let parentTs = "";
  for (let i = 0; i < count; i += 1) {
    const group = Math.floor(i / 10);
    const position = i % 10;
    const channel = group % 2 === 0 ? CHANNELS.helpdesk : CHANNELS.stakeholders;
    micros += 1000;
    const ts = formatTs(micros);
    const text = `${SAMPLE_TEXTS[i % SAMPLE_TEXTS.length]} (#${i + 1})`;
    const user = authors[i % authors.length] as string;
    if (position === 0) parentTs = ts;
    messages.push(position < 5 ? { channel, ts, user, text } : { channel, ts, user, text, threadTs: parentTs });
  }
  return messages;
}

/** The Events API envelope Slack sends for one message, as `SlackEmulator.dispatchEvent` builds it. */
export function messageEnvelope(message: BenchMessage, eventId: string): string {
  const event: Record<string, unknown> = {
    type: "message",
    ts: message.ts,
    user: message.user,
    text: message.text,
    team: TEAM_ID,
    ...(message.threadTs ? { thread_ts: message.threadTs } : {}),
    channel: message.channel,
    event_ts: message.ts,
    channel_type: "channel",
  };
  return JSON.stringify({
    token: "verification-token-unused",
    team_id: TEAM_ID,
    context_team_id: TEAM_ID,
    api_app_id: "A0ORCH",
    event,
    type: "event_callback",
    event_id: eventId,
    event_time: Math.floor(Date.now() / 1000),
    authorizations: [{ enterprise_id: null, team_id: TEAM_ID, user_id: BOT_USER_ID, is_bot: true, is_enterprise_install: false }],
    is_ext_shared_channel: false,
    event_context: `4-${Buffer.from(eventId).toString("base64url")}`,
  });
}

// ---------------------------------------------------------------- IPC protocol

export interface RpcRequest {
  id: number;
  type: string;
  args?: unknown;
}

export type RpcReply = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string };

/** A message a child sends on its own: `ready` once, then notices (the emulator's `response`). */
export interface ChildNotice {
  notice: string;
  [key: string]: unknown;
}

export interface MemorySample {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  /** Peak RSS of the process so far (bytes). */
  maxRss: number;
  /** RSS of the embedded database's own process beside it (bytes), when there is one. */
  databaseRss?: number;
}

export function memorySample(): MemorySample {
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers, maxRss: process.resourceUsage().maxRSS * 1024 };
}

/** Serves RPC requests from the parent; a lost parent ends the process. */
export function serveRpc(handlers: Record<string, (args: unknown) => Promise<unknown> | unknown>): void {
  process.on("disconnect", () => process.exit(2));
  // CPU time of this process so far (user + system, milliseconds), for the bench's CPU accounting.
  handlers.cpu ??= () => {
    const usage = process.cpuUsage();
    return (usage.user + usage.system) / 1000;
  };
  process.on("message", (raw) => {
    const request = raw as RpcRequest;
    const handler = handlers[request.type];
    void (async () => {
      let reply: RpcReply;
      try {
        if (!handler) throw new Error(`unknown request ${request.type}`);
        reply = { id: request.id, ok: true, result: await handler(request.args) };
      } catch (error) {
        reply = { id: request.id, ok: false, error: error instanceof Error ? (error.stack ?? error.message) : String(error) };
      }
      process.send?.(reply);
    })();
  });
}

export function notify(notice: ChildNotice): void {
  process.send?.(notice);
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))] as number;
}

export function summarize(samples: number[]): { n: number; mean: number; p50: number; p90: number; p95: number; p99: number; max: number; min: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  const mean = sorted.reduce((s, v) => s + v, 0) / Math.max(1, sorted.length);
  return {
    n: sorted.length,
    mean,
    min: sorted[0] ?? Number.NaN,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1] ?? Number.NaN,
  };
}
