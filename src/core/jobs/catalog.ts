/**
 * The built-in jobs of SPEC §6 and their default schedules (cron, in the configured timezone).
 * Cadences follow the reference process: weekly, monthly and quarterly maintenance windows.
 */
export const JOB_CATALOG = {
  "weekly-digest": { schedule: "0 9 * * 1", cadence: "weekly", title: "Weekly Orchestrator Report" },
  "monthly-digest": { schedule: "0 9 1 * *", cadence: "monthly", title: "Monthly Orchestrator Report" },
  "dependency-updates": { schedule: "0 8 * * 1", cadence: "weekly", title: "Dependency updates" },
  "security-patches": { schedule: "15 8 * * 1", cadence: "weekly", title: "Security patches" },
  "knowledge-sync": { schedule: "30 8 * * 1", cadence: "weekly", title: "Knowledge sync" },
  "model-retraining-review": { schedule: "0 10 1 * *", cadence: "monthly", title: "Model retraining review" },
  "performance-analysis": { schedule: "30 10 1 * *", cadence: "monthly", title: "Performance analysis" },
  "tech-debt-assessment": { schedule: "0 11 1 * *", cadence: "monthly", title: "Tech-debt assessment" },
  "architecture-review": { schedule: "0 10 1 1,4,7,10 *", cadence: "quarterly", title: "Architecture review" },
  "user-feedback-synthesis": { schedule: "30 10 1 1,4,7,10 *", cadence: "quarterly", title: "User-feedback synthesis" },
  "roadmap-planning": { schedule: "0 11 1 1,4,7,10 *", cadence: "quarterly", title: "Roadmap planning" },
  "health-check": { schedule: "*/5 * * * *", cadence: "frequent", title: "Health check" },
  "feedback-backfill": { schedule: "7 * * * *", cadence: "frequent", title: "Feedback backfill" },
  "approval-expiry": { schedule: "* * * * *", cadence: "frequent", title: "Approval expiry, freeze ends and scheduled deploys" },
} as const satisfies Record<string, { schedule: string; cadence: string; title: string }>;

export type JobName = keyof typeof JOB_CATALOG;
export const JOB_NAMES = Object.keys(JOB_CATALOG) as JobName[];

export function isJobName(name: string): name is JobName {
  return Object.hasOwn(JOB_CATALOG, name);
}
