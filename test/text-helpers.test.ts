import { describe, expect, it } from "vitest";
import { andMore, cutList, listed, moreLine, nounFor, oneLine, plural, truncate } from "../src/slack/text.js";
import { formatAge, formatAgo, formatSeconds } from "../src/time.js";

describe("text helpers", () => {
  it("cuts text with an ellipsis inside the limit, and folds white space for one list line", () => {
    expect(truncate("abcdef", 6)).toBe("abcdef");
    expect(truncate("abcdefg", 6)).toBe("abcde…");
    expect(oneLine("  two\n lines\tof text ", 12)).toBe("two lines o…");
  });

  it("says how many a list leaves out, counting items not even fetched", () => {
    expect(cutList(["a", "b", "c"], 3)).toEqual(["a", "b", "c"]);
    expect(cutList(["a", "b", "c"], 2)).toEqual(["a", "b", "…and 1 more"]);
    expect(cutList(["a", "b"], 5, 7)).toEqual(["a", "b", "…and 5 more"]);
    expect(listed([], 3)).toBe("_none_");
    expect(listed([], 3, 0, "_nothing yet_")).toBe("_nothing yet_");
    expect(listed(["a", "b", "c"], 1)).toBe("a\n…and 2 more");
    expect(moreLine(4, "environments")).toBe("…and 4 more environments");
    expect(`a, b${andMore(3)}`).toBe("a, b and 3 more");
    expect(`a, b${andMore(0)}`).toBe("a, b");
  });

  it("counts nouns, with an irregular plural where given", () => {
    expect([0, 1, 2].map((n) => plural(n, "check"))).toEqual(["0 checks", "1 check", "2 checks"]);
    expect([1, 3].map((n) => plural(n, "emergency", "emergencies"))).toEqual(["1 emergency", "3 emergencies"]);
    expect([1, 2].map((n) => nounFor(n, "freeze"))).toEqual(["freeze", "freezes"]);
  });
});

describe("time spans for people", () => {
  const now = new Date("2026-05-10T12:00:00Z");
  const ago = (seconds: number) => new Date(now.getTime() - seconds * 1000);

  it("rounds how long ago to one unit, terse and in words, on the same steps", () => {
    const ages = [30, 90, 3599, 3600, 47 * 3600, 48 * 3600, 10 * 86_400].map(ago);
    expect(ages.map((at) => formatAge(at, now))).toEqual(["30s", "2m", "1h", "1h", "47h", "2d", "10d"]);
    expect(ages.map((at) => formatAgo(at, now))).toEqual(["just now", "2 min ago", "1 hour ago", "1 hour ago", "47 hours ago", "2 days ago", "10 days ago"]);
    expect(formatAge(new Date(now.getTime() + 5000), now)).toBe("0s");
  });

  it("shows a statistic in seconds to one decimal under ten", () => {
    expect([3.44, 9.96, 42.4].map(formatSeconds)).toEqual(["3.4s", "10.0s", "42s"]);
  });
});
