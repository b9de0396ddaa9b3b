/**
 * What a question to the bot is about, for answering a mention from the bot's own data when Claude is
 * not set up. Deliberately simple word matching: it only picks which part of the status to show.
 */
type PlainTopic = "feedback" | "jobs" | "health" | "releases" | "status" | "help";

const TOPICS: Array<[PlainTopic, RegExp]> = [
  ["feedback", /\b(feedback|complaints?|tickets?|stakeholders?|help ?desk|reported)\b/],
  ["jobs", /\b(jobs?|digests?|schedul\w*|cron|maintenance|backups?|patch\w*|dependenc\w*|outdated|reports?)\b/],
  ["health", /\b(health\w*|latency|outages?|down|uptime)\b/],
  ["releases", /\b(live|releases?|released|deploy\w*|versions?|rollbacks?|rolled back|approv\w*|pending|in flight|ship\w*|promot\w*|freeze|frozen)\b/],
  ["status", /\b(status|overview|going on|happening|how are things|update)\b/],
  ["help", /\b(help|what can you do|what do you do|commands?)\b/],
];

export function plainTopic(text: string, environments: readonly string[]): PlainTopic | undefined {
  const words = text.toLowerCase();
  for (const [topic, pattern] of TOPICS) if (pattern.test(words)) return topic;
  // "what is on production?" names an environment and nothing else.
  if (environments.some((name) => new RegExp(`\\b${name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\b`).test(words))) return "releases";
  return undefined;
}
