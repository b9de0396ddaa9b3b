/** The releases feature's front door: the only file other features import. */
export { stateLabel } from "./blocks.js";
export { doraFigures, type DoraFigures } from "./dora-ledger.js";
export {
  commitsShipped,
  deliveryFigures,
  gateFailures,
  latestMeasuredGates,
  latestRunGates,
  releaseEvents,
  type ReleaseFigures,
  releaseFigures,
  scheduledReleases,
  type ShippedCommits,
  stuckReleases,
} from "./figures.js";
export { tagOf } from "./commits.js";
export { openFreezes } from "./freezes.js";
export { normalizeVersion, tallyApprovals } from "./machine.js";
export { measuredLine, measuredValues } from "./measured.js";
export { auditTrail, liveReleasesRelation, liveVersions, releaseLiveAt, releasesInFlight, releaseVersionsRelation } from "./queries.js";
export type { ReleaseService } from "./service.js";
