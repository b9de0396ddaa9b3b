/** Text helpers for Slack messages: limits, escaping, code blocks, cut lists and counted nouns. */

/** Cuts text to at most `max` characters, marking the cut with an ellipsis. */
export function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, Math.max(0, max - 1))}…`;
}

/** One list line of text from outside (feedback, summaries): its white space folded to single spaces, then cut. */
export function oneLine(text: string, max: number): string {
  return truncate(text.replace(/\s+/g, " ").trim(), max);
}

/** Neutralizes Slack's control characters in text from outside (output, reasons, user input). */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** A fenced code block that fits one section (3,000 characters), keeping the end of the text. */
export function codeBlock(title: string, text: string, max = 3000): string {
  const room = max - title.length - 12;
  const body = text.length > room ? `…${text.slice(-(room - 1))}` : text;
  return `*${title}*\n\`\`\`${escapeMrkdwn(body).replace(/```/g, "ˋˋˋ")}\`\`\``.slice(0, max);
}

/** "…and 3 more" ("…and 3 more environments" with `what`): the line that stands for what a list leaves out. */
export function moreLine(rest: number, what?: string): string {
  return `…and ${rest} more${what ? ` ${what}` : ""}`;
}

/** " and 3 more" to end a list of names inside a sentence, or "" when it names them all; `moreLine` is the list-line form. */
export function andMore(rest: number): string {
  return rest > 0 ? ` and ${rest} more` : "";
}

/**
 * A list cut to `limit` items, then a `moreLine` for the rest of its `total` (which counts items not even fetched),
 * so a message stays inside Block Kit's limits.
 */
export function cutList(lines: string[], limit: number, total = lines.length): string[] {
  const shown = lines.slice(0, limit);
  const rest = total - shown.length;
  return rest > 0 ? [...shown, moreLine(rest)] : shown;
}

/** `cutList` as lines of one text, or `empty` for an empty list. */
export function listed(lines: string[], limit: number, total = lines.length, empty = "_none_"): string {
  return lines.length === 0 ? empty : cutList(lines, limit, total).join("\n");
}

/**
 * Text that came from Slack (already in Slack's escaped form, with <@U…> mentions) shown again by the
 * bot: user and channel mentions stay, but @channel, @here, @everyone and group pings are defused.
 */
export function quoteSlackText(text: string): string {
  return text.replace(/<!(channel|here|everyone|subteam\^[A-Z0-9]+)(\|[^>]*)?>/g, (_match, name: string) => `@${name.replace(/^subteam\^.*/, "group")}`);
}

/** "check" for one, "checks" otherwise: the noun alone, where the sentence shows the count elsewhere. */
export function nounFor(count: number, noun: string, many = `${noun}s`): string {
  return count === 1 ? noun : many;
}

/** "1 check", "2 checks": a count with its noun. */
export function plural(count: number, noun: string, many = `${noun}s`): string {
  return `${count} ${nounFor(count, noun, many)}`;
}
