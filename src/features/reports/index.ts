/** The reports feature's front door: the only file other features import. */
export { withConfiguredCheck } from "./checks.js";
export type { OrchestratorFigures } from "./figures.js";
export type { MaintenanceReport } from "./maintenance.js";
export type { ReportWriter } from "./writer.js";
