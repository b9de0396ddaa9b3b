import { CronExpressionParser } from "cron-parser";
import { z } from "zod";
import { isJobName, JOB_NAMES, type JobName } from "../jobs/catalog.js";
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
  .array(z.string().min(1, { error: "must not be empty" }), { error: "expected a list of arguments, e.g. [\"./deploy.sh\", \"{version}\"]" })
  .min(1, { error: "expected at least the program to run" });

const runStep = z.strictObject({ run: argv, timeout: duration("10m") });

const httpUrl = z.url({ protocol: /^https?$/, error: "expected an http(s) URL" });

const threshold = z
  .strictObject({ max: z.number().optional(), min: z.number().optional(), equals: z.union([z.number(), z.string(), z.boolean()]).optional() })
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

const environment = z.strictObject({
  name: slug,
  approvals: z.number({ error: "expected a number >= 1" }).int({ error: "expected a whole number >= 1" }).min(1, { error: "expected a number >= 1" }),
  after: z.string().optional(),
  deploy: z.union([runStep, webhookDeploy], { error: "expected { run: [...] } or { webhook: { url } }" }),
  smoke: runStep.optional(),
  health: z.strictObject({ url: httpUrl, maxLatencyMs: z.number().int().positive().default(1000), timeout: duration("10s") }).optional(),
});

const gate = z.union(
  [
    z.strictObject({ name: z.string().min(1), run: argv, timeout: duration("10m") }),
    z.strictObject({ name: z.string().min(1), http: httpCheck }),
    z.strictObject({ name: z.string().min(1), manual: z.literal(true) }),
  ],
  { error: "expected a gate with a name and one of run, http or manual: true" },
);

const cron = z.string().refine(
  (expr) => {
    if (expr.trim().split(/\s+/).length !== 5) return false;
    try {
      CronExpressionParser.parse(expr);
      return true;
    } catch {
      return false;
    }
  },
  { error: "expected a five-field cron expression, e.g. \"0 9 * * 1\"" },
);

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
    command: z.string().regex(/^\/[a-z0-9_-]+$/, { error: "expected a slash command like /orch" }).default("/orch"),
    channels: z.strictObject({ releases: channelId, digests: channelId, alerts: channelId }),
    people: z.strictObject({ approvers: z.array(userId).min(1, { error: "expected at least one approver" }), admins: z.array(userId).default([]) }),
    feedback: z
      .strictObject({
        reaction: z.string().regex(/^[a-z0-9_+-]+$/, { error: "expected an emoji name without colons, e.g. memo" }).default("memo"),
        channels: z.array(feedbackChannel).default([]),
      })
      .prefault({}),
    environments: z.array(environment).min(1, { error: "expected at least one environment" }),
    gates: z.array(gate).default([]),
    approval: z.strictObject({ expiresAfter: duration("24h") }).prefault({}),
    exec: exec.prefault({}),
    jobs: z.record(z.string().refine((name): boolean => isJobName(name), { error: `expected a built-in job: ${JOB_NAMES.join(", ")}` }), job).default({}),
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
