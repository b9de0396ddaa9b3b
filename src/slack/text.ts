/** Text helpers for Slack messages: limits, escaping and code blocks. */

/** Cuts text to at most `max` characters, marking the cut with an ellipsis. */
export function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, Math.max(0, max - 1))}…`;
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

/** A list cut to `limit` items with "…and N more" so a message stays inside Block Kit's limits. */
export function cutList(lines: string[], limit: number): string[] {
  if (lines.length <= limit) return lines;
  return [...lines.slice(0, limit), `…and ${lines.length - limit} more`];
}

/**
 * Text that came from Slack (already in Slack's escaped form, with <@U…> mentions) shown again by the
 * bot: user and channel mentions stay, but @channel, @here, @everyone and group pings are defused.
 */
export function quoteSlackText(text: string): string {
  return text.replace(/<!(channel|here|everyone|subteam\^[A-Z0-9]+)(\|[^>]*)?>/g, (_match, name: string) => `@${name.replace(/^subteam\^.*/, "group")}`);
}

/** "1 check", "2 checks": a count with its noun. */
export function plural(count: number, noun: string, many = `${noun}s`): string {
  return `${count} ${count === 1 ? noun : many}`;
}
