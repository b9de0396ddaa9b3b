import type { Config } from "../../config/schema.js";
import type { Executor } from "../../db/client.js";
import { type FeedbackStats, feedbackStats } from "../feedback/index.js";
import { type FixFigures, fixFigures } from "../feedback/index.js";
import { type EnvironmentHealth, healthFigures } from "../health/index.js";
import { commitsShipped, type DoraFigures, doraFigures, type ReleaseFigures, releaseFigures, type ShippedCommits } from "../releases/index.js";
import { type JobFigures, jobFigures } from "../../core/jobs/store.js";
import { type Blockers, blockers, latestModelValidation, latestTestResults, type ModelValidation, type TestResults } from "./sections.js";

/**
 * The figures of the Orchestrator Report, gathered from the features that own them (and core's job
 * runs) in one fan-out: each computes its figures in the database and returns only the rows shown.
 */

export interface Period {
  since: Date;
  until: Date;
}

export interface OrchestratorFigures {
  period: Period;
  releases: ReleaseFigures;
  health: EnvironmentHealth[];
  jobs: JobFigures;
  feedback: FeedbackStats;
  dora: DoraFigures[];
  fixes: FixFigures;
  tests: TestResults[];
  model: ModelValidation[];
  /** Null without `repository`: there is nothing to count commits from. */
  commits: ShippedCommits[] | null;
  blockers: Blockers;
}

/** Everything the Orchestrator Report shows (SPEC §6), for one period. */
export async function orchestratorFigures(db: Executor, config: Config, period: Period): Promise<OrchestratorFigures> {
  const environments = config.environments.map((e) => e.name);
  const [releaseFigs, health, jobs, feedbackFigs, dora, fixes, tests, model, commits, blocking] = await Promise.all([
    releaseFigures(db, config, period),
    healthFigures(db, config, period),
    jobFigures(db, period),
    feedbackStats(db, { ...period, timeZone: config.timezone }),
    doraFigures(db, environments, period),
    fixFigures(db, period),
    latestTestResults(db, config),
    latestModelValidation(db, config),
    config.repository ? commitsShipped(db, environments, period) : Promise.resolve(null),
    blockers(db),
  ]);
  return { period, releases: releaseFigs, health, jobs, feedback: feedbackFigs, dora, fixes, tests, model, commits, blockers: blocking };
}
