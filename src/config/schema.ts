import { CronExpressionParser } from "cron-parser";
import { z } from "zod";
import { isJobName, JOB_NAMES, type JobName } from "../core/jobs/catalog.js";
import { cronProblem } from "./cron.js";
import { parseDuration } from "./duration.js";

const channelId = z.string().regex(/^[CGD][A-Z0-9]{2,}$/, { error: "expected a Slack channel id like C0123ABCD" });
const userId = z.string().regex(/^[UW][A-Z0-9]{2,}$/, { error: "expected a Slack user id like U0123ABCD" });
const slug = z.string().regex(/^[a-z][a-z0-9-]*$/, { error: "expected lower-case words joined by dashes, e.g. support-ticket" });

export const PRIORITIES = ["low", "medium", "high", "critical"] as const;
export type Priority = (typeof PRIORITIES)[number];

const duration = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((text, ctx) => {
      const ms = parseDuration(text);
      if (ms === undefined) {
        ctx.addIssue({ code: "custom", message: `expected a duration like 90s, 15m, 24h (got "${text}")` });
        return z.NEVER;
      }
      return ms;
    });

const argv = z
  .array(z.string().min(1, { error: "must not be empty" }), { error: 'expected a list of arguments, e.g. ["./deploy.sh", "{version}"]' })
  .min(1, { error: "expected at least the program to run" });

const runStep = z.strictObject({ run: argv, timeout: duration("10m") });

const httpUrl = z.url({ protocol: /^https?$/, error: "expected an http(s) URL" });

const threshold = z
  .strictObject({
    max: z.number().optional(),
    min: z.number().optional(),
    equals: z.union([z.number(), z.string(), z.boolean()]).optional(),
    /** How the value is named and measured on the release message, e.g. MAE and V; derived from the key when absent. */
    label: z.string().min(1).max(40).optional(),
    unit: z.string().min(1).max(10).optional(),
  })
  .refine((t) => t.max !== undefined || t.min !== undefined || t.equals !== undefined, { error: "expected max, min or equals" });

const httpCheck = z.strictObject({
  url: httpUrl,
  expect: z.record(z.string().min(1), threshold).default({}),
  timeout: duration("30s"),
});

const webhookDeploy = z.strictObject({
  webhook: z.strictObject({
    url: httpUrl,
    headers: z.record(z.string(), z.string()).default({}),
    timeout: duration("30s"),
    retries: z.number().int().min(0).max(10).default(4),
  }),
  timeout: duration("15m"),
});

export const WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] as const;
export type Weekday = (typeof WEEKDAYS)[number];

const clockTime = z.string().regex(/^(?:[01]\d|2[0-3]):[0-5]\d$|^24:00$/, { error: 'expected a time like "09:00" (24-hour clock)' });

/** A deploy window: deploys start on these days between `from` and `to` (a `to` before `from` ends the next day). */
const deployWindow = z
  .strictObject({
    days: z
      .array(z.enum(WEEKDAYS, { error: `expected a day: ${WEEKDAYS.join(", ")}` }), { error: "expected a list of days, e.g. [mon, tue, wed, thu]" })
      .min(1, { error: "expected at least one day" })
      .refine((days) => new Set(days).size === days.length, { error: "a day is listed twice" }),
    from: clockTime,
    to: clockTime,
  })
  .refine((w) => w.from !== w.to, { error: "from and to are the same time: a window needs a length (00:00 to 24:00 is the whole day)", path: ["to"] });

const approvalCount = z.number({ error: "expected a number >= 1" }).int({ error: "expected a whole number >= 1" }).min(1, { error: "expected a number >= 1" });

const environment = z.strictObject({
  name: slug,
  approvals: approvalCount,
  after: z.string().optional(),
  deploy: z.union([runStep, webhookDeploy], { error: "expected { run: [...] } or { webhook: { url } }" }),
  smoke: runStep.optional(),
  health: z.strictObject({ url: httpUrl, maxLatencyMs: z.number().int().positive().default(1000), timeout: duration("10s") }).optional(),
  /** Deploys start only inside one of these (in the configured timezone); none: at any time. */
  windows: z.array(deployWindow, { error: 'expected a list of windows like [{ days: [mon, tue], from: "09:00", to: "16:00" }]' }).default([]),
  rollback: z.strictObject({ approvals: approvalCount.default(1) }).prefault({}),
});

const gate = z.union(
  [
    z.strictObject({ name: z.string().min(1), run: argv, timeout: duration("10m") }),
    z.strictObject({ name: z.string().min(1), http: httpCheck }),
    z.strictObject({ name: z.string().min(1), manual: z.literal(true) }),
  ],
  { error: "expected a gate with a name and one of run, http or manual: true" },
);

/** A local clone of the product: commits in approval messages, evidence for approvals, lead time (DORA). */
const repository = z.strictObject({
  path: z.string().min(1),
  tag: z.string().includes("{version}", { error: "expected a tag name containing {version}, e.g. v{version}" }),
  url: httpUrl.optional(),
});

const cron = z.string().superRefine((expression, ctx) => {
  const problem = cronProblem(expression);
  if (problem) {
    ctx.addIssue({ code: "custom", message: `"${expression}": ${problem}` });
    return;
  }
  try {
    CronExpressionParser.parse(expression);
  } catch (error) {
    ctx.addIssue({ code: "custom", message: `"${expression}" is not a cron expression: ${error instanceof Error ? error.message : String(error)}` });
  }
});

const job = z.strictObject({
  schedule: cron.optional(),
  enabled: z.boolean().default(true),
  run: argv.optional(),
  http: httpCheck.optional(),
  timeout: duration("15m"),
});

const feedbackChannel = z.strictObject({
  channel: channelId,
  source: z.string().min(1),
  kind: slug,
  priority: z.enum(PRIORITIES, { error: `expected one of ${PRIORITIES.join(", ")}` }),
});

const sandbox = z.strictObject({
  users: z.record(userId, z.strictObject({ name: z.string().min(1), title: z.string().default("") })).default({}),
  channels: z.record(channelId, z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, { error: "expected a channel name like releases" })).default({}),
});

/** The bot's own secrets: never handed to a command, even when exec.env names them (SPEC §2a). */
export function isBotSecretName(name: string): boolean {
  return /^(SLACK_|ANTHROPIC_)/.test(name) || name === "DATABASE_URL";
}

const exec = z.strictObject({
  env: z
    .array(
      z
        .string()
        .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: "expected an environment variable name like KUBECONFIG" })
        .refine((name) => !isBotSecretName(name), { error: (issue) => `${String(issue.input)} is one of Orchestrator's own secrets and is never passed to commands` }),
    )
    .default([]),
});

export const configSchema = z
  .strictObject({
    timezone: z.string().refine(isTimeZone, { error: "expected an IANA time zone like Asia/Bangkok" }),
    command: z
      .string()
      .regex(/^\/[a-z0-9_-]+$/, { error: "expected a slash command like /orch" })
      .default("/orch"),
    channels: z.strictObject({ releases: channelId, digests: channelId, alerts: channelId }),
    people: z.strictObject({ approvers: z.array(userId).min(1, { error: "expected at least one approver" }), admins: z.array(userId).default([]) }),
    feedback: z
      .strictObject({
        reaction: z
          .string()
          .regex(/^[a-z0-9_+-]+$/, { error: "expected an emoji name without colons, e.g. memo" })
          .default("memo"),
        channels: z.array(feedbackChannel).default([]),
      })
      .prefault({}),
    environments: z.array(environment).min(1, { error: "expected at least one environment" }),
    gates: z.array(gate).default([]),
    approval: z.strictObject({ expiresAfter: duration("24h") }).prefault({}),
    emergency: z.strictObject({ approvals: approvalCount.default(2) }).prefault({}),
    repository: repository.optional(),
    exec: exec.prefault({}),
    jobs: z
      .record(
        z.string().refine((name): boolean => isJobName(name), { error: `expected a built-in job: ${JOB_NAMES.join(", ")}` }),
        job,
      )
      .default({}),
    sandbox: sandbox.optional(),
  })
  .superRefine((config, ctx) => {
    const seen = new Set<string>();
    config.environments.forEach((env, index) => {
      if (seen.has(env.name)) {
        ctx.addIssue({ code: "custom", path: ["environments", index, "name"], message: `"${env.name}" is listed twice` });
      }
      if (env.after !== undefined && !seen.has(env.after)) {
        ctx.addIssue({ code: "custom", path: ["environments", index, "after"], message: `expected an environment listed before this one (${[...seen].join(", ") || "none"})` });
      }
      seen.add(env.name);
      if (env.approvals > config.people.approvers.length) {
        ctx.addIssue({
          code: "custom",
          path: ["environments", index, "approvals"],
          message: `needs ${env.approvals} approvals but people.approvers lists ${config.people.approvers.length}`,
        });
      }
      if (config.people.approvers.length > 0 && env.rollback.approvals > config.people.approvers.length) {
        ctx.addIssue({
          code: "custom",
          path: ["environments", index, "rollback", "approvals"],
          message: `needs ${env.rollback.approvals} approvals but people.approvers lists ${config.people.approvers.length}`,
        });
      }
    });
    const gateNames = new Set<string>();
    config.gates.forEach((g, index) => {
      if (gateNames.has(g.name)) ctx.addIssue({ code: "custom", path: ["gates", index, "name"], message: `"${g.name}" is listed twice` });
      gateNames.add(g.name);
    });
    const feedbackChannels = new Set<string>();
    config.feedback.channels.forEach((fc, index) => {
      if (feedbackChannels.has(fc.channel)) {
        ctx.addIssue({ code: "custom", path: ["feedback", "channels", index, "channel"], message: `${fc.channel} is listed twice` });
      }
      feedbackChannels.add(fc.channel);
    });
  });

export type Config = Omit<z.output<typeof configSchema>, "jobs"> & { jobs: Partial<Record<JobName, JobConfig>> };
export type EnvironmentConfig = Config["environments"][number];
export type GateConfig = Config["gates"][number];
export type JobConfig = z.output<typeof job>;
export type RepositoryConfig = z.output<typeof repository>;
export type HttpCheckConfig = z.output<typeof httpCheck>;
export type FeedbackChannelConfig = Config["feedback"]["channels"][number];

function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}
