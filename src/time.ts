import { plural } from "./slack/text.js";

/** "3m", "2h", "5d": how long ago, for people. */
export function formatAge(at: Date, now: Date = new Date()): string {
  const seconds = Math.max(0, Math.round((now.getTime() - at.getTime()) / 1000));
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes}m`;
  const hours = Math.round(minutes / 60);
  if (hours < 48) return `${hours}h`;
  return `${Math.round(hours / 24)}d`;
}

/** "just now", "16 min ago", "3 hours ago", "5 days ago": an age in words, for lists people read. */
export function formatAgo(at: Date, now: Date = new Date()): string {
  const seconds = Math.max(0, Math.round((now.getTime() - at.getTime()) / 1000));
  if (seconds < 60) return "just now";
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.round(minutes / 60);
  if (hours < 48) return `${plural(hours, "hour")} ago`;
  return `${plural(Math.round(hours / 24), "day")} ago`;
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
