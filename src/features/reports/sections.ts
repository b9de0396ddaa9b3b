import type { Config } from "../../config/schema.js";
import type { Executor } from "../../db/client.js";
import type { GateResult, MeasuredValue } from "../../db/schema.js";
import { openUrgentCounts } from "../feedback/index.js";
import { latestMeasuredGates, latestRunGates, scheduledReleases, stuckReleases } from "../releases/index.js";
import { failingJobs, latestRunDetail } from "../../core/jobs/store.js";

/**
 * The report sections the reference process's "Orchestrator Report" asks for beyond releases, health,
 * jobs and feedback: test results, ML validation, remaining work and blockers, assembled from what
 * the releases and feedback features and core's job runs return (a few rows per environment each).
 */

export interface TestResults {
  environment: string;
  version: string;
  at: Date;
  gates: Array<{ name: string; status: GateResult["status"]; summary: string[] }>;
}

/** Lines of a run gate's output that count tests ("frontend: 138 passed"), else its last line. Pure. */
export function testSummary(gate: Pick<GateResult, "output" | "detail">): string[] {
  const counted = (gate.output ?? "")
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => /\b\d+ (passed|failed|skipped|errors?|tests?)\b/i.test(line) && line.length <= 200);
  return counted.length > 0 ? counted.slice(-4) : [gate.detail];
}

/** Per environment, the run gates of its latest release whose gates finished. */
export async function latestTestResults(db: Executor, config: Config): Promise<TestResults[]> {
  const rows = await latestRunGates(
    db,
    config.environments.map((e) => e.name),
  );
  return rows.map((r) => ({
    environment: r.environment,
    version: r.version,
    at: r.at,
    gates: r.gates.filter((g) => g.kind === "run" && (g.status === "passed" || g.status === "failed")).map((g) => ({ name: g.name, status: g.status, summary: testSummary(g) })),
  }));
}

export interface ModelValidation {
  /** An environment's latest http gate with measured values, or the model-retraining-review job. */
  source: string;
  name: string;
  at: Date;
  ok: boolean;
  measured: MeasuredValue[];
}

/** The latest measured model values: per environment from its http gates, and from the model-retraining-review job. */
export async function latestModelValidation(db: Executor, config: Config): Promise<ModelValidation[]> {
  const [gates, review] = await Promise.all([
    latestMeasuredGates(
      db,
      config.environments.map((e) => e.name),
    ),
    latestRunDetail(db, "model-retraining-review", "measured"),
  ]);
  return [
    ...gates.map((r) => ({ source: r.environment, name: r.gate.name, at: r.at, ok: r.gate.status === "passed", measured: r.gate.measured ?? [] })),
    ...(review ? [{ source: "model-retraining-review", name: "Model retraining review", at: review.at, ok: review.status === "succeeded", measured: review.detail as MeasuredValue[] }] : []),
  ];
}

export interface Blockers {
  /** Blocked or failed releases not tried again since on that environment. */
  stuck: Array<{ id: number; version: string; environment: string; state: string; reason: string | null; at: Date }>;
  stuckTotal: number;
  /** Jobs whose latest run failed. */
  failingJobs: Array<{ job: string; at: Date; summary: string | null }>;
  /** Open or in-progress critical feedback (a count: its text stays in its channel). */
  openCritical: number;
  openHigh: number;
  /** Approved releases waiting for a deploy window or the end of a freeze (state `scheduled`). */
  scheduled: Array<{ id: number; version: string; environment: string }>;
}

export async function blockers(db: Executor): Promise<Blockers> {
  const [stuck, failing, urgent, scheduled] = await Promise.all([stuckReleases(db), failingJobs(db), openUrgentCounts(db), scheduledReleases(db)]);
  return { stuck: stuck.rows, stuckTotal: stuck.total, failingJobs: failing, openCritical: urgent.critical, openHigh: urgent.high, scheduled };
}
