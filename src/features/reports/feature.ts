import type { KnownBlock } from "@slack/types";
import { z } from "zod";
import { defineCommand, type Reply } from "../../core/commands/router.js";
import type { Feature, Services } from "../../core/feature.js";
import { UserError } from "../../core/refusal.js";
import { carriesText, statsFor } from "../feedback/index.js";
import type { Audience, FeedbackAccess } from "../feedback/index.js";
import { codeBlock, escapeMrkdwn, moreLine, oneLine, plural, truncate } from "../../slack/text.js";
import { formatAge, formatDate, formatDateTime, formatDuration } from "../../time.js";
import { context, header, section } from "../../slack/blocks.js";
import { isJobName, JOB_CATALOG, JOB_NAMES, type JobName } from "../../core/jobs/catalog.js";
import { CHECK_JOBS, checkJob, withConfiguredCheck } from "./checks.js";
import { orchestratorFigures, type Period } from "./figures.js";
import { MAINTENANCE_JOBS, maintenanceMessage, maintenanceReport } from "./maintenance.js";
import type { JobBody } from "../../core/jobs/registry.js";
import { orchestratorReport, plainRecommendations } from "./report.js";
import { type JobFailure, Scheduler, type SchedulerTimings } from "../../core/jobs/scheduler.js";
import { type Cadence, describeSchedule, periodEnding, slotAfter } from "../../core/jobs/slots.js";
import { type JobRun, latestRuns, recentFailures, runningRuns } from "../../core/jobs/store.js";
import { plainWriter, type ReportWriter } from "./writer.js";

interface ReportsFeatureOptions {
  /** Who may read which feedback text: `/orch report` shows the asker only what they may read. */
  access: FeedbackAccess;
  /** Writes recommendations and commentary around report figures (Claude); default: the plain, non-AI text. */
  writer?: ReportWriter;
  timings?: SchedulerTimings;
}

const STATUS_ICON: Record<string, string> = {
  succeeded: ":white_check_mark:",
  failed: ":x:",
  skipped: ":fast_forward:",
  running: ":hourglass_flowing_sand:",
};

/** Scheduled jobs and digests (SPEC §6): the scheduler, the job bodies it owns, `jobs`, `jobs run`, `report`. */
export function reportsFeature(options: ReportsFeatureOptions): Feature {
  return ({ services, commands, status, jobs, onStart, onStop }) => {
    const { config, db, log, poster, exec } = services;
    const tz = config.timezone;
    const writer = options.writer ?? plainWriter;
    const scheduler = new Scheduler(
      { config, db, log, metrics: services.metrics, background: services.background, replicaId: services.replicaId, bodies: jobs, alert: (run) => postJobAlert(services, run) },
      options.timings,
    );

    /** The Orchestrator Report for a period; a failing writer falls back to the plain recommendations. */
    const buildReport = async (cadence: "weekly" | "monthly", period: Period, audience: (channels: string[]) => Promise<Audience> | Audience) => {
      const all = await orchestratorFigures(db, config, period);
      // Claude's recommendations are written from the figures as this audience sees them, so they cannot quote more.
      const items = [...all.feedback.recentlyClosed, ...all.feedback.oldestUrgent];
      const figures = { ...all, feedback: statsFor(all.feedback, await audience(items.map((f) => f.channel))) };
      let recommendations = plainRecommendations(figures);
      let recommendedBy = plainWriter.name;
      try {
        recommendations = await writer.recommendations(figures);
        recommendedBy = writer.name;
      } catch (error) {
        log.warn("report writer failed; using the plain recommendations", { writer: writer.name, error });
      }
      return { figures, message: orchestratorReport(figures, { cadence, timeZone: tz, recommendations, recommendedBy }) };
    };

    const digest =
      (cadence: "weekly" | "monthly"): JobBody =>
      async ({ slot }) => {
        const period = periodEnding(slot, cadence, tz);
        const { figures, message } = await buildReport(cadence, period, () => ({ kind: "channel", channel: config.channels.digests }));
        await poster.post(config.channels.digests, message);
        const failedRuns = figures.jobs.byStatus.find((c) => c.key === "failed")?.count ?? 0;
        return {
          status: "succeeded",
          summary: `Posted the ${cadence} Orchestrator Report (${formatDate(period.since, tz)} – ${formatDate(period.until, tz)}): ${plural(figures.releases.total, "release")}, ${plural(failedRuns, "failed job run")}, ${figures.feedback.total} new feedback.`,
          details: {
            since: period.since,
            until: period.until,
            releases: figures.releases.total,
            pendingApprovals: figures.releases.pendingTotal,
            jobRuns: figures.jobs.total,
            failedJobRuns: failedRuns,
            newFeedback: figures.feedback.total,
          },
        };
      };

    const maintenance =
      (job: (typeof MAINTENANCE_JOBS)[number]): JobBody =>
      async ({ slot }) => {
        const period = periodEnding(slot, JOB_CATALOG[job].cadence as Cadence, tz);
        const report = await maintenanceReport(job, JOB_CATALOG[job].title, db, config, period);
        let commentary: string | undefined;
        try {
          commentary = await writer.commentary(report);
        } catch (error) {
          log.warn("report writer failed; posting the figures alone", { job, writer: writer.name, error });
        }
        await poster.post(config.channels.digests, maintenanceMessage(report, tz, commentary));
        return { status: "succeeded", summary: report.summary, details: { since: period.since, until: period.until, ...report.details } };
      };

    jobs.define("weekly-digest", withConfiguredCheck(digest("weekly"), exec));
    jobs.define("monthly-digest", withConfiguredCheck(digest("monthly"), exec));
    for (const job of Object.keys(CHECK_JOBS) as Array<keyof typeof CHECK_JOBS>) jobs.define(job, checkJob(job, exec));
    for (const job of MAINTENANCE_JOBS) jobs.define(job, withConfiguredCheck(maintenance(job), exec));

    commands.add(
      defineCommand({
        usage: "jobs",
        summary: "each job: schedule, next run, last result",
        example: "jobs",
        group: "Jobs and reports",
        run: async (ctx) => {
          await ctx.reply(await jobsOverview());
        },
      }),
      defineCommand({
        usage: "jobs run <name>",
        summary: "run a job now (it still runs only once, whichever replica you reach)",
        example: "jobs run dependency-updates",
        group: "Jobs and reports",
        access: "admins",
        long: true,
        args: z.object({
          name: z.string().refine(isJobName, { error: (issue) => `\`${String(issue.input).slice(0, 40)}\` is not a job: the jobs are ${JOB_NAMES.map((n) => `\`${n}\``).join(", ")}` }),
        }),
        run: async (ctx, args) => {
          const job = args.name as JobName;
          if (!scheduler.schedule(job).enabled) {
            throw new UserError(`\`${job}\` is disabled in the configuration (\`jobs.${job}.enabled: false\`), so it does not run, on its schedule or by hand.`);
          }
          const started = await scheduler.runNow(job, ctx.user);
          switch (started.kind) {
            case "stopped":
              throw new UserError(`Orchestrator is shutting down, so \`${job}\` was not started. Try again once it is back.`);
            case "taken":
              throw new UserError(`\`${job}\` already has a run for this moment${started.existing ? ` (run #${started.existing.id}, ${started.existing.status})` : ""}; nothing more was started.`);
            case "skipped":
              throw new UserError(
                `\`${job}\` is still running (run #${started.blocking.id}, started ${formatAge(started.blocking.startedAt)} ago on ${started.blocking.replica}), so it was not started again; your request is recorded as skipped (run #${started.run.id}).`,
              );
            case "started": {
              await ctx.reply({ text: `Running \`${job}\` now (run #${started.run.id}); I will tell you here when it finishes.` });
              await ctx.reply(runResult(await started.finished));
            }
          }
        },
      }),
      defineCommand({
        usage: "report [<period:weekly|monthly>]",
        summary: "the Orchestrator Report for that period, now (default: weekly)",
        example: "report monthly",
        group: "Jobs and reports",
        long: true,
        run: async (ctx, args) => {
          const cadence = args.period === "monthly" ? "monthly" : "weekly";
          const { figures, message } = await buildReport(cadence, periodEnding(new Date(), cadence, tz), (channels) => options.access.person(ctx.user, channels));
          await ctx.reply({ ...message, ...(carriesText(figures.feedback) ? { confidential: true } : {}) });
        },
      }),
    );

    const jobsOverview = async (): Promise<Reply> => {
      const latest = await latestRuns(db);
      const now = new Date();
      const groups: Array<[string, JobName[]]> = [
        ["Weekly", JOB_NAMES.filter((j) => JOB_CATALOG[j].cadence === "weekly")],
        ["Monthly", JOB_NAMES.filter((j) => JOB_CATALOG[j].cadence === "monthly")],
        ["Quarterly", JOB_NAMES.filter((j) => JOB_CATALOG[j].cadence === "quarterly")],
        ["Frequent", JOB_NAMES.filter((j) => JOB_CATALOG[j].cadence === "frequent")],
      ];
      const describe = (job: JobName) => {
        const { expression, enabled } = scheduler.schedule(job);
        const words = describeSchedule(expression) ?? "custom schedule";
        const next = enabled ? slotAfter(expression, tz, now) : undefined;
        const when = enabled ? `${words} (\`${expression}\`) · next ${next ? formatDateTime(next, tz, false) : "never"}` : `:no_entry_sign: disabled (\`jobs.${job}.enabled: false\`)`;
        const last = latest.get(job);
        const lastLine = last ? `${STATUS_ICON[last.status] ?? ""} ${last.status} ${formatAge(last.startedAt, now)} ago — ${escapeMrkdwn(oneLine(last.summary ?? "still running", 140))}` : "never run";
        return `*${job}* — ${JOB_CATALOG[job].title}\n      ${when}\n      last: ${lastLine}`;
      };
      const blocks: KnownBlock[] = [
        header("Scheduled jobs"),
        context(`Times in ${tz}. Admins can run one now with \`${commands.name} jobs run <name>\`.`),
        ...groups.map(([title, names]) => section(`*${title}*\n${names.map(describe).join("\n")}`)),
      ];
      const text = JOB_NAMES.map((job) => `${job}: ${scheduler.schedule(job).enabled ? scheduler.schedule(job).expression : "disabled"}`).join("; ");
      return { text: truncate(text, 3000), blocks };
    };

    const runResult = (run: JobRun): Reply => {
      const took = run.finishedAt ? ` in ${formatDuration(run.finishedAt.getTime() - run.startedAt.getTime())}` : "";
      const text = `${STATUS_ICON[run.status] ?? ""} \`${run.job}\` ${run.status}${took}: ${escapeMrkdwn(run.summary ?? "")}`;
      const blocks: KnownBlock[] = [section(text), ...(run.status === "failed" && run.outputTail ? [section(codeBlock("Output (last lines)", run.outputTail))] : [])];
      return { text: truncate(text, 3000), blocks };
    };

    // A schedule's next slot only changes once it has passed: computed then, not on every status.
    const nextSlots = new Map<string, Date | undefined>();
    const nextSlot = (expression: string, now: Date) => {
      const cached = nextSlots.get(expression);
      if (cached && cached.getTime() > now.getTime()) return cached;
      const at = slotAfter(expression, tz, now);
      nextSlots.set(expression, at);
      return at;
    };
    status.add({
      title: "Jobs",
      order: 30,
      render: async () => {
        const now = new Date();
        const [failures, running] = await Promise.all([recentFailures(db, new Date(now.getTime() - 86_400_000), 3), runningRuns(db)]);
        const lines: string[] = [];
        for (const run of running.slice(0, 3)) lines.push(`${STATUS_ICON.running} *${run.job}* running for ${formatAge(run.startedAt, now)} on ${run.replica}`);
        if (failures.total === 0) lines.push("No failed runs in the last 24 hours.");
        for (const run of failures.rows) lines.push(`${STATUS_ICON.failed} *${run.job}* ${formatAge(run.startedAt, now)} ago — ${escapeMrkdwn(oneLine(run.summary ?? "", 120))}`);
        if (failures.total > failures.rows.length) lines.push(moreLine(failures.total - failures.rows.length, "failures in the last 24 hours"));
        const next = (["weekly-digest", "monthly-digest"] as const).map((job) => {
          const { expression, enabled } = scheduler.schedule(job);
          const at = enabled ? nextSlot(expression, now) : undefined;
          return `${job.replace("-digest", "")} ${at ? formatDateTime(at, tz, false) : "disabled"}`;
        });
        lines.push(`Next digests: ${next.join(" · ")} (${tz})`);
        return lines.join("\n");
      },
    });

    onStart(() => scheduler.start());
    onStop(() => scheduler.stop());
  };
}

/** A failed run, told to the alerts channel with its output tail. */
async function postJobAlert(services: Services, run: JobFailure): Promise<void> {
  const tz = services.config.timezone;
  const text = `:x: Job *${run.job}* failed: ${escapeMrkdwn(run.summary ?? "no summary")}`;
  const who = run.requestedBy ? ` by <@${run.requestedBy}>` : "";
  await services.poster.post(services.config.channels.alerts, {
    text: truncate(text, 3000),
    blocks: [
      section(text),
      context(`Slot ${formatDateTime(run.slot, tz)} · ${run.trigger}${who} · replica ${run.replica}${run.id !== undefined ? ` · run #${run.id}` : ""}`),
      ...(run.outputTail ? [section(codeBlock("Output (last lines)", run.outputTail))] : []),
    ],
  });
}
