import type { KnownBlock } from "@slack/types";
import { cutList, escapeMrkdwn } from "../../slack/text.js";
import { formatDate } from "../../time.js";
import type { Count, FeedbackStats } from "./stats.js";

const BARS = "▁▂▃▄▅▆▇█";

/** A one-line chart of weekly counts, e.g. ▁▃█▅. */
function sparkline(values: number[]): string {
  const top = Math.max(...values, 1);
  return values.map((v) => BARS[Math.min(BARS.length - 1, Math.round((v / top) * (BARS.length - 1)))]).join("");
}

function countsLine(counts: Count[], limit = 8): string {
  if (counts.length === 0) return "_none_";
  return cutList(
    counts.map((c) => `${escapeMrkdwn(c.key)} *${c.count}*`),
    limit,
  ).join(" · ");
}

/** `feedback analyze`: figures computed by the database, laid out for Slack. Pure. */
export function analysisMessage(stats: FeedbackStats, days: number, timeZone: string): { text: string; blocks: KnownBlock[] } {
  const range = `${formatDate(stats.since, timeZone)} – ${formatDate(stats.until, timeZone)}`;
  const weekly = stats.weekly.map((w) => w.count);
  const blocks: KnownBlock[] = [
    { type: "header", text: { type: "plain_text", text: `Feedback, last ${days} days` } },
    {
      type: "context",
      elements: [{ type: "mrkdwn", text: `${range} · ${stats.total} new · backlog now: ${stats.open} open, ${stats.inProgress} in progress · ${stats.closedInPeriod} closed in the period` }],
    },
    {
      type: "section",
      fields: [
        { type: "mrkdwn", text: `*By kind*\n${countsLine(stats.byKind)}` },
        { type: "mrkdwn", text: `*By priority*\n${countsLine(stats.byPriority)}` },
        { type: "mrkdwn", text: `*By source*\n${countsLine(stats.bySource)}` },
        { type: "mrkdwn", text: `*By status*\n${countsLine(stats.byStatus)}` },
      ],
    },
    {
      type: "section",
      text: {
        type: "mrkdwn",
        text: `*Weekly trend* ${weekly.length > 0 ? `\`${sparkline(weekly)}\` ` : ""}${
          cutList(
            stats.weekly.map((w) => `${w.week}: ${w.count}`),
            12,
          ).join(", ") || "_no feedback in the period_"
        }`,
      },
    },
    {
      type: "section",
      text: { type: "mrkdwn", text: `*Top themes*\n${stats.topThemes.length > 0 ? stats.topThemes.map((t, i) => `${i + 1}. ${escapeMrkdwn(t.key)} (${t.count})`).join("\n") : "_no themes yet_"}` },
    },
  ];
  const text = `Feedback, last ${days} days: ${stats.total} new; kinds: ${stats.byKind.map((c) => `${c.key} ${c.count}`).join(", ") || "none"}; priorities: ${stats.byPriority.map((c) => `${c.key} ${c.count}`).join(", ") || "none"}; top themes: ${stats.topThemes.map((t) => `${t.key} ${t.count}`).join(", ") || "none"}`;
  return { text: text.slice(0, 3000), blocks };
}
