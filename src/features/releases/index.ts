/** The releases feature's front door: the only file other features import. */
export { stateLabel } from "./blocks.js";
export { checkHealth, type HealthResult } from "./deploy.js";
export { openFreezes } from "./freezes.js";
export { normalizeVersion, tallyApprovals } from "./machine.js";
export { measuredLine, measuredValues } from "./measured.js";
export { auditTrail, latestHealth, liveVersions, releasesInFlight } from "./queries.js";
export type { ReleaseService } from "./service.js";
