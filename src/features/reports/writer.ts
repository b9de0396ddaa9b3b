import type { OrchestratorFigures } from "./figures.js";
import type { MaintenanceReport } from "./maintenance.js";
import { plainRecommendations } from "./report.js";

/**
 * Who writes the words around a report's figures. The figures themselves always come from the
 * database; a writer only adds recommendations and commentary. The plain writer needs no AI; a Claude
 * writer can be passed to `reportsFeature({ writer })` and falls back to this one when it fails.
 */
export interface ReportWriter {
  /** Shown under the recommendations, e.g. "Claude". */
  name: string;
  /** Recommendations for the Orchestrator Report (mrkdwn lines). */
  recommendations(figures: OrchestratorFigures): Promise<string[]>;
  /** A short paragraph for a maintenance report; undefined leaves the figures to speak alone. */
  commentary(report: MaintenanceReport): Promise<string | undefined>;
}

export const plainWriter: ReportWriter = {
  name: "the five oldest open high/critical feedback items",
  recommendations: async (figures) => plainRecommendations(figures),
  commentary: async () => undefined,
};
