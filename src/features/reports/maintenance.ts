import type { KnownBlock } from "@slack/types";
import type { Config } from "../../config/schema.js";
import type { Executor } from "../../db/client.js";
import { feedbackStats, statsFor } from "../feedback/index.js";
import { escapeMrkdwn, listed, oneLine, plural } from "../../slack/text.js";
import { formatDate, formatDateTime, formatSeconds } from "../../time.js";
import { context, fitted, header, section } from "../../slack/blocks.js";
import type { JobName } from "../../core/jobs/catalog.js";
import { backlogByTheme } from "../feedback/index.js";
import { healthFigures } from "../health/index.js";
import { deliveryFigures, gateFailures, releaseEvents } from "../releases/index.js";
import type { Period } from "./figures.js";
import { feedbackLine } from "./report.js";
import { jobDurations, jobFigures, latestRuns } from "../../core/jobs/store.js";

/**
 * The maintenance windows of the reference process (weekly knowledge sync; monthly performance and
 * tech-debt reviews; quarterly architecture, feedback synthesis and roadmap), each summarized from the
 * database and posted to the digests channel.
 */

interface ReportSection {
  heading: string;
  lines: string[];
  /** The full length of the list when only its first rows were fetched. */
  total?: number;
  empty?: string;
}

export interface MaintenanceReport {
  job: JobName;
  title: string;
  period: Period;
  /** One or two sentences: the run's summary. */
  summary: string;
  sections: ReportSection[];
  details: Record<string, unknown>;
}

type MaintenanceJob = "knowledge-sync" | "performance-analysis" | "tech-debt-assessment" | "architecture-review" | "user-feedback-synthesis" | "roadmap-planning";

export const MAINTENANCE_JOBS: MaintenanceJob[] = ["knowledge-sync", "performance-analysis", "tech-debt-assessment", "architecture-review", "user-feedback-synthesis", "roadmap-planning"];

type Builder = (db: Executor, config: Config, period: Period) => Promise<Omit<MaintenanceReport, "job" | "title" | "period">>;

/** Maintenance reports go to the digests channel: feedback text from other channels stays out of them. */
const digestStats = async (db: Executor, config: Config, period: Period) =>
  statsFor(await feedbackStats(db, { ...period, timeZone: config.timezone }), { kind: "channel", channel: config.channels.digests });

const shortDate = (at: Date, config: Config) => formatDate(at, config.timezone);
const version = (v: string) => `\`${escapeMrkdwn(oneLine(v, 40))}\``;

const BUILDERS: Record<MaintenanceJob, Builder> = {
  "knowledge-sync": async (db, config, period) => {
    const [{ wentLive, troubled }, stats] = await Promise.all([releaseEvents(db, period), digestStats(db, config, period)]);
    return {
      summary: `${plural(wentLive.length, "release")} went live, ${troubled.length} failed or blocked, ${plural(stats.closedInPeriod, "feedback item")} closed: update the changelog, runbooks and knowledge base to match.`,
      sections: [
        {
          heading: "Went live (changelog, release notes)",
          lines: wentLive.map((r) => `• ${version(r.version)} → ${r.environment}, ${shortDate(r.liveAt as Date, config)}`),
          empty: "_no release went live_",
        },
        {
          heading: "Failed or blocked (runbooks, troubleshooting)",
          lines: troubled.map((r) => `• ${version(r.version)} → ${r.environment}: ${r.state}${r.reason ? ` — ${escapeMrkdwn(oneLine(r.reason, 120))}` : ""}`),
          empty: "_nothing failed or was blocked_",
        },
        { heading: "Feedback closed (known issues, FAQ)", lines: stats.recentlyClosed.map((f) => `• ${feedbackLine(f, period.until)}`), total: stats.closedInPeriod, empty: "_no feedback closed_" },
        { heading: "Themes raised", lines: stats.topThemes.map((t) => `• ${escapeMrkdwn(oneLine(t.key, 60))} (${t.count})`), empty: "_no themes_" },
      ],
      details: { wentLive: wentLive.length, troubled: troubled.length, feedbackClosed: stats.closedInPeriod },
    };
  },

  "performance-analysis": async (db, config, period) => {
    const [health, durations] = await Promise.all([healthFigures(db, config, period), jobDurations(db, period)]);
    const limitOf = (env: string) => config.environments.find((e) => e.name === env)?.health?.maxLatencyMs;
    const checked = health.filter((h) => h.checks > 0);
    const slow = checked.filter((h) => h.p95 !== null && limitOf(h.environment) !== undefined && h.p95 > (limitOf(h.environment) as number));
    return {
      summary:
        checked.length === 0
          ? "No health checks in the period, so there is no latency to analyse."
          : `${checked.map((h) => `${h.environment} p95 ${h.p95 ?? "?"} ms`).join(", ")}${slow.length > 0 ? `; above the limit: ${slow.map((h) => h.environment).join(", ")}` : "; every environment within its latency limit"}.`,
      sections: [
        {
          heading: "Health latency per environment",
          lines: health.map((h) =>
            h.checks === 0
              ? `• *${h.environment}*: no checks in the period`
              : `• *${h.environment}*: p50 ${h.p50 ?? "?"} ms · p95 ${h.p95 ?? "?"} ms · max ${h.max ?? "?"} ms · ${((h.passed / h.checks) * 100).toFixed(1)}% of ${plural(h.checks, "check")} passed` +
                (slow.includes(h) ? ` · :warning: p95 above the ${limitOf(h.environment)} ms limit` : ""),
          ),
        },
        {
          heading: "Slowest jobs (p95 duration)",
          lines: durations.map((d) => `• *${d.job}*: p50 ${formatSeconds(d.p50Seconds)} · p95 ${formatSeconds(d.p95Seconds)} · max ${formatSeconds(d.maxSeconds)} over ${plural(d.runs, "run")}`),
          empty: "_no finished job runs_",
        },
      ],
      details: { health, durations },
    };
  },

  "tech-debt-assessment": async (db, config, period) => {
    const [jobs, gates, delivery, latest] = await Promise.all([jobFigures(db, period), gateFailures(db, period), deliveryFigures(db, period), latestRuns(db)]);
    const failedRuns = jobs.failuresByJob.reduce((n, c) => n + c.count, 0);
    const blocked = delivery.reduce((n, d) => n + d.blocked, 0);
    const failedReleases = delivery.reduce((n, d) => n + d.failed, 0);
    const scan = (job: JobName) => {
      const run = latest.get(job);
      return run ? `• *${job}* (${run.status}, ${formatDate(run.startedAt, config.timezone)}): ${escapeMrkdwn(oneLine(run.summary ?? "no summary", 200))}` : `• *${job}*: has not run yet`;
    };
    return {
      summary: `${plural(failedRuns, "failed job run")}, ${plural(blocked, "release")} blocked by gates, ${plural(failedReleases, "failed release")}; see the latest dependency and security scans.`,
      sections: [
        { heading: "Dependencies and security (latest scans)", lines: [scan("dependency-updates"), scan("security-patches")] },
        { heading: "Failing jobs", lines: jobs.failuresByJob.map((c) => `• *${c.key}*: ${plural(c.count, "failure")}`), empty: "_no job failed_" },
        { heading: "Gates that blocked releases", lines: gates.map((c) => `• ${escapeMrkdwn(oneLine(c.key, 80))}: ${c.count}×`), empty: "_no gate blocked a release_" },
        {
          heading: "Failed deploys per environment",
          lines: delivery.filter((d) => d.failed > 0).map((d) => `• *${d.environment}*: ${d.failed} of ${d.requested} requested`),
          empty: "_no deploy failed_",
        },
      ],
      details: { failedRuns, blocked, failedReleases, failuresByJob: jobs.failuresByJob, gates },
    };
  },

  "architecture-review": async (db, config, period) => {
    const [delivery, health, jobs] = await Promise.all([deliveryFigures(db, period), healthFigures(db, config, period), jobFigures(db, period)]);
    const succeeded = jobs.byStatus.find((c) => c.key === "succeeded")?.count ?? 0;
    const finished = succeeded + (jobs.byStatus.find((c) => c.key === "failed")?.count ?? 0);
    const live = delivery.reduce((n, d) => n + d.live, 0);
    const failed = delivery.reduce((n, d) => n + d.failed, 0);
    return {
      summary: `${plural(live, "release")} went live this quarter with a change failure rate of ${percent(failed, live + failed)}; jobs succeeded ${percent(succeeded, finished)} of the time.`,
      sections: [
        {
          heading: "Delivery per environment",
          lines: delivery.map(
            (d) =>
              `• *${d.environment}*: ${d.requested} requested · ${d.live} live · ${d.failed} failed · ${d.blocked} blocked · ${d.rejectedOrExpired} rejected or expired` +
              ` · median lead time ${d.medianLeadHours === null ? "n/a" : `${d.medianLeadHours.toFixed(1)} h`} · change failure rate ${percent(d.failed, d.live + d.failed)}`,
          ),
          empty: "_no releases this quarter_",
        },
        {
          heading: "Availability per environment",
          lines: health.map((h) =>
            h.checks === 0 ? `• *${h.environment}*: not checked` : `• *${h.environment}*: ${percent(h.passed, h.checks)} of ${plural(h.checks, "check")} passed · p95 ${h.p95 ?? "?"} ms`,
          ),
        },
        {
          heading: "Job reliability",
          lines: [`• ${plural(jobs.total, "run")}: ${jobs.byStatus.map((c) => `${c.count} ${c.key}`).join(", ") || "none"}`, ...jobs.failuresByJob.map((c) => `• *${c.key}* failed ${c.count}×`)],
        },
      ],
      details: { delivery, jobs: jobs.byStatus },
    };
  },

  "user-feedback-synthesis": async (db, config, period) => {
    const stats = await digestStats(db, config, period);
    const counts = (list: Array<{ key: string; count: number }>) => list.map((c) => `• ${escapeMrkdwn(oneLine(c.key, 60))}: *${c.count}*`);
    return {
      summary:
        `${plural(stats.total, "new feedback item")} this quarter` +
        `${
          stats.topThemes.length > 0
            ? `; top themes ${stats.topThemes
                .slice(0, 3)
                .map((t) => `${t.key} (${t.count})`)
                .join(", ")}`
            : ""
        }` +
        `; backlog ${stats.open} open, ${stats.inProgress} in progress; ${stats.closedInPeriod} closed.`,
      sections: [
        { heading: "Top themes", lines: stats.topThemes.map((t, i) => `${i + 1}. ${escapeMrkdwn(oneLine(t.key, 60))} (${t.count})`), empty: "_no themes_" },
        { heading: "By kind", lines: counts(stats.byKind) },
        { heading: "By priority", lines: counts(stats.byPriority) },
        { heading: "By source", lines: counts(stats.bySource) },
        { heading: "Weekly new feedback", lines: stats.weekly.map((w) => `• week of ${w.week}: ${w.count}`) },
        { heading: "Oldest open high or critical", lines: stats.oldestUrgent.map((f) => `• ${feedbackLine(f, period.until)}`), empty: "_none_ :tada:" },
      ],
      details: { total: stats.total, open: stats.open, inProgress: stats.inProgress, closed: stats.closedInPeriod, topThemes: stats.topThemes },
    };
  },

  "roadmap-planning": async (db, config, period) => {
    const [backlog, delivery, stats] = await Promise.all([backlogByTheme(db), deliveryFigures(db, period), digestStats(db, config, period)]);
    const urgentThemes = backlog.themes.filter((t) => t.urgent > 0);
    return {
      summary:
        `${plural(stats.open + stats.inProgress, "feedback item")} waiting` +
        `${
          urgentThemes.length > 0
            ? `; the most urgent themes: ${urgentThemes
                .slice(0, 3)
                .map((t) => `${t.theme} (${t.urgent} high/critical)`)
                .join(", ")}`
            : ""
        }` +
        `; ${plural(
          delivery.reduce((n, d) => n + d.live, 0),
          "release",
        )} shipped this quarter.`,
      sections: [
        { heading: "Open backlog by theme", lines: backlog.themes.map((t) => `• ${escapeMrkdwn(oneLine(t.theme, 60))}: ${t.open} open, ${t.urgent} high/critical`), empty: "_the backlog is empty_" },
        { heading: "Oldest open high or critical", lines: stats.oldestUrgent.map((f) => `• ${feedbackLine(f, period.until)}`), empty: "_none_" },
        {
          heading: "Already linked to sprints",
          lines: backlog.sprints.map((s) => `• ${escapeMrkdwn(s.key)}: ${plural(s.count, "item")}`),
          empty: "_nothing linked yet (`feedback link <id> <sprint>`)_",
        },
        { heading: "Shipped this quarter", lines: delivery.map((d) => `• *${d.environment}*: ${d.live} live of ${d.requested} requested`), empty: "_nothing shipped_" },
      ],
      details: { themes: backlog.themes, sprints: backlog.sprints },
    };
  },
};

export async function maintenanceReport(job: MaintenanceJob, title: string, db: Executor, config: Config, period: Period): Promise<MaintenanceReport> {
  return { job, title, period, ...(await BUILDERS[job](db, config, period)) };
}

/** The report as a Slack message; `commentary` is prose around the figures (Claude's), when there is some. Pure. */
export function maintenanceMessage(report: MaintenanceReport, timeZone: string, commentary?: string): { text: string; blocks: KnownBlock[] } {
  const range = `${formatDateTime(report.period.since, timeZone, false)} – ${formatDateTime(report.period.until, timeZone, false)} (${timeZone})`;
  const blocks = fitted((limit) => [
    header(report.title),
    context(`*Period:* ${range} · job \`${report.job}\``),
    section(report.summary),
    ...(commentary ? [section(commentary)] : []),
    ...report.sections.map((s) => section(`*${s.heading}*\n${listed(s.lines, limit, s.total ?? s.lines.length, s.empty)}`)),
  ]);
  return { text: `${report.title}: ${report.summary}`.slice(0, 3000), blocks };
}

function percent(part: number, whole: number): string {
  return whole === 0 ? "n/a" : `${Math.round((part / whole) * 100)}%`;
}
