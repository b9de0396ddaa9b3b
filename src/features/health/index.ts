/** The health feature's front door: the only file other features import. */
export { checkHealth } from "./check.js";
export { type EnvironmentHealth, healthFigures, healthSummary, latestHealth } from "./store.js";
