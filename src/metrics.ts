import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** One registry per running bot, so several bots in one process (tests, benchmarks) do not collide. */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "orchestrator_" });
  return {
    registry,
    slackRequests: new Counter({
      name: "orchestrator_slack_requests_total",
      help: "Requests received from Slack, by kind (command, action, view, event, shortcut) and outcome",
      labelNames: ["kind", "outcome"] as const,
      registers: [registry],
    }),
    handlerSeconds: new Histogram({
      name: "orchestrator_handler_duration_seconds",
      help: "Time from receiving a Slack request to acknowledging it, by kind",
      labelNames: ["kind"] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    jobRuns: new Counter({
      name: "orchestrator_job_runs_total",
      help: "Job runs by job and status (succeeded, failed, skipped)",
      labelNames: ["job", "status"] as const,
      registers: [registry],
    }),
    dbErrors: new Counter({
      name: "orchestrator_db_errors_total",
      help: "Database operations that failed, by operation",
      labelNames: ["operation"] as const,
      registers: [registry],
    }),
    releases: new Counter({
      name: "orchestrator_release_transitions_total",
      help: "Release state changes, by environment and new state",
      labelNames: ["environment", "state"] as const,
      registers: [registry],
    }),
    feedbackRecorded: new Counter({
      name: "orchestrator_feedback_recorded_total",
      help: "Feedback rows recorded, by how they arrived",
      labelNames: ["captured_by"] as const,
      registers: [registry],
    }),
    aiCalls: new Counter({
      name: "orchestrator_ai_calls_total",
      help: "Claude calls by purpose and outcome",
      labelNames: ["purpose", "outcome"] as const,
      registers: [registry],
    }),
    up: new Gauge({ name: "orchestrator_database_up", help: "1 when the database answered the last health check", registers: [registry] }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
