/** The health feature's front door: the only file other features import. */
export { checkHealth, type HealthResult } from "./check.js";
export { healthCheckJob } from "./job.js";
export { type EnvironmentHealth, healthFigures, healthSummary, latestHealth } from "./store.js";
