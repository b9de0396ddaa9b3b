import { sql } from "drizzle-orm";
import { type Db, queryRows } from "../../src/db/client.js";
import { CHANNELS, SAMPLE_TEXTS, TEAM_ID } from "./shared.js";

/**
 * Four months of a busy team's history, written by the database itself (INSERT … SELECT over
 * generate_series) so 100,000 rows take seconds: feedback with a realistic spread of channel/source,
 * kind, priority, status, theme, sprint and posted_at over 120 days; a release a day with approvals
 * and transitions, plus 2,000 releases of DORA's ledger; every job run of the default schedules; a health check every 5 minutes per
 * environment. Attributes come from bytes of md5(i): deterministic and uncorrelated with each other.
 */

const DAYS = 120;

const quote = (text: string) => `'${text.replace(/'/g, "''")}'`;
const THEMES = [
  "forecast accuracy",
  "voltage forecasting",
  "solar forecasting",
  "performance",
  "login and access",
  "dashboard and UI",
  "reports and export",
  "alerts and notifications",
  "data quality",
  "documentation and training",
];

function feedbackSql(rows: number): string {
  const texts = `ARRAY[${SAMPLE_TEXTS.map(quote).join(", ")}]::text[]`;
  const themes = `ARRAY[${THEMES.map(quote).join(", ")}]::text[]`;
  return `
WITH s AS (
  SELECT i, decode(md5('feedback-' || i), 'hex') AS h FROM generate_series(1, ${rows}) AS i
), v AS (
  SELECT i,
    date_trunc('second', now() - interval '${DAYS} days' * ((get_byte(h, 0) * 256 + get_byte(h, 1)) / 65536.0)) AS posted_at,
    get_byte(h, 2) * 100 / 256 AS r_channel,
    get_byte(h, 3) * 100 / 256 AS r_kind,
    get_byte(h, 4) * 100 / 256 AS r_priority,
    get_byte(h, 5) * 100 / 256 AS r_status,
    get_byte(h, 6) * 100 / 256 AS r_theme,
    get_byte(h, 7) * 100 / 256 AS r_misc,
    get_byte(h, 8) AS r_days,
    get_byte(h, 9) * 100 / 256 AS r_thread
  FROM s
), c AS (
  SELECT v.*,
    CASE WHEN r_channel < 45 THEN '${CHANNELS.helpdesk}' WHEN r_channel < 80 THEN '${CHANNELS.stakeholders}' ELSE '${CHANNELS.general}' END AS channel,
    CASE WHEN r_channel < 45 THEN 'PEA Help Desk' WHEN r_channel < 80 THEN 'Stakeholder Meetings' WHEN r_channel < 88 THEN 'Slack reaction' WHEN r_channel < 92 THEN 'Slack shortcut' ELSE 'Slack command' END AS source,
    CASE WHEN r_channel < 80 THEN (CASE WHEN r_misc < 3 THEN 'backfill' ELSE 'message' END) WHEN r_channel < 88 THEN 'reaction' WHEN r_channel < 92 THEN 'shortcut' ELSE 'command' END AS captured_by,
    CASE WHEN r_channel >= 92 THEN NULL ELSE floor(extract(epoch FROM posted_at))::bigint::text || '.' || lpad((i % 1000000)::text, 6, '0') END AS ts,
    CASE WHEN r_status < 45 THEN 'closed' WHEN r_status < 60 THEN 'in-progress' ELSE 'open' END AS status
  FROM v
)
INSERT INTO feedback (team_id, channel, ts, thread_ts, author, text, permalink, source, kind, priority, status, theme, sprint, captured_by, triaged_by, posted_at, created_at, updated_at, closed_at, deleted_at)
SELECT
  '${TEAM_ID}',
  channel,
  ts,
  CASE WHEN ts IS NOT NULL AND r_channel < 80 AND r_thread < 50 THEN (floor(extract(epoch FROM posted_at))::bigint - 60 * (1 + r_days))::text || '.000100' END,
  'U0USER' || lpad((i % 60)::text, 3, '0'),
  (${texts})[1 + i % ${SAMPLE_TEXTS.length}] || ' (#' || i || ')',
  CASE WHEN ts IS NOT NULL THEN 'https://orchestrator-bench.slack.test/archives/' || channel || '/p' || replace(ts, '.', '') END,
  source,
  CASE WHEN r_kind < 25 THEN 'bug' WHEN r_kind < 45 THEN 'feature-request' WHEN r_kind < 60 THEN 'question' WHEN r_kind < 75 THEN 'support-ticket'
       WHEN r_kind < 88 THEN 'direct-feedback' WHEN r_kind < 93 THEN 'praise' ELSE 'in-app-feedback' END,
  CASE WHEN r_priority < 15 THEN 'low' WHEN r_priority < 55 THEN 'medium' WHEN r_priority < 85 THEN 'high' ELSE 'critical' END,
  status,
  CASE WHEN r_theme < 80 THEN (${themes})[1 + r_theme / 8] END,
  CASE WHEN r_misc BETWEEN 10 AND 19 THEN 'sprint-' || (20 + r_days % 8) END,
  captured_by,
  CASE WHEN r_misc < 70 THEN 'rules' ELSE 'claude' END,
  posted_at,
  posted_at + interval '2 seconds',
  CASE WHEN status = 'closed' THEN least(now(), posted_at + interval '1 day' * (r_days % 21) + interval '2 hours') ELSE posted_at + interval '2 seconds' END,
  CASE WHEN status = 'closed' THEN least(now(), posted_at + interval '1 day' * (r_days % 21) + interval '2 hours') END,
  CASE WHEN r_misc = 99 THEN posted_at + interval '1 hour' END
FROM c`;
}

const GATES_PASSED = `'[{"name":"Runbooks updated","kind":"manual","status":"manual","detail":"confirmed by approving"},{"name":"Tests pass","kind":"run","status":"passed","detail":"exit 0","durationMs":41234}]'::jsonb`;
const GATES_FAILED = `'[{"name":"Runbooks updated","kind":"manual","status":"manual","detail":""},{"name":"Tests pass","kind":"run","status":"failed","detail":"exit 1","durationMs":38211}]'::jsonb`;

const RELEASES_SQL = `
WITH s AS (
  SELECT d, get_byte(decode(md5('release-' || d), 'hex'), 0) * 100 / 256 AS r,
    -- The last two are still awaiting approval: asked for a couple of hours ago, well inside approval.expiresAfter.
    CASE WHEN d > ${DAYS - 2} THEN date_trunc('minute', now() - interval '2 hours' - interval '10 minutes' * (${DAYS} - d))
         ELSE date_trunc('minute', now() - interval '${DAYS} days' + interval '1 day' * d - interval '5 hours') END AS created
  FROM generate_series(1, ${DAYS}) AS d
), t AS (
  SELECT d, created, CASE WHEN d % 3 = 0 THEN 'production' ELSE 'staging' END AS environment,
    CASE WHEN d > ${DAYS - 2} THEN 'awaiting_approval' WHEN r < 70 THEN 'live' WHEN r < 80 THEN 'failed' WHEN r < 88 THEN 'blocked' WHEN r < 95 THEN 'rejected' ELSE 'expired' END AS state
  FROM s
)
INSERT INTO releases (version, semver, environment, state, revision, requester, required_approvals, channel, message_ts, gates, reason, created_at, updated_at, awaiting_since, live_at)
SELECT 'v1.' || (d / 10) || '.' || (d % 10), '1.' || (d / 10) || '.' || (d % 10), environment, state, 6,
  CASE WHEN d % 2 = 0 THEN 'U0ENGINEER' ELSE 'U0ADMIN' END,
  CASE WHEN environment = 'production' THEN 2 ELSE 1 END,
  '${CHANNELS.releases}', floor(extract(epoch FROM created))::bigint::text || '.000200',
  CASE WHEN state = 'blocked' THEN ${GATES_FAILED} ELSE ${GATES_PASSED} END,
  CASE WHEN state = 'failed' THEN 'smoke test failed: exit 1' WHEN state = 'blocked' THEN 'gate failed: Tests pass' WHEN state = 'rejected' THEN 'rejected by U0APPROVER2' WHEN state = 'expired' THEN 'no approval within 24h' END,
  created, least(now(), created + interval '3 hours'),
  CASE WHEN state <> 'blocked' THEN created + interval '2 minutes' END,
  CASE WHEN state = 'live' THEN created + interval '3 hours' END
FROM t`;

const APPROVALS_SQL = `
INSERT INTO approvals (release_id, approver, at)
SELECT r.id, a.approver, r.created_at + interval '1 hour'
FROM releases r CROSS JOIN (VALUES ('U0APPROVER1', 1), ('U0APPROVER2', 2)) AS a(approver, n)
WHERE (r.state IN ('live', 'failed') AND a.n <= r.required_approvals) OR (r.state = 'awaiting_approval' AND r.environment = 'production' AND a.n = 1)`;

const TRANSITIONS_SQL = `
INSERT INTO release_transitions (release_id, from_state, to_state, actor, detail, at)
SELECT r.id, x.from_state, x.to_state, CASE WHEN x.n = 1 THEN r.requester WHEN x.n = 3 THEN 'U0APPROVER1' ELSE 'orchestrator' END, NULL, r.created_at + interval '1 minute' * x.n
FROM releases r
CROSS JOIN (VALUES (1, NULL, 'gating'), (2, 'gating', 'awaiting_approval'), (3, 'awaiting_approval', 'deploying'), (4, 'deploying', 'verifying'), (5, 'verifying', 'live')) AS x(n, from_state, to_state)
WHERE x.n <= CASE r.state WHEN 'live' THEN 5 WHEN 'failed' THEN 4 WHEN 'blocked' THEN 1 WHEN 'awaiting_approval' THEN 2 ELSE 2 END`;

/**
 * The release ledger DORA reads (issue 15's bench: "plus 2,000 releases"): releases spread over the
 * period on both environments, with commit ranges (oldest commit 1–97 hours before the request), run
 * and http gates with measured values, and their transitions. About 76 % go live (3 % of them later
 * rolled back), 8 % fail after the deploy started, the rest are blocked, rejected or expired.
 */
function ledgerReleasesSql(count: number): string {
  return `
WITH s AS (
  SELECT i, get_byte(decode(md5('ledger-' || i), 'hex'), 0) * 100 / 256 AS r, get_byte(decode(md5('ledger-' || i), 'hex'), 1) AS r2,
    date_trunc('minute', now() - interval '${DAYS} days' + interval '1 minute' * (i * ${Math.floor((DAYS * 24 * 60) / Math.max(count, 1))})) AS created
  FROM generate_series(1, ${count}) AS i
), t AS (
  SELECT i, r, r2, created, CASE WHEN i % 2 = 0 THEN 'production' ELSE 'staging' END AS environment,
    CASE WHEN r < 73 THEN 'live' WHEN r < 76 THEN 'rolled_back' WHEN r < 84 THEN 'failed' WHEN r < 90 THEN 'blocked' WHEN r < 95 THEN 'rejected' ELSE 'expired' END AS state
  FROM s
), inserted AS (
  INSERT INTO releases (version, semver, environment, state, revision, requester, required_approvals, gates, commits, oldest_commit_at, evidence_digest, reason, created_at, updated_at, awaiting_since, live_at)
  SELECT '2.' || (i / 100) || '.' || (i % 100), '2.' || (i / 100) || '.' || (i % 100), environment, state, 6, 'U0ENGINEER',
    CASE WHEN environment = 'production' THEN 2 ELSE 1 END,
    jsonb_build_array(
      jsonb_build_object('name', 'Tests pass', 'kind', 'run', 'status', CASE WHEN state = 'blocked' THEN 'failed' ELSE 'passed' END, 'detail', 'frontend: 138 passed',
        'output', 'backend: ' || (400 + r2 % 20) || ' passed, 3 skipped' || chr(10) || 'frontend: 138 passed', 'exitCode', CASE WHEN state = 'blocked' THEN 1 ELSE 0 END, 'durationMs', 40000 + r2 * 10),
      jsonb_build_object('name', 'ML model accuracy', 'kind', 'http', 'status', 'passed', 'detail', 'ok', 'measured', jsonb_build_array(
        jsonb_build_object('key', 'mape', 'label', 'MAPE', 'value', 6 + (r2 % 30) / 10.0, 'max', 10, 'ok', true),
        jsonb_build_object('key', 'mae_volts', 'label', 'MAE', 'unit', 'V', 'value', 1 + (r2 % 9) / 10.0, 'max', 2, 'ok', true)))),
    jsonb_build_object('status', 'ok', 'tag', 'v2.' || (i / 100) || '.' || (i % 100), 'total', 1 + r2 % 25, 'authors', '[]'::jsonb, 'commits', '[]'::jsonb),
    created - interval '1 hour' * (1 + r2 % 97), md5('evidence-' || i),
    CASE WHEN state = 'failed' THEN 'health check failed: HTTP 503' WHEN state = 'blocked' THEN 'gate failed: Tests pass' END,
    created, created + interval '4 hours', created + interval '5 minutes',
    CASE WHEN state IN ('live', 'rolled_back') THEN created + interval '1 minute' * (40 + r2) END
  FROM t
  RETURNING id, state, created_at, live_at
)
INSERT INTO release_transitions (release_id, from_state, to_state, actor, detail, at)
SELECT x.id, y.from_state, y.to_state, 'orchestrator', NULL,
  CASE y.n WHEN 1 THEN x.created_at WHEN 2 THEN x.created_at + interval '5 minutes' WHEN 3 THEN coalesce(x.live_at - interval '10 minutes', x.created_at + interval '30 minutes')
    WHEN 4 THEN coalesce(x.live_at - interval '5 minutes', x.created_at + interval '35 minutes') ELSE coalesce(x.live_at, x.created_at + interval '40 minutes') END
FROM inserted x
CROSS JOIN (VALUES (1, NULL, 'gating'), (2, 'gating', 'awaiting_approval'), (3, 'awaiting_approval', 'deploying'), (4, 'deploying', 'verifying'), (5, 'verifying', 'live'), (6, 'verifying', 'failed')) AS y(n, from_state, to_state)
WHERE y.n <= CASE WHEN x.state IN ('live', 'rolled_back') THEN 5 WHEN x.state = 'failed' THEN 4 WHEN x.state = 'blocked' THEN 1 ELSE 2 END
   OR (y.n = 6 AND x.state = 'failed')`;
}

/** Every run of the default schedules over the period: the frequent jobs dominate, as in production. */
function jobRunsSql(): string {
  const schedules: Array<[string, string, number]> = [
    ["health-check", "5 minutes", (DAYS * 24 * 60) / 5],
    ["approval-expiry", "10 minutes", (DAYS * 24 * 60) / 10],
    ["feedback-backfill", "1 hour", DAYS * 24],
    ["weekly-digest", "7 days", Math.floor(DAYS / 7)],
    ["dependency-updates", "7 days", Math.floor(DAYS / 7)],
    ["security-patches", "7 days", Math.floor(DAYS / 7)],
    ["knowledge-sync", "7 days", Math.floor(DAYS / 7)],
    ["monthly-digest", "1 month", Math.floor(DAYS / 30)],
    ["model-retraining-review", "1 month", Math.floor(DAYS / 30)],
    ["performance-analysis", "1 month", Math.floor(DAYS / 30)],
    ["tech-debt-assessment", "1 month", Math.floor(DAYS / 30)],
  ];
  const values = schedules.map(([job, every, count]) => `(${quote(job)}, interval '${every}', ${count})`).join(", ");
  return `
WITH j AS (SELECT * FROM (VALUES ${values}) AS j(job, every, runs)),
s AS (
  SELECT j.job, date_trunc('hour', now()) - interval '1 hour' - j.every * n AS slot,
    get_byte(decode(md5(j.job || n), 'hex'), 0) * 1000 / 256 AS r
  FROM j CROSS JOIN LATERAL generate_series(0, j.runs - 1) AS n
)
INSERT INTO job_runs (job, slot, trigger, replica, requested_by, status, summary, output_tail, details, started_at, finished_at, lease_until)
SELECT job, slot, 'schedule', 'bench-replica', NULL,
  CASE WHEN r < 15 THEN 'failed' ELSE 'succeeded' END,
  CASE WHEN r < 15 THEN job || ' failed: exit 1' ELSE job || ' finished' END,
  CASE WHEN r < 15 THEN 'Error: connect ECONNREFUSED 10.0.0.12:443' END,
  '{}'::jsonb,
  slot + interval '1 second',
  slot + interval '1 second' + interval '1 millisecond' * (50 + r * 3),
  NULL
FROM s
ON CONFLICT DO NOTHING`;
}

const HEALTH_SQL = `
WITH s AS (
  SELECT e.environment, date_trunc('hour', now()) - interval '1 hour' - interval '5 minutes' * n AS at,
    get_byte(decode(md5(e.environment || n), 'hex'), 0) AS r1, get_byte(decode(md5(e.environment || n), 'hex'), 1) AS r2
  FROM (VALUES ('staging'), ('production')) AS e(environment) CROSS JOIN generate_series(0, ${(DAYS * 24 * 60) / 5 - 1}) AS n
)
INSERT INTO health_checks (environment, ok, status_code, latency_ms, error, at)
SELECT environment, r1 > 2, CASE WHEN r1 > 2 THEN 200 ELSE 503 END, 80 + r2 + (r1 % 64), CASE WHEN r1 <= 2 THEN 'HTTP 503' END, at
FROM s`;

const HEALTH_STATE_SQL = `INSERT INTO health_state (environment, ok, since) VALUES ('staging', true, now() - interval '3 days'), ('production', true, now() - interval '9 days') ON CONFLICT DO NOTHING`;

export interface SeedReport {
  feedback: number;
  releases: number;
  approvals: number;
  transitions: number;
  jobRuns: number;
  healthChecks: number;
  seconds: number;
  analyzeSeconds: number;
}

export async function seedReportData(db: Db, feedbackRows: number, ledgerReleases = 2000): Promise<SeedReport> {
  const started = performance.now();
  await db.execute(sql.raw(feedbackSql(feedbackRows)));
  await db.execute(sql.raw(RELEASES_SQL));
  await db.execute(sql.raw(ledgerReleasesSql(ledgerReleases)));
  await db.execute(sql.raw(APPROVALS_SQL));
  await db.execute(sql.raw(TRANSITIONS_SQL));
  await db.execute(sql.raw(jobRunsSql()));
  await db.execute(sql.raw(HEALTH_SQL));
  await db.execute(sql.raw(HEALTH_STATE_SQL));
  const seeded = performance.now();
  // What autovacuum does on PostgreSQL shortly after a bulk load: planner statistics and the visibility map.
  await db.execute(sql.raw("VACUUM ANALYZE feedback, releases, approvals, release_transitions, job_runs, health_checks, health_state"));
  const analyzed = performance.now();
  const [counts] = await queryRows<Record<string, number>>(
    db,
    sql.raw(`SELECT (SELECT count(*)::int FROM feedback) AS feedback, (SELECT count(*)::int FROM releases) AS releases, (SELECT count(*)::int FROM approvals) AS approvals,
      (SELECT count(*)::int FROM release_transitions) AS transitions, (SELECT count(*)::int FROM job_runs) AS "jobRuns", (SELECT count(*)::int FROM health_checks) AS "healthChecks"`),
  );
  return {
    feedback: counts?.feedback ?? 0,
    releases: counts?.releases ?? 0,
    approvals: counts?.approvals ?? 0,
    transitions: counts?.transitions ?? 0,
    jobRuns: counts?.jobRuns ?? 0,
    healthChecks: counts?.healthChecks ?? 0,
    seconds: (seeded - started) / 1000,
    analyzeSeconds: (analyzed - seeded) / 1000,
  };
}
