/**
 * DORA performance bands (elite / high / medium / low) for the four key metrics. Pure.
 *
 * The published tables (Accelerate State of DevOps 2019 and 2021) leave gaps and overlaps between
 * bands; these are their contiguous reading, boundaries inclusive on the better side:
 *
 *   deployment frequency   elite: at least daily ("on demand")   high: at least weekly
 *                          medium: at least monthly               low: less often
 *   lead time for changes  elite: under a day    high: under a week    medium: under a month (30 days)
 *                          low: a month or more                                            (2019)
 *   change failure rate    elite: ≤ 15 %   high: ≤ 30 %   medium: ≤ 45 %   low: above 45 %
 *                          (2019/2021: elite 0–15 %, high 16–30 %, low 46–60 %)
 *   time to restore        elite: under an hour    high: under a day    medium: under a week
 *                          low: a week or more                                             (2021)
 */
export type Band = "elite" | "high" | "medium" | "low";

const HOUR = 1;
const DAY = 24 * HOUR;
const WEEK = 7 * DAY;
const MONTH = 30 * DAY;

export function deploymentFrequencyBand(deploysPerWeek: number): Band {
  if (deploysPerWeek >= 7) return "elite";
  if (deploysPerWeek >= 1) return "high";
  if (deploysPerWeek >= 7 / 30) return "medium";
  return "low";
}

export function leadTimeBand(medianHours: number): Band {
  if (medianHours < DAY) return "elite";
  if (medianHours < WEEK) return "high";
  if (medianHours < MONTH) return "medium";
  return "low";
}

export function changeFailureBand(rate: number): Band {
  if (rate <= 0.15) return "elite";
  if (rate <= 0.3) return "high";
  if (rate <= 0.45) return "medium";
  return "low";
}

export function timeToRestoreBand(medianHours: number): Band {
  if (medianHours < HOUR) return "elite";
  if (medianHours < DAY) return "high";
  if (medianHours < WEEK) return "medium";
  return "low";
}
