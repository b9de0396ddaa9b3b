import { parseDuration } from "../../config/duration.js";
import { type Outcome, refuse } from "../../core/refusal.js";
import { type DeployWindow, isInWindow, nextOpening, zonedInstant } from "./windows.js";

/** Change freezes and the deploy decision (SPEC §3, §4), as plain functions over plain data. */

export interface FreezeFacts {
  id: number;
  environment: string;
  reason: string;
  createdBy: string;
  startsAt: Date;
  endsAt: Date;
}

/** The longest freeze one command may set: a typo in a year should not freeze production for one. */
const MAX_FREEZE_MS = 90 * 86_400_000;

type FreezePeriod = Outcome<{ endsAt: Date; reason: string }>;

/**
 * Reads `for 2d <reason>` or `until 2026-12-26 [09:00] <reason>` (a date without a time means its
 * start, 00:00, in the configured timezone). The end must be in the future and within 90 days.
 */
export function parseFreezePeriod(text: string, now: Date, timeZone: string): FreezePeriod {
  const words = text.trim().split(/\s+/);
  const keyword = words[0]?.toLowerCase();
  let endsAt: Date;
  let rest: string[];
  if (keyword === "for") {
    const ms = parseDuration(words[1] ?? "");
    if (ms === undefined) return refuse(`\`for\` needs a duration like 2d, 36h or 90m${words[1] ? ` (got \`${words[1].slice(0, 20)}\`)` : ""}`);
    endsAt = new Date(now.getTime() + ms);
    rest = words.slice(2);
  } else if (keyword === "until") {
    const date = /^(\d{4})-(\d{2})-(\d{2})$/.exec(words[1] ?? "");
    if (!date) return refuse(`\`until\` needs a date like 2026-12-26${words[1] ? ` (got \`${words[1].slice(0, 20)}\`)` : ""}`);
    const [year, month, day] = [Number(date[1]), Number(date[2]), Number(date[3])];
    const check = new Date(Date.UTC(year, month - 1, day));
    if (check.getUTCMonth() !== month - 1 || check.getUTCDate() !== day) return refuse(`\`${words[1]}\` is not a date on the calendar`);
    let minutes = 0;
    rest = words.slice(2);
    const time = /^([01]\d|2[0-3]):([0-5]\d)$/.exec(words[2] ?? "");
    if (time) {
      minutes = Number(time[1]) * 60 + Number(time[2]);
      rest = words.slice(3);
    } else if (/^\d{1,2}:\d{2}$/.test(words[2] ?? "")) {
      return refuse(`\`${words[2]}\` is not a time: use HH:MM on the 24-hour clock, like 09:00`);
    }
    endsAt = zonedInstant({ year, month, day }, minutes, timeZone);
  } else {
    return refuse("say how long: `for 2d` or `until 2026-12-26 09:00`");
  }
  const reason = rest.join(" ").trim();
  if (endsAt.getTime() <= now.getTime()) return refuse("that end time has already passed");
  if (endsAt.getTime() - now.getTime() > MAX_FREEZE_MS) return refuse("a freeze may last at most 90 days");
  if (reason.length < 3) return refuse("say why, after the time: the reason is announced and goes into the audit trail");
  return { ok: true, endsAt, reason: reason.slice(0, 500) };
}

/** The freezes in force at an instant. */
function activeAt(freezes: readonly FreezeFacts[], at: Date): FreezeFacts[] {
  return freezes.filter((f) => f.startsAt.getTime() <= at.getTime() && f.endsAt.getTime() > at.getTime());
}

export type DeployDecision =
  | { start: true }
  /** Not now: the earliest moment a deploy may start, and what holds it until then. */
  | { start: false; at: Date; freeze?: FreezeFacts; outsideWindow: boolean };

/**
 * Whether a deploy may start at `now`: outside every freeze and inside a window (if the environment has
 * any). An emergency may start regardless. When it may not, the earliest later moment when both hold:
 * the end of the freezes in force, then the next window opening, repeated until both agree.
 */
export function deployDecision(input: { windows: readonly DeployWindow[]; freezes: readonly FreezeFacts[]; now: Date; timeZone: string; emergency: boolean }): DeployDecision {
  const { windows, freezes, now, timeZone } = input;
  if (input.emergency) return { start: true };
  const blocking = activeAt(freezes, now)[0];
  const outsideWindow = !isInWindow(windows, now, timeZone);
  if (!blocking && !outsideWindow) return { start: true };
  let at = now;
  for (let round = 0; round < 100; round += 1) {
    const frozen = activeAt(freezes, at);
    if (frozen.length > 0) {
      at = new Date(Math.max(...frozen.map((f) => f.endsAt.getTime())));
      continue;
    }
    const opening = nextOpening(windows, at, timeZone);
    if (opening && opening.getTime() !== at.getTime()) {
      at = opening;
      continue;
    }
    break;
  }
  return { start: false, at, ...(blocking ? { freeze: blocking } : {}), outsideWindow };
}
