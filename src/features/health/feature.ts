import { z } from "zod";
import { defineCommand } from "../../core/commands/router.js";
import type { Feature } from "../../core/feature.js";
import { escapeMrkdwn } from "../../slack/text.js";
import { withConfiguredCheck } from "../reports/index.js";
import { healthCheckJob } from "./job.js";

/** `health [env]` and the `health-check` job: environments checked, their state stored, changes alerted. */
export const healthFeature: Feature = ({ services, commands, jobs }) => {
  const { config, exec } = services;
  jobs.define(
    "health-check",
    withConfiguredCheck(({ signal }) => healthCheckJob(services, signal), exec),
  );
  commands.add(
    defineCommand({
      usage: "health [<env>]",
      summary: "check environments now (all, or one)",
      example: `health ${config.environments[0]?.name ?? "staging"}`,
      group: "Releases",
      long: true,
      args: z.object({
        env: z
          .string()
          .refine((name) => config.environments.some((e) => e.name === name), {
            error: (issue) => `\`${String(issue.input).slice(0, 40)}\` is not an environment: use ${config.environments.map((e) => `\`${e.name}\``).join(" or ")}`,
          })
          .optional(),
      }),
      run: async (ctx, args) => {
        const outcome = await healthCheckJob(services, services.background.signal, args.env);
        const checked = (outcome.details?.environments ?? []) as Array<{ environment: string; ok: boolean; detail: string }>;
        const unchecked = config.environments.filter((e) => !e.health && (!args.env || e.name === args.env)).map((e) => `• *${e.name}*: no health URL configured`);
        const lines = checked.map((c) => `${c.ok ? ":large_green_circle:" : ":red_circle:"} *${c.environment}*: ${c.ok ? "healthy" : "failing"} — ${escapeMrkdwn(c.detail)}`);
        await ctx.reply({ text: [...lines, ...unchecked].join("\n") || outcome.summary });
      },
    }),
  );
};
