import { plural } from "./slack/text.js";

/*
 * Spans of time for people, five ways because each says something different:
 * formatDuration, an exact span (a timeout, how long a run took) in its two largest units;
 * formatHours and formatSeconds, statistics (a DORA median in hours, a job-run percentile in seconds) kept in their unit;
 * formatAge and formatAgo, how long ago, rounded to one unit: terse in status lines, in words in lists people read.
 */

/** "1h 30m", "15m", "2d", "250ms": an exact span in its two largest units. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const parts: string[] = [];
  let rest = Math.round(ms / 1000);
  for (const [unit, size] of [
    ["d", 86_400],
    ["h", 3_600],
    ["m", 60],
    ["s", 1],
  ] as const) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  return parts.slice(0, 2).join(" ");
}

/** "45 min", "5.5 h", "3.2 d": hours as a statistic, to one decimal. */
export function formatHours(hours: number): string {
  if (hours < 1) return `${Math.round(hours * 60)} min`;
  if (hours < 48) return `${Number(hours.toFixed(1))} h`;
  return `${Number((hours / 24).toFixed(1))} d`;
}

/** "3.4s", "42s": seconds as a statistic, to one decimal under ten. */
export function formatSeconds(seconds: number): string {
  return seconds < 10 ? `${seconds.toFixed(1)}s` : `${Math.round(seconds)}s`;
}

/** How long ago `at` was, rounded to one unit: seconds under a minute, minutes under an hour, hours under two days, then days. */
function ageOf(at: Date, now: Date): [number, "s" | "m" | "h" | "d"] {
  const seconds = Math.max(0, Math.round((now.getTime() - at.getTime()) / 1000));
  if (seconds < 60) return [seconds, "s"];
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return [minutes, "m"];
  const hours = Math.round(minutes / 60);
  if (hours < 48) return [hours, "h"];
  return [Math.round(hours / 24), "d"];
}

/** "3m", "2h", "5d": how long ago, terse. */
export function formatAge(at: Date, now: Date = new Date()): string {
  const [count, unit] = ageOf(at, now);
  return `${count}${unit}`;
}

/** "just now", "16 min ago", "3 hours ago", "5 days ago": how long ago, in words. */
export function formatAgo(at: Date, now: Date = new Date()): string {
  const [count, unit] = ageOf(at, now);
  if (unit === "s") return "just now";
  if (unit === "m") return `${count} min ago`;
  return `${plural(count, unit === "h" ? "hour" : "day")} ago`;
}

// Building an Intl.DateTimeFormat is costly; one per zone and shape serves every message.
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(shape: "datetime" | "date", timeZone: string): Intl.DateTimeFormat {
  const key = `${shape}:${timeZone}`;
  let found = formatters.get(key);
  if (!found) {
    found =
      shape === "datetime"
        ? new Intl.DateTimeFormat("en-GB", { timeZone, weekday: "short", day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit", hour12: false })
        : new Intl.DateTimeFormat("en-GB", { timeZone, day: "numeric", month: "short", year: "numeric" });
    formatters.set(key, found);
  }
  return found;
}

/** A date and time in the configured timezone, e.g. "Mon 25 Nov 2026, 09:00 (Asia/Bangkok)". */
export function formatDateTime(at: Date, timeZone: string, withZone = true): string {
  const text = formatter("datetime", timeZone).format(at);
  return withZone ? `${text} (${timeZone})` : text;
}

export function formatDate(at: Date, timeZone: string): string {
  return formatter("date", timeZone).format(at);
}

const shortFormatters = new Map<string, { day: Intl.DateTimeFormat; date: Intl.DateTimeFormat }>();

/**
 * When something will happen, short: "Tue 09:00 (Asia/Bangkok)" within the coming six days,
 * "Tue 29 Dec 2026, 09:00 (Asia/Bangkok)" further out.
 */
export function formatWhen(at: Date, timeZone: string, now: Date = new Date()): string {
  let found = shortFormatters.get(timeZone);
  if (!found) {
    found = {
      day: new Intl.DateTimeFormat("en-GB", { timeZone, weekday: "short", hour: "2-digit", minute: "2-digit", hour12: false }),
      date: formatter("datetime", timeZone),
    };
    shortFormatters.set(timeZone, found);
  }
  const soon = at.getTime() - now.getTime() < 6 * 86_400_000;
  return `${(soon ? found.day : found.date).format(at)} (${timeZone})`;
}
