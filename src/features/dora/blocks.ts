import type { KnownBlock } from "@slack/types";
import { context, fieldsSection, header } from "../../slack/blocks.js";
import { type Band, changeFailureBand, deploymentFrequencyBand, leadTimeBand, timeToRestoreBand } from "./bands.js";
import type { DoraFigures } from "../releases/index.js";
import { plural } from "../../slack/text.js";
import { formatHours } from "../../time.js";

const BAND_LABEL: Record<Band, string> = { elite: ":star2: elite", high: ":large_green_circle: high", medium: ":large_yellow_circle: medium", low: ":red_circle: low" };

function percent(share: number): string {
  return `${Math.round(share * 100)}%`;
}

/** One environment's four figures, each with its band, as mrkdwn lines. Pure. */
export function doraLines(f: DoraFigures): string[] {
  const frequency = `*Deployment frequency:* ${Number(f.deploysPerWeek.toFixed(2))}/week (${f.deploys} live) — ${BAND_LABEL[deploymentFrequencyBand(f.deploysPerWeek)]}`;
  const lead =
    f.leadMedianHours === null
      ? "*Lead time:* _no release went live_"
      : `*Lead time:* median ${formatHours(f.leadMedianHours)} · p90 ${formatHours(f.leadP90Hours ?? f.leadMedianHours)} — ${BAND_LABEL[leadTimeBand(f.leadMedianHours)]}` +
        `\n   approval wait ${f.approvalWaitShare === null ? "n/a" : `${percent(f.approvalWaitShare)} of it`}${f.approvalWaitMedianHours === null ? "" : ` (median ${formatHours(f.approvalWaitMedianHours)})`}` +
        ` · ${f.leadFromCommits === f.deploys ? "from the oldest commit" : f.leadFromCommits === 0 ? "from the request (no commit dates)" : `${f.leadFromCommits} of ${f.deploys} from the oldest commit, the rest from the request`}`;
  const failure =
    f.changeFailureRate === null
      ? "*Change failure rate:* _no deploys_"
      : `*Change failure rate:* ${percent(f.changeFailureRate)} (${f.failures} of ${f.changes}) — ${BAND_LABEL[changeFailureBand(f.changeFailureRate)]}`;
  const unrestored = f.incidents - f.restored;
  const restore =
    f.incidents === 0
      ? "*Time to restore:* _no failures_"
      : `*Time to restore:* ${f.restoreMedianHours === null ? "_not restored yet_" : `median ${formatHours(f.restoreMedianHours)} — ${BAND_LABEL[timeToRestoreBand(f.restoreMedianHours)]}`} (${plural(f.incidents, "failure")}${unrestored > 0 ? `, ${unrestored} not restored yet` : ""})`;
  return [frequency, lead, failure, restore];
}

/** One field per environment, for the Orchestrator Report and `/orch dora`. Pure. */
export function doraFields(figures: DoraFigures[]): string[] {
  return figures.map((f) => `*${f.environment}*\n${doraLines(f).join("\n")}`);
}

export const DORA_FOOTNOTE = "DORA figures from Orchestrator's own release ledger; bands: contiguous reading of the Accelerate State of DevOps tables (README › DORA)";

/** `/orch dora`: the four figures per environment over the last `days`. Pure. */
export function doraMessage(figures: DoraFigures[], days: number): { text: string; blocks: KnownBlock[] } {
  const blocks: KnownBlock[] = [header(`DORA metrics — last ${days} days`), fieldsSection(undefined, doraFields(figures)), context(DORA_FOOTNOTE)];
  const text = `DORA metrics, last ${days} days: ${figures.map((f) => `${f.environment} ${f.deploys} live, ${f.changeFailureRate === null ? "no deploys" : `${percent(f.changeFailureRate)} change failure`}`).join("; ")}`;
  return { text, blocks };
}
