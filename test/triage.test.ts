import { describe, expect, it } from "vitest";
import { mergeTriage, triageByRules } from "../src/features/feedback/keyword-triage.js";

describe("keyword triage", () => {
  const helpDesk = { defaultKind: "support-ticket", defaultPriority: "high" as const };
  const portal = { defaultKind: "in-app-feedback", defaultPriority: "medium" as const };

  it("finds the kind", () => {
    expect(triageByRules({ text: "The export button is broken since Monday", ...portal }).kind).toBe("bug");
    expect(triageByRules({ text: "It would be great to have a weekly PDF", ...portal }).kind).toBe("feature-request");
    expect(triageByRules({ text: "Thanks, the new map works great!", ...portal }).kind).toBe("praise");
    expect(triageByRules({ text: "How do I change the forecast horizon?", ...portal }).kind).toBe("question");
    expect(triageByRules({ text: "Meeting notes from Tuesday", ...portal }).kind).toBe("in-app-feedback");
  });

  it("raises priority for urgent words and bugs, never below the channel's default", () => {
    expect(triageByRules({ text: "Forecast API is down for all users", ...portal }).priority).toBe("critical");
    expect(triageByRules({ text: "The chart shows the wrong forecast", ...portal }).priority).toBe("high");
    expect(triageByRules({ text: "Love it, thanks", ...helpDesk }).priority).toBe("high");
    expect(triageByRules({ text: "Minor: typo on the about page", ...portal }).priority).toBe("medium");
  });

  it("names a theme when one fits", () => {
    expect(triageByRules({ text: "The voltage forecast is off by 5% on feeder 22", ...portal }).theme).toBe("forecast accuracy");
    expect(triageByRules({ text: "Page takes too long to load", ...portal }).theme).toBe("performance");
    expect(triageByRules({ text: "Hello", ...portal }).theme).toBeNull();
  });

  it("keeps the configured priority as a floor when merging a proposal", () => {
    expect(mergeTriage({ kind: "praise", priority: "low", theme: null }, "critical")).toEqual({ kind: "praise", priority: "critical", theme: null });
    expect(mergeTriage({ kind: "bug", priority: "critical", theme: "x" }, "medium").priority).toBe("critical");
  });
});
