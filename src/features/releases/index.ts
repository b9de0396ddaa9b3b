/** The releases feature's front door: the only file other features import. */
export { stateLabel } from "./blocks.js";
export { openFreezes } from "./freezes.js";
export { normalizeVersion, tallyApprovals } from "./machine.js";
export { measuredLine, measuredValues } from "./measured.js";
export { auditTrail, liveVersions, releasesInFlight } from "./queries.js";
export type { ReleaseService } from "./service.js";
