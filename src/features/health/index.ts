/** The health feature's front door: the only file other features import. */
export { healthCheckJob } from "./job.js";
