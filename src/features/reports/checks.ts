import type { HttpCheckConfig } from "../../config/schema.js";
import { type ExecContext, runArgv } from "../../exec/run.js";
import { runHttpCheck } from "../../http/check.js";
import { measuredValues } from "../releases/index.js";
import { displayUrl } from "../../redact.js";
import type { JobName } from "../../core/jobs/catalog.js";
import { interpretRun } from "./outputs.js";
import type { JobBody, JobContext, JobOutcome } from "../../core/jobs/registry.js";

/** What a check means when the config gives only the URL (the reference process's thresholds). */
const DEFAULT_EXPECTATIONS: Partial<Record<JobName, HttpCheckConfig["expect"]>> = {
  "model-retraining-review": { mape: { max: 10 }, mae_volts: { max: 2 } },
};

/** The jobs whose work *is* a configured command or HTTP check, with what to configure when it is missing. */
export const CHECK_JOBS = {
  "dependency-updates": 'set `jobs.dependency-updates.run`, e.g. ["npm", "outdated", "--json"]',
  "security-patches": 'set `jobs.security-patches.run`, e.g. ["trivy", "fs", ".", "--format", "json"]',
  "model-retraining-review": "set `jobs.model-retraining-review.http` to the model metrics URL (it checks MAPE < 10 % and MAE < 2 V)",
} as const satisfies Partial<Record<JobName, string>>;

/** Runs the job's configured `run` (argv, in the config folder, with its timeout) or `http` check; undefined when it has neither. */
async function configuredCheck(context: JobContext, exec: ExecContext): Promise<JobOutcome | undefined> {
  const config = context.config;
  if (config?.run) {
    const run = await runArgv({ argv: config.run, exec, timeoutMs: config.timeout, signal: context.signal });
    return interpretRun(config.run, run);
  }
  if (config?.http) {
    const expect = Object.keys(config.http.expect).length > 0 ? config.http.expect : (DEFAULT_EXPECTATIONS[context.job] ?? {});
    const result = await runHttpCheck({ ...config.http, expect }, context.signal);
    const verdict =
      context.job === "model-retraining-review"
        ? result.ok
          ? "Model accuracy is within limits; no retraining needed"
          : "The model needs a retraining review"
        : result.ok
          ? "Check passed"
          : "Check failed";
    return {
      status: result.ok ? "succeeded" : "failed",
      summary: `${verdict}: ${result.detail}.`,
      details: {
        url: displayUrl(config.http.url),
        values: result.values,
        // Read back by the Orchestrator Report's ML validation section.
        ...(Object.keys(result.values).length > 0 ? { measured: measuredValues(result.values, expect) } : {}),
        statusCode: result.statusCode ?? null,
        latencyMs: result.latencyMs,
      },
    };
  }
  return undefined;
}

/** A job that is only its configured check; without one it says plainly what to configure and succeeds. */
export function checkJob(job: keyof typeof CHECK_JOBS, exec: ExecContext): JobBody {
  return async (context) => (await configuredCheck(context, exec)) ?? { status: "succeeded", summary: `Not configured, so nothing was checked: ${CHECK_JOBS[job]}.` };
}

/** A built-in job plus the configured check, when the config gives the job a `run` or `http` too. */
export function withConfiguredCheck(body: JobBody, exec: ExecContext): JobBody {
  return async (context) => {
    const check = await configuredCheck(context, exec);
    const outcome = await body(context);
    if (!check) return outcome;
    return {
      status: check.status === "failed" || outcome.status === "failed" ? "failed" : "succeeded",
      summary: `${outcome.summary} Configured check: ${check.summary}`,
      ...(check.outputTail ? { outputTail: check.outputTail } : outcome.outputTail ? { outputTail: outcome.outputTail } : {}),
      details: { ...outcome.details, check: check.details ?? {} },
    };
  };
}
