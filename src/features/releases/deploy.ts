import pRetry, { AbortError } from "p-retry";
import type { EnvironmentConfig } from "../../config/schema.js";
import { formatDuration } from "../../time.js";
import { plural } from "../../slack/text.js";
import { type ExecContext, runArgv, substitute, TAIL_CHARS } from "../../exec/run.js";
import { splitCredentials } from "../../http/check.js";
import { checkHealth } from "../health/index.js";

interface DeployRequest {
  releaseId: number;
  version: string;
  environment: string;
  requester: string;
  approvers: string[];
}

interface StepResult {
  ok: boolean;
  detail: string;
  tail: string;
}

interface DeployOptions {
  exec: ExecContext;
  signal: AbortSignal;
  /** Backoff before the first webhook retry; doubles each time. */
  webhookBackoffMs?: number;
}

class WebhookStatusError extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
  ) {
    super(`HTTP ${status}`);
  }
}

/** Runs the environment's deploy: an argv command, or a webhook (JSON POST, 2xx = success). */
export async function runDeploy(env: EnvironmentConfig, request: DeployRequest, options: DeployOptions): Promise<StepResult> {
  const deploy = env.deploy;
  if ("run" in deploy) {
    const run = await runArgv({ argv: substitute(deploy.run, request), exec: options.exec, timeoutMs: deploy.timeout, signal: options.signal });
    return { ok: run.ok, detail: run.ok ? `deploy command finished in ${Math.round(run.durationMs / 1000)}s` : `deploy command failed: ${run.failure}`, tail: run.tail };
  }
  const hook = deploy.webhook;
  const { url: hookUrl, authorization } = splitCredentials(hook.url);
  const attempts: string[] = [];
  const payload = JSON.stringify({ ...request, requestedAt: new Date().toISOString() });
  try {
    const body = await pRetry(
      async (attemptNumber) => {
        let response: Response;
        try {
          response = await fetch(hookUrl, {
            method: "POST",
            // The same key on every attempt: a CI that saw an earlier attempt can tell it is one deploy.
            headers: {
              "content-type": "application/json",
              "user-agent": "Orchestrator",
              "idempotency-key": `orchestrator-release-${request.releaseId}`,
              ...(authorization ? { authorization } : {}),
              ...hook.headers,
            },
            body: payload,
            signal: AbortSignal.any([options.signal, AbortSignal.timeout(hook.timeout)]),
          });
        } catch (error) {
          if (options.signal.aborted) throw new AbortError("interrupted");
          if ((error as Error).name === "TimeoutError") {
            // The hook may have received the request and started the deploy: sending it again could
            // deploy twice, so the outcome is reported as unknown instead.
            attempts.push(`attempt ${attemptNumber}: no answer within ${formatDuration(hook.timeout)}; the deploy may have started`);
            throw new AbortError(new Error("no answer"));
          }
          const reason = `network error (${(error as { cause?: { code?: string } }).cause?.code ?? (error as Error).name})`;
          attempts.push(`attempt ${attemptNumber}: ${reason}`);
          throw new Error(reason);
        }
        const text = options.exec.redact((await response.text()).slice(0, TAIL_CHARS));
        attempts.push(`attempt ${attemptNumber}: HTTP ${response.status}`);
        if (response.ok) return text;
        // A 4xx means the hook refused this request; sending it again would not change the answer.
        if (response.status < 500) throw new AbortError(new WebhookStatusError(response.status, text));
        throw new WebhookStatusError(response.status, text);
      },
      {
        retries: hook.retries,
        factor: 2,
        minTimeout: options.webhookBackoffMs ?? 1000,
        maxTimeout: 60_000,
        randomize: true,
        signal: options.signal,
      },
    );
    return { ok: true, detail: `deploy webhook accepted (${attempts.at(-1)?.replace(/^attempt \d+: /, "")})`, tail: [...attempts, body].filter(Boolean).join("\n") };
  } catch (error) {
    const cause = error instanceof WebhookStatusError ? error : ((error as { originalError?: unknown }).originalError ?? error);
    const status = cause instanceof WebhookStatusError ? ` (HTTP ${cause.status})` : "";
    const body = cause instanceof WebhookStatusError ? cause.body : "";
    const unknown = attempts.at(-1)?.endsWith("the deploy may have started") === true;
    return {
      ok: false,
      detail: options.signal.aborted
        ? "deploy webhook interrupted"
        : unknown
          ? `deploy webhook did not answer within ${formatDuration(hook.timeout)}: the deploy may have started, check the CI before releasing again`
          : `deploy webhook failed after ${plural(attempts.length, "attempt")}${status}`,
      tail: [...attempts, body].filter(Boolean).join("\n"),
    };
  }
}

/** The smoke test and health check after a deploy: both must pass for the release to go live. */
export async function verifyDeploy(env: EnvironmentConfig, request: DeployRequest, options: DeployOptions & { healthAttempts?: number; healthIntervalMs?: number }): Promise<StepResult> {
  const details: string[] = [];
  const tails: string[] = [];
  if (env.smoke) {
    const smoke = await runArgv({ argv: substitute(env.smoke.run, request), exec: options.exec, timeoutMs: env.smoke.timeout, signal: options.signal });
    tails.push(smoke.tail);
    if (!smoke.ok) return { ok: false, detail: `smoke test failed: ${smoke.failure}`, tail: smoke.tail };
    details.push("smoke test passed");
  }
  if (env.health) {
    const attempts = options.healthAttempts ?? 3;
    let last = "";
    for (let attempt = 1; attempt <= attempts; attempt += 1) {
      const health = await checkHealth(env.health, options.signal);
      last = health.detail;
      if (health.ok) {
        details.push(`health ${health.detail}`);
        return { ok: true, detail: details.join(", "), tail: tails.join("\n") };
      }
      if (options.signal.aborted) break;
      if (attempt < attempts) await new Promise((resolve) => setTimeout(resolve, options.healthIntervalMs ?? 5000));
    }
    return { ok: false, detail: `health check failed: ${last}`, tail: [...tails, `health: ${last}`].join("\n") };
  }
  return { ok: true, detail: details.join(", ") || "deployed (no smoke test or health check configured)", tail: tails.join("\n") };
}
