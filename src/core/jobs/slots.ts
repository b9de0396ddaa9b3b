import { CronExpressionParser } from "cron-parser";

/**
 * Slot arithmetic: which scheduled time a run belongs to. Pure functions over cron-parser, the one
 * source of truth for slot identity (node-cron only wakes the scheduler up), so the timer, catch-up
 * and `/orch jobs` agree on every slot, daylight-saving changes included.
 */

/** The latest slot at or before `at`; undefined when the expression never matched before it. */
export function slotAtOrBefore(expression: string, timeZone: string, at: Date): Date | undefined {
  // prev() is strictly before currentDate, so look from just after `at` to include `at` itself.
  const cron = CronExpressionParser.parse(expression, { currentDate: new Date(at.getTime() + 1), tz: timeZone });
  try {
    return cron.prev().toDate();
  } catch {
    return undefined;
  }
}

/** The first slot strictly after `at`; undefined when the expression never matches again. */
export function slotAfter(expression: string, timeZone: string, at: Date): Date | undefined {
  const cron = CronExpressionParser.parse(expression, { currentDate: at, tz: timeZone });
  try {
    return cron.next().toDate();
  } catch {
    return undefined;
  }
}

/**
 * The latest slot in (since, until]: the one slot to run at start-up after every replica was down
 * from `since` (last seen alive) to `until` (now). Earlier missed slots are deliberately dropped.
 */
export function latestMissedSlot(expression: string, timeZone: string, since: Date, until: Date): Date | undefined {
  const slot = slotAtOrBefore(expression, timeZone, until);
  return slot && slot.getTime() > since.getTime() ? slot : undefined;
}

export type Cadence = "weekly" | "monthly" | "quarterly";

/** The report period that ends at `until`: the same local time one week, month or quarter earlier. */
export function periodEnding(until: Date, cadence: Cadence, timeZone: string): { since: Date; until: Date } {
  const local = localParts(until, timeZone);
  if (cadence === "weekly") local.day -= 7;
  else local.month -= cadence === "monthly" ? 1 : 3;
  // Date.UTC normalizes overflow (day 0, month -1); clamp 31 March minus a month to the end of February.
  const wanted = new Date(Date.UTC(local.year, local.month - 1, 1));
  const daysInMonth = new Date(Date.UTC(wanted.getUTCFullYear(), wanted.getUTCMonth() + 1, 0)).getUTCDate();
  const day = cadence === "weekly" ? local.day : Math.min(local.day, daysInMonth);
  return { since: fromLocal({ ...local, day }, timeZone), until };
}

interface LocalParts {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

function localParts(at: Date, timeZone: string): LocalParts {
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone,
    hourCycle: "h23",
    year: "numeric",
    month: "numeric",
    day: "numeric",
    hour: "numeric",
    minute: "numeric",
    second: "numeric",
  }).formatToParts(at);
  const get = (type: string) => Number(parts.find((p) => p.type === type)?.value ?? 0);
  return { year: get("year"), month: get("month"), day: get("day"), hour: get("hour"), minute: get("minute"), second: get("second") };
}

/** The instant a wall-clock time in the zone names (the earlier one when it occurs twice). */
function fromLocal(local: LocalParts, timeZone: string): Date {
  const asUtc = Date.UTC(local.year, local.month - 1, local.day, local.hour, local.minute, local.second);
  let guess = asUtc;
  for (let round = 0; round < 3; round += 1) {
    const seen = localParts(new Date(guess), timeZone);
    const seenAsUtc = Date.UTC(seen.year, seen.month - 1, seen.day, seen.hour, seen.minute, seen.second);
    if (seenAsUtc === asUtc) break;
    guess += asUtc - seenAsUtc;
  }
  return new Date(guess);
}

const WEEKDAYS = ["Sundays", "Mondays", "Tuesdays", "Wednesdays", "Thursdays", "Fridays", "Saturdays"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** A five-field cron expression in words ("Mondays at 09:00"), or undefined for anything unusual. Pure. */
export function describeSchedule(expression: string): string | undefined {
  const fields = expression.trim().split(/\s+/);
  if (fields.length !== 5) return undefined;
  const [minute, hour, dayOfMonth, month, dayOfWeek] = fields as [string, string, string, string, string];
  const number = (field: string) => (/^\d+$/.test(field) ? Number(field) : undefined);
  const list = (field: string) => (/^\d+(,\d+)*$/.test(field) ? field.split(",").map(Number) : undefined);
  const every = /^\*\/(\d+)$/;
  const m = number(minute);
  const h = number(hour);
  const time = m !== undefined && h !== undefined ? `${String(h).padStart(2, "0")}:${String(m).padStart(2, "0")}` : undefined;
  const anyDay = dayOfMonth === "*" && month === "*" && dayOfWeek === "*";

  if (anyDay && hour === "*") {
    if (minute === "*") return "every minute";
    const step = every.exec(minute)?.[1];
    if (step) return `every ${step} minutes`;
    if (m !== undefined) return `hourly at :${String(m).padStart(2, "0")}`;
    return undefined;
  }
  const hourStep = every.exec(hour)?.[1];
  if (anyDay && hourStep && m !== undefined) return `every ${hourStep} hours at :${String(m).padStart(2, "0")}`;
  if (!time) return undefined;
  if (anyDay) return `daily at ${time}`;
  if (dayOfMonth === "*" && month === "*") {
    if (dayOfWeek === "1-5") return `weekdays at ${time}`;
    const days = list(dayOfWeek);
    if (!days || days.some((d) => d > 7)) return undefined;
    return `${joinWords(days.map((d) => WEEKDAYS[d % 7] as string))} at ${time}`;
  }
  const day = number(dayOfMonth);
  if (day === undefined || dayOfWeek !== "*") return undefined;
  if (month === "*") return `monthly on the ${ordinal(day)} at ${time}`;
  const months = list(month);
  if (!months || months.some((x) => x < 1 || x > 12)) return undefined;
  const names = months.map((x) => MONTHS[x - 1] as string);
  if (months.length === 4 && months.every((x, i) => x === (months[0] as number) + 3 * i)) return `quarterly (${names.join(", ")}) on the ${ordinal(day)} at ${time}`;
  return `on the ${ordinal(day)} of ${joinWords(names)} at ${time}`;
}

function ordinal(n: number): string {
  const suffix = n % 100 >= 11 && n % 100 <= 13 ? "th" : (({ 1: "st", 2: "nd", 3: "rd" } as Record<number, string>)[n % 10] ?? "th");
  return `${n}${suffix}`;
}

function joinWords(words: string[]): string {
  return words.length <= 1 ? (words[0] ?? "") : `${words.slice(0, -1).join(", ")} and ${words.at(-1)}`;
}
