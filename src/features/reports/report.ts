import type { KnownBlock } from "@slack/types";
import type { Count, FeedbackItem } from "../feedback/index.js";
import { hiddenText } from "../feedback/index.js";
import { stateLabel } from "../releases/index.js";
import { escapeMrkdwn, listed, moreLine, oneLine, plural } from "../../slack/text.js";
import { formatAge, formatDate, formatDateTime } from "../../time.js";
import { context, divider, fieldsSection, fitted, header, section } from "../../slack/blocks.js";
import { DORA_FOOTNOTE, doraFields } from "../dora/index.js";
import { measuredLine } from "../releases/index.js";
import type { EnvironmentHealth } from "../health/index.js";
import type { OrchestratorFigures } from "./figures.js";

/** The Orchestrator Report (SPEC §6): the weekly and monthly digests and `/orch report`. Pure. */

interface ReportOptions {
  /** "weekly" or "monthly": shown in the title. */
  cadence: string;
  timeZone: string;
  recommendations: string[];
  /** Who wrote the recommendations, shown under them ("Claude", or the plain rule). */
  recommendedBy?: string;
}

export function orchestratorReport(figures: OrchestratorFigures, options: ReportOptions): { text: string; blocks: KnownBlock[] } {
  const { releases, health, jobs, feedback, period } = figures;
  const tz = options.timeZone;
  const range = `${formatDateTime(period.since, tz, false)} – ${formatDateTime(period.until, tz, false)} (${tz})`;
  const failedRuns = countOf(jobs.byStatus, "failed");

  const blocks = fitted((limit) => [
    header(`Orchestrator Report — ${options.cadence}`),
    context(`*Period:* ${range}`),
    fieldsSection(
      "*:rocket: Releases* — live version per environment",
      releases.live.map((env) => `*${env.environment}*\n${env.version ? `\`${escapeMrkdwn(env.version)}\` since ${formatDate(env.liveAt as Date, tz)}` : "_nothing live yet_"}`),
    ),
    section(
      `*Releases in the period* — ${releases.total}${releases.total > 0 ? ` (${countsInline(releases.byState.map((c) => ({ key: c.key.replace("_", " "), count: c.count })))})` : ""}\n` +
        listed(
          releases.recent.map(
            (r) =>
              `• ${r.emergency !== null ? "🚨 " : ""}\`${escapeMrkdwn(oneLine(r.version, 40))}\` → ${r.environment}${r.kind === "rollback" ? " (rollback)" : ""} — ${stateLabel(r.state)} · <@${r.requester}> · ${formatDate(r.createdAt, tz)}` +
              (r.reason && (r.state === "failed" || r.state === "blocked" || r.state === "rejected") ? ` — ${escapeMrkdwn(oneLine(r.reason, 90))}` : ""),
          ),
          limit,
          releases.total,
          "_no releases requested in the period_",
        ),
    ),
    section(
      `*:leftwards_arrow_with_hook: Rollbacks* — ${releases.rollbackTotal} · *🚨 Emergencies* — ${releases.emergencyTotal}\n` +
        listed(
          [...releases.emergencies, ...releases.rollbacks.filter((r) => r.emergency === null)].map(
            (r) =>
              `• ${r.emergency !== null ? "🚨 " : ":leftwards_arrow_with_hook: "}\`${escapeMrkdwn(oneLine(r.version, 40))}\` → ${r.environment}${r.kind === "rollback" ? " (rollback)" : ""} — ${stateLabel(r.state)} · <@${r.requester}> · ${formatDate(r.createdAt, tz)}` +
              (r.emergency !== null ? ` — ${escapeMrkdwn(oneLine(r.emergency, 90))}` : ""),
          ),
          limit,
          releases.rollbackOrEmergencyTotal,
          "_no rollbacks or emergency releases in the period_",
        ),
    ),
    section(
      `*Pending approvals* — ${releases.pendingTotal}\n` +
        listed(
          releases.pending.map(
            (p) =>
              `• \`${escapeMrkdwn(oneLine(p.version, 40))}\` → ${p.environment}: ${p.approvals}/${p.requiredApprovals} approvals, requested by <@${p.requester}>` +
              (p.awaitingSince ? `, waiting ${formatAge(p.awaitingSince, period.until)}` : ""),
          ),
          limit,
          releases.pendingTotal,
        ),
    ),
    fieldsSection("*:chart_with_upwards_trend: DORA* in the period", [
      ...doraFields(figures.dora.slice(0, limit)),
      ...(figures.dora.length > limit ? [moreLine(figures.dora.length - limit, "environments (`/orch dora`)")] : []),
    ]),
    context(DORA_FOOTNOTE),
    section(`*:package: Commits shipped* in the period\n${commitsText(figures, limit)}`),
    divider,
    fieldsSection(
      "*:stethoscope: Health* in the period",
      health.map((h) => healthField(h, tz)),
    ),
    section(`*:test_tube: Test results* — the latest run gates per environment\n${testsText(figures, limit, tz)}`),
    section(`*:bar_chart: ML validation* — the latest measured model values\n${modelText(figures, limit, tz)}`),
    section(
      `*:gear: Jobs* — ${plural(jobs.total, "run")}${jobs.total > 0 ? ` (${countsInline(jobs.byStatus)})` : ""}\n` +
        (failedRuns > 0
          ? listed(
              jobs.failures.map((f) => `• :x: *${f.job}* — ${formatDateTime(f.startedAt, tz, false)}: ${escapeMrkdwn(oneLine(f.summary ?? "no summary", 140))}`),
              limit,
              failedRuns,
            )
          : "_no failed runs_"),
    ),
    divider,
    fieldsSection(`*:speech_balloon: Feedback* — ${feedback.total} new in the period`, [
      `*New by kind*\n${countsLines(feedback.byKind, limit)}`,
      `*New by priority*\n${countsLines(feedback.byPriority, limit)}`,
      `*Backlog now*\n${feedback.open} open · ${feedback.inProgress} in progress\n${feedback.closedInPeriod} closed in the period`,
      `*Top themes*\n${
        feedback.topThemes.length > 0
          ? feedback.topThemes
              .slice(0, limit)
              .map((t, i) => `${i + 1}. ${escapeMrkdwn(oneLine(t.key, 60))} (${t.count})`)
              .join("\n")
          : "_no themes yet_"
      }`,
    ]),
    section(
      `*Recently closed*\n${listed(
        feedback.recentlyClosed.map((f) => `• ${feedbackLine(f, period.until)}`),
        limit,
        feedback.closedInPeriod,
        "_nothing closed in the period_",
      )}`,
    ),
    section(fixesText(figures, limit)),
    divider,
    section(`*:construction: Remaining work and blockers*\n${blockersText(figures, limit, tz)}`),
    section(
      `*:bulb: Recommendations*\n${listed(
        options.recommendations.map((r) => `• ${r}`),
        Math.max(limit, 5),
        options.recommendations.length,
        "_nothing to recommend_",
      )}`,
    ),
    context(`Every figure comes from the Orchestrator database${options.recommendedBy ? ` · recommendations: ${options.recommendedBy}` : ""}`),
  ]);

  const text =
    `Orchestrator Report (${options.cadence}, ${formatDate(period.since, tz)} – ${formatDate(period.until, tz)}): ` +
    `${plural(releases.total, "release")} in the period (${plural(releases.rollbackTotal, "rollback")}, ${plural(releases.emergencyTotal, "emergency", "emergencies")}), ${plural(releases.pendingTotal, "pending approval")}; ` +
    `${plural(jobs.total, "job run")}, ${failedRuns} failed; ${feedback.total} new feedback, ${feedback.open} open.`;
  return { text, blocks };
}

/** Without Claude: the five oldest open high or critical feedback items (SPEC §6). */
export function plainRecommendations(figures: OrchestratorFigures): string[] {
  if (figures.feedback.oldestUrgent.length === 0) return ["No open high or critical feedback. :tada:"];
  return figures.feedback.oldestUrgent.map((f) => `Address ${feedbackLine(f, figures.period.until)}`);
}

export function feedbackLine(f: FeedbackItem, now: Date): string {
  const link = f.permalink ? ` <${f.permalink}|message>` : "";
  return `*#${f.id}* ${f.priority} ${f.kind} from ${escapeMrkdwn(oneLine(f.source, 40))}, ${formatAge(f.postedAt, now)} old — ${f.text === null ? hiddenText(f.channel) : escapeMrkdwn(oneLine(f.text, 100))}${link}`;
}

function commitsText(figures: OrchestratorFigures, limit: number): string {
  if (!figures.commits) return "_no `repository` configured, so commits are not known_";
  return figures.commits
    .slice(0, limit)
    .map((c) =>
      c.releases === 0
        ? `• *${c.environment}*: _nothing shipped_`
        : `• *${c.environment}*: ${plural(c.commits, "commit")} in ${plural(c.releases, "release")} — ${c.versions.map((v) => `\`${escapeMrkdwn(oneLine(v.version, 30))}\` (${v.commits})`).join(", ")}${c.releases > c.versions.length ? ", …" : ""}`,
    )
    .join("\n");
}

function testsText(figures: OrchestratorFigures, limit: number, tz: string): string {
  const lines = figures.tests.flatMap((t) =>
    t.gates.map(
      (g) =>
        `• *${t.environment}* (\`${escapeMrkdwn(oneLine(t.version, 30))}\`, ${formatDate(t.at, tz)}): ${g.status === "passed" ? ":white_check_mark:" : ":x:"} ${escapeMrkdwn(oneLine(g.name, 60))} — ${escapeMrkdwn(oneLine(g.summary.join("; "), 200))}`,
    ),
  );
  return listed(lines, limit, lines.length, "_no run gate has finished yet_");
}

function modelText(figures: OrchestratorFigures, limit: number, tz: string): string {
  const lines = figures.model.map(
    (m) =>
      `• *${escapeMrkdwn(m.source)}* ${escapeMrkdwn(oneLine(m.name, 60))} (${formatDate(m.at, tz)}): ${m.ok ? ":white_check_mark:" : ":x:"} ${escapeMrkdwn(measuredLine(m.measured)) || "_no values_"}`,
  );
  return listed(lines, limit, lines.length, "_no model metrics measured yet (an `http` gate or the model-retraining-review job with `http`)_");
}

/** Counts and versions only: feedback text stays with its source channel. */
function fixesText(figures: OrchestratorFigures, limit: number): string {
  const { resolved, waiting } = figures.fixes;
  const resolvedTotal = resolved.reduce((n, r) => n + r.count, 0);
  const resolvedLine =
    resolvedTotal > 0
      ? `${resolvedTotal} — ${resolved
          .slice(0, limit)
          .map((r) => `\`${escapeMrkdwn(oneLine(r.version, 30))}\` (${r.count})`)
          .join(", ")}`
      : "_none in the period_";
  const waitingLine =
    waiting.length > 0
      ? waiting
          .slice(0, limit)
          .map((w) => `\`${escapeMrkdwn(oneLine(w.version, 30))}\`: ${plural(w.count, "item")}${w.urgent > 0 ? ` (${w.urgent} high/critical)` : ""}`)
          .join(", ")
      : "_none_";
  return `*Resolved by releases:* ${resolvedLine}\n*Waiting on a release:* ${waitingLine}`;
}

function blockersText(figures: OrchestratorFigures, limit: number, tz: string): string {
  const b = figures.blockers;
  const stuck = listed(
    b.stuck.map((r) => `   ◦ \`${escapeMrkdwn(oneLine(r.version, 40))}\` → ${r.environment}: ${r.state} ${formatDate(r.at, tz)}${r.reason ? ` — ${escapeMrkdwn(oneLine(r.reason, 100))}` : ""}`),
    limit,
    b.stuckTotal,
    "   ◦ _none_",
  );
  const jobs = listed(
    b.failingJobs.map((j) => `   ◦ *${j.job}* ${formatDate(j.at, tz)}: ${escapeMrkdwn(oneLine(j.summary ?? "no summary", 100))}`),
    limit,
    b.failingJobs.length,
    "   ◦ _none_",
  );
  const scheduled = b.scheduled.length > 0 ? b.scheduled.map((r) => `\`${escapeMrkdwn(oneLine(r.version, 40))}\` → ${r.environment}`).join(", ") : "_none_";
  return [
    `• *Blocked or failed releases not tried again:* ${b.stuckTotal}\n${stuck}`,
    `• *Jobs whose last run failed:* ${b.failingJobs.length}\n${jobs}`,
    `• *Open critical feedback:* ${b.openCritical} (and ${b.openHigh} high)`,
    `• *Approved, waiting for a deploy window or a freeze to end:* ${scheduled}`,
  ].join("\n");
}

function healthField(h: EnvironmentHealth, tz: string): string {
  const state = h.ok === null ? ":white_circle: not checked yet" : h.ok ? ":large_green_circle: healthy" : ":red_circle: failing";
  const since = h.since && h.ok !== null ? ` since ${formatDate(h.since, tz)}` : "";
  if (h.checks === 0) return `*${h.environment}* — ${state}${since}\n_no checks in the period_`;
  const uptime = ((h.passed / h.checks) * 100).toFixed(1);
  const latency = h.p50 === null ? "" : ` · p50 ${h.p50} ms · p95 ${h.p95} ms · max ${h.max} ms`;
  return `*${h.environment}* — ${state}${since}\n${plural(h.checks, "check")}, ${uptime}% passed${latency}`;
}

function countOf(counts: Count[], key: string): number {
  return counts.find((c) => c.key === key)?.count ?? 0;
}

function countsInline(counts: Count[]): string {
  return counts.map((c) => `${c.count} ${escapeMrkdwn(c.key)}`).join(", ");
}

function countsLines(counts: Count[], limit: number): string {
  return listed(
    counts.map((c) => `${escapeMrkdwn(oneLine(c.key, 50))}: *${c.count}*`),
    limit,
  );
}
