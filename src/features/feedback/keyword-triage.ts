import { PRIORITIES, type Priority } from "../../config/schema.js";

/**
 * Keyword triage: the rules used when Claude is not available (or answers badly). Pure functions.
 * They may raise a priority above the channel's configured default but never lower it.
 */

export const KINDS = ["bug", "feature-request", "question", "praise", "support-ticket", "direct-feedback", "in-app-feedback"] as const;

interface TriageInput {
  text: string;
  /** The channel's configured kind and priority, if the message came from a feedback channel. */
  defaultKind: string;
  defaultPriority: Priority;
}

export interface TriageResult {
  kind: string;
  priority: Priority;
  theme: string | null;
}

const KIND_RULES: Array<{ kind: string; pattern: RegExp }> = [
  {
    kind: "bug",
    pattern: /\b(bug|broken|error|errors|crash(es|ed)?|fail(s|ed|ing|ure)?|wrong|incorrect|doesn'?t work|does not work|not working|exception|500|timeout|timed out|stuck|missing data)\b/i,
  },
  {
    kind: "feature-request",
    pattern: /\b(feature|would be (nice|great|good)|please add|could you add|can you add|wish|request|would like|should (be able|have|support)|support for|allow us|it would help)\b/i,
  },
  { kind: "praise", pattern: /\b(thank(s| you)|great job|love (it|this)|awesome|excellent|well done|works great|very helpful|kudos)\b/i },
  { kind: "question", pattern: /(\?\s*$|^\s*(how|what|why|when|where|which|who|can|could|is|are|does|do)\b)/i },
];

const URGENT = /\b(outage|down|urgent|asap|critical|emergency|blackout|cannot log ?in|can'?t log ?in|data loss|security|breach|all users|production is)\b/i;
const IMPORTANT = /\b(broken|crash(es|ed)?|wrong forecast|incorrect|not working|doesn'?t work|blocked|deadline|regulator|grid operators?)\b/i;

const THEME_RULES: Array<{ theme: string; pattern: RegExp }> = [
  { theme: "forecast accuracy", pattern: /\b(accura(te|cy)|inaccurate|mape|mae|forecast (is|was) (off|wrong)|wrong forecast|prediction|deviation|error margin)\b/i },
  { theme: "voltage forecasting", pattern: /\b(voltage|feeder|transformer|kv|substation)\b/i },
  { theme: "solar forecasting", pattern: /\b(solar|pv|irradiance|cloud cover|generation)\b/i },
  { theme: "performance", pattern: /\b(slow|latency|loading|takes (too )?long|timeout|timed out|performance|lag)\b/i },
  { theme: "login and access", pattern: /\b(log ?in|sign ?in|password|access|permission|sso|account|locked out)\b/i },
  { theme: "dashboard and UI", pattern: /\b(dashboard|chart|graph|map|button|screen|ui|page|layout|mobile)\b/i },
  { theme: "reports and export", pattern: /\b(report|export|csv|excel|pdf|download)\b/i },
  { theme: "alerts and notifications", pattern: /\b(alert|notification|email|sms|notify|alarm)\b/i },
  { theme: "data quality", pattern: /\b(missing data|gap|stale|outdated|data quality|duplicate|sensor|meter)\b/i },
  { theme: "documentation and training", pattern: /\b(docs?|documentation|manual|training|guide|how to|tutorial)\b/i },
];

function higherPriority(a: Priority, b: Priority): Priority {
  return PRIORITIES.indexOf(a) >= PRIORITIES.indexOf(b) ? a : b;
}

/** Kind, priority and theme by keywords; the channel's priority is a floor. */
export function triageByRules(input: TriageInput): TriageResult {
  const text = input.text;
  const kind = KIND_RULES.find((rule) => rule.pattern.test(text))?.kind ?? input.defaultKind;
  let priority: Priority = input.defaultPriority;
  if (URGENT.test(text)) priority = higherPriority(priority, "critical");
  else if (IMPORTANT.test(text) || kind === "bug") priority = higherPriority(priority, "high");
  const theme = THEME_RULES.find((rule) => rule.pattern.test(text))?.theme ?? null;
  return { kind, priority, theme };
}

/** Applies a proposed triage (from Claude) without ever lowering the configured priority. */
export function mergeTriage(proposed: TriageResult, floor: Priority): TriageResult {
  return { ...proposed, priority: higherPriority(proposed.priority, floor) };
}
