import { WEEKDAYS, type Weekday } from "../../config/schema.js";

/**
 * Deploy windows (SPEC §4): `{ days, from, to }` on the wall clock of the configured timezone. Pure
 * functions over instants; daylight-saving changes are handled by reading and building wall-clock
 * times through Intl, never by adding fixed offsets. A window whose `to` is not after `from` runs past
 * midnight and ends on the next day.
 */
export interface DeployWindow {
  days: readonly Weekday[];
  from: string;
  to: string;
}

interface WallClock {
  year: number;
  month: number;
  day: number;
  /** 0 = Monday … 6 = Sunday. */
  weekday: number;
  minutes: number;
}

const MINUTE_MS = 60_000;
const DAY_MINUTES = 24 * 60;
const formatters = new Map<string, Intl.DateTimeFormat>();

function partsFormatter(timeZone: string): Intl.DateTimeFormat {
  let found = formatters.get(timeZone);
  if (!found) {
    found = new Intl.DateTimeFormat("en-US", { timeZone, year: "numeric", month: "numeric", day: "numeric", hour: "numeric", minute: "numeric", second: "numeric", hourCycle: "h23" });
    formatters.set(timeZone, found);
  }
  return found;
}

function wallParts(at: Date, timeZone: string): { year: number; month: number; day: number; hour: number; minute: number; second: number } {
  const parts: Record<string, number> = {};
  for (const part of partsFormatter(timeZone).formatToParts(at)) {
    if (part.type !== "literal") parts[part.type] = Number(part.value);
  }
  return { year: parts.year ?? 0, month: parts.month ?? 1, day: parts.day ?? 1, hour: parts.hour ?? 0, minute: parts.minute ?? 0, second: parts.second ?? 0 };
}

/** The wall clock in `timeZone` at an instant. */
export function wallClock(at: Date, timeZone: string): WallClock {
  const p = wallParts(at, timeZone);
  const weekday = (new Date(Date.UTC(p.year, p.month - 1, p.day)).getUTCDay() + 6) % 7;
  return { year: p.year, month: p.month, day: p.day, weekday, minutes: p.hour * 60 + p.minute };
}

/** How far the zone's wall clock is ahead of UTC at an instant, in ms. */
function offsetAt(at: number, timeZone: string): number {
  const p = wallParts(new Date(at), timeZone);
  const wall = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
  return wall - Math.floor(at / 1000) * 1000;
}

/**
 * The first instant at which the zone's wall clock reads the given date and time: the earlier of two
 * when the clock goes back, and the moment the clock jumps when that time is skipped (spring forward).
 */
export function zonedInstant(date: { year: number; month: number; day: number }, minutes: number, timeZone: string): Date {
  const asUtc = Date.UTC(date.year, date.month - 1, date.day, 0, minutes);
  const offsets = [...new Set([offsetAt(asUtc - DAY_MINUTES * MINUTE_MS, timeZone), offsetAt(asUtc, timeZone), offsetAt(asUtc + DAY_MINUTES * MINUTE_MS, timeZone)])];
  const matching = offsets.map((offset) => asUtc - offset).filter((t) => offsetAt(t, timeZone) === asUtc - t);
  if (matching.length > 0) return new Date(Math.min(...matching));
  // Skipped by a clock change: the wanted time lies in the gap, so the first later instant is the jump itself.
  const candidates = offsets.map((offset) => asUtc - offset).sort((a, b) => a - b);
  let low = candidates[0] as number;
  let high = candidates.at(-1) as number;
  const before = offsetAt(low, timeZone);
  while (high - low > MINUTE_MS) {
    const middle = low + Math.floor((high - low) / 2 / MINUTE_MS) * MINUTE_MS;
    if (offsetAt(middle, timeZone) === before) low = middle;
    else high = middle;
  }
  return new Date(high);
}

function clockMinutes(text: string): number {
  const [hours, minutes] = text.split(":").map(Number);
  return (hours ?? 0) * 60 + (minutes ?? 0);
}

function dayIndex(day: Weekday): number {
  return WEEKDAYS.indexOf(day);
}

/** Whether a deploy may start at this instant; no windows means any time. */
export function isInWindow(windows: readonly DeployWindow[], at: Date, timeZone: string): boolean {
  if (windows.length === 0) return true;
  const now = wallClock(at, timeZone);
  return windows.some((window) => {
    const from = clockMinutes(window.from);
    const to = clockMinutes(window.to);
    const days = window.days.map(dayIndex);
    if (from < to) return days.includes(now.weekday) && now.minutes >= from && now.minutes < to;
    const yesterday = (now.weekday + 6) % 7;
    return (days.includes(now.weekday) && now.minutes >= from) || (days.includes(yesterday) && now.minutes < to);
  });
}

/** When a deploy may next start: `at` itself inside a window, else the next opening; undefined without windows. */
export function nextOpening(windows: readonly DeployWindow[], at: Date, timeZone: string): Date | undefined {
  if (windows.length === 0) return undefined;
  if (isInWindow(windows, at, timeZone)) return at;
  const today = wallClock(at, timeZone);
  let best: Date | undefined;
  for (let offset = 0; offset <= 8 && !best; offset += 1) {
    const date = new Date(Date.UTC(today.year, today.month - 1, today.day + offset));
    const calendar = { year: date.getUTCFullYear(), month: date.getUTCMonth() + 1, day: date.getUTCDate() };
    const weekday = (date.getUTCDay() + 6) % 7;
    for (const window of windows) {
      if (!window.days.map(dayIndex).includes(weekday)) continue;
      const opening = zonedInstant(calendar, clockMinutes(window.from), timeZone);
      if (opening.getTime() > at.getTime() && (!best || opening < best)) best = opening;
    }
  }
  return best;
}

/** "Mon–Thu 09:00–16:00" for people. */
export function describeWindows(windows: readonly DeployWindow[]): string {
  return windows
    .map((w) => {
      const days = w.days.map((d) => d.charAt(0).toUpperCase() + d.slice(1));
      return `${days.join(", ")} ${w.from}–${w.to}`;
    })
    .join("; ");
}
