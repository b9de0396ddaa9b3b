import { describe, expect, it } from "vitest";
import { JOB_CATALOG } from "../src/core/jobs/catalog.js";
import { describeSchedule, latestMissedSlot, periodEnding, slotAfter, slotAtOrBefore } from "../src/core/jobs/slots.js";

const at = (iso: string) => new Date(iso);
const iso = (date: Date | undefined) => date?.toISOString();

describe("slots in Asia/Bangkok (UTC+7, no daylight saving)", () => {
  const tz = "Asia/Bangkok";

  it("finds the weekly digest's slot at or before an instant, and the next one", () => {
    // Monday 11 May 2026, 09:00 in Bangkok is 02:00 UTC.
    expect(iso(slotAtOrBefore("0 9 * * 1", tz, at("2026-05-11T02:00:00Z")))).toBe("2026-05-11T02:00:00.000Z");
    expect(iso(slotAtOrBefore("0 9 * * 1", tz, at("2026-05-11T01:59:59Z")))).toBe("2026-05-04T02:00:00.000Z");
    expect(iso(slotAfter("0 9 * * 1", tz, at("2026-05-11T02:00:00Z")))).toBe("2026-05-18T02:00:00.000Z");
    expect(iso(slotAfter("0 9 * * 1", tz, at("2026-05-10T20:00:00Z")))).toBe("2026-05-11T02:00:00.000Z");
  });

  it("places monthly and quarterly slots on local dates, not UTC dates", () => {
    // At 03:00 local on 1 June it is still 31 May in UTC; the slot is 09:00 local that same day.
    expect(iso(slotAfter("0 9 1 * *", tz, at("2026-05-31T20:00:00Z")))).toBe("2026-06-01T02:00:00.000Z");
    expect(iso(slotAtOrBefore("0 10 1 1,4,7,10 *", tz, at("2026-06-15T00:00:00Z")))).toBe("2026-04-01T03:00:00.000Z");
    expect(iso(slotAfter("0 10 1 1,4,7,10 *", tz, at("2026-06-15T00:00:00Z")))).toBe("2026-07-01T03:00:00.000Z");
    // Midnight local on 1 January is still 31 December in UTC.
    expect(iso(slotAfter("0 0 1 1 *", tz, at("2026-12-31T00:00:00Z")))).toBe("2026-12-31T17:00:00.000Z");
  });

  it("picks only the latest slot missed during downtime, none when nothing fell in it", () => {
    const lastAlive = at("2026-05-11T01:00:00Z");
    // Down for three days: 864 five-minute slots fell in the gap; only the latest is run.
    expect(iso(latestMissedSlot("*/5 * * * *", tz, lastAlive, at("2026-05-14T01:02:30Z")))).toBe("2026-05-14T01:00:00.000Z");
    expect(iso(latestMissedSlot("0 9 * * 1", tz, lastAlive, at("2026-05-14T01:02:30Z")))).toBe("2026-05-11T02:00:00.000Z");
    expect(latestMissedSlot("0 9 1 * *", tz, lastAlive, at("2026-05-14T01:02:30Z"))).toBeUndefined();
    // A slot at the very moment the replica was last seen was its to run, not a missed one.
    expect(latestMissedSlot("0 9 * * 1", tz, at("2026-05-11T02:00:00Z"), at("2026-05-11T02:04:00Z"))).toBeUndefined();
  });

  it("computes report periods as the same local time one week, month or quarter earlier", () => {
    const until = at("2026-06-01T02:00:00Z");
    expect(iso(periodEnding(until, "weekly", tz).since)).toBe("2026-05-25T02:00:00.000Z");
    expect(iso(periodEnding(until, "monthly", tz).since)).toBe("2026-05-01T02:00:00.000Z");
    expect(iso(periodEnding(until, "quarterly", tz).since)).toBe("2026-03-01T02:00:00.000Z");
    // 31 March minus a month is the end of February, not 3 March.
    expect(iso(periodEnding(at("2026-03-31T02:00:00Z"), "monthly", tz).since)).toBe("2026-02-28T02:00:00.000Z");
  });
});

describe("slots in Europe/Berlin across daylight-saving changes", () => {
  const tz = "Europe/Berlin";

  it("keeps 09:00 local on both sides of the March change (UTC+1 → UTC+2)", () => {
    expect(iso(slotAtOrBefore("0 9 * * *", tz, at("2026-03-28T12:00:00Z")))).toBe("2026-03-28T08:00:00.000Z");
    expect(iso(slotAtOrBefore("0 9 * * *", tz, at("2026-03-29T12:00:00Z")))).toBe("2026-03-29T07:00:00.000Z");
    expect(iso(slotAfter("0 9 * * *", tz, at("2026-03-28T08:00:00Z")))).toBe("2026-03-29T07:00:00.000Z");
  });

  it("keeps 09:00 local on both sides of the October change (UTC+2 → UTC+1)", () => {
    expect(iso(slotAtOrBefore("0 9 * * *", tz, at("2026-10-24T12:00:00Z")))).toBe("2026-10-24T07:00:00.000Z");
    expect(iso(slotAfter("0 9 * * *", tz, at("2026-10-24T07:00:00Z")))).toBe("2026-10-25T08:00:00.000Z");
  });

  it("runs a 02:30 job once on the night 02:30 does not exist and once on the night it happens twice", () => {
    // 29 March: clocks jump from 02:00 to 03:00; the slot moves to 03:30 CEST (01:30 UTC).
    expect(iso(slotAfter("30 2 * * *", tz, at("2026-03-28T23:00:00Z")))).toBe("2026-03-29T01:30:00.000Z");
    // 25 October: 02:30 happens at 00:30 and 01:30 UTC; there is one slot, the first.
    const first = slotAfter("30 2 * * *", tz, at("2026-10-24T22:00:00Z"));
    expect(iso(first)).toBe("2026-10-25T00:30:00.000Z");
    expect(iso(slotAfter("30 2 * * *", tz, first as Date))).toBe("2026-10-26T01:30:00.000Z");
  });

  it("finds the latest missed slot and report periods in the right offset across the change", () => {
    // Down from Saturday evening (CET) until Monday morning (CEST): the Monday 08:00 local slot is the latest.
    expect(iso(latestMissedSlot("0 8 * * *", tz, at("2026-03-28T18:00:00Z"), at("2026-03-30T06:30:00Z")))).toBe("2026-03-30T06:00:00.000Z");
    // A week before Monday 6 April 09:00 CEST is Monday 30 March 09:00 CEST; a week before 30 March is in CET.
    expect(iso(periodEnding(at("2026-04-06T07:00:00Z"), "weekly", tz).since)).toBe("2026-03-30T07:00:00.000Z");
    expect(iso(periodEnding(at("2026-03-30T07:00:00Z"), "weekly", tz).since)).toBe("2026-03-23T08:00:00.000Z");
  });
});

describe("schedules in words", () => {
  it("describes every default schedule of the catalog", () => {
    const described = Object.fromEntries(Object.entries(JOB_CATALOG).map(([name, job]) => [name, describeSchedule(job.schedule)]));
    expect(described).toEqual({
      "weekly-digest": "Mondays at 09:00",
      "monthly-digest": "monthly on the 1st at 09:00",
      "dependency-updates": "Mondays at 08:00",
      "security-patches": "Mondays at 08:15",
      "knowledge-sync": "Mondays at 08:30",
      "model-retraining-review": "monthly on the 1st at 10:00",
      "performance-analysis": "monthly on the 1st at 10:30",
      "tech-debt-assessment": "monthly on the 1st at 11:00",
      "architecture-review": "quarterly (Jan, Apr, Jul, Oct) on the 1st at 10:00",
      "user-feedback-synthesis": "quarterly (Jan, Apr, Jul, Oct) on the 1st at 10:30",
      "roadmap-planning": "quarterly (Jan, Apr, Jul, Oct) on the 1st at 11:00",
      "health-check": "every 5 minutes",
      "feedback-backfill": "hourly at :07",
      "approval-expiry": "every minute",
    });
  });

  it("describes other common forms and gives up on unusual ones", () => {
    expect(describeSchedule("0 6 * * *")).toBe("daily at 06:00");
    expect(describeSchedule("0 18 * * 1-5")).toBe("weekdays at 18:00");
    expect(describeSchedule("0 9 * * 1,4")).toBe("Mondays and Thursdays at 09:00");
    expect(describeSchedule("15 */2 * * *")).toBe("every 2 hours at :15");
    expect(describeSchedule("0 9 15 6,12 *")).toBe("on the 15th of Jun and Dec at 09:00");
    expect(describeSchedule("0 9 1-7 * 1")).toBeUndefined();
    expect(describeSchedule("*/5 9-17 * * *")).toBeUndefined();
  });
});
