/**
 * What is wrong with a five-field cron expression, in the file's terms ("hour 25 is out of range 0–23"),
 * or undefined when every field is well formed. Checked before cron-parser, whose own errors do not say
 * which field is wrong.
 */
const FIELDS = [
  { name: "minute", min: 0, max: 59 },
  { name: "hour", min: 0, max: 23 },
  { name: "day of month", min: 1, max: 31 },
  { name: "month", min: 1, max: 12, names: ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"] },
  { name: "day of week", min: 0, max: 7, names: ["sun", "mon", "tue", "wed", "thu", "fri", "sat"] },
] as const;

export function cronProblem(expression: string): string | undefined {
  const parts = expression.trim().split(/\s+/).filter(Boolean);
  if (parts.length !== FIELDS.length) {
    return `expected five fields (minute hour day-of-month month day-of-week), e.g. "0 9 * * 1"; got ${parts.length}`;
  }
  for (const [index, field] of FIELDS.entries()) {
    const text = parts[index] ?? "";
    for (const item of text.split(",")) {
      const problem = itemProblem(item.toLowerCase(), field);
      if (problem) return `${field.name} ${problem}`;
    }
  }
  return undefined;
}

// cron-parser's extensions (L, W, #, ?, H): left to it to judge.
const EXTENSION = /[#?(]|^l$|^l-\d+$|^\d*l$|^\d+w$|^lw$|^h/;

function itemProblem(item: string, field: (typeof FIELDS)[number]): string | undefined {
  if (EXTENSION.test(item) && fieldValue(item, field) === undefined) return undefined;
  const match = /^(\*|[a-z0-9]+(?:-[a-z0-9]+)?)(?:\/(\d+))?$/.exec(item);
  if (!match) return `"${item}" is not a value, range (1-5), list (1,3) or step (*/15)`;
  const [, range = "", step] = match;
  if (step !== undefined && Number(step) === 0) return `step "/0" must be at least 1`;
  if (range === "*") return undefined;
  const bounds = range.split("-").map((value) => fieldValue(value, field));
  for (const [position, bound] of bounds.entries()) {
    const raw = range.split("-")[position] ?? "";
    if (bound === undefined) return `"${raw}" is not a number`;
    if (bound < field.min || bound > field.max) return `${raw} is out of range ${field.min}–${field.max}`;
  }
  const [from, to] = bounds;
  if (from !== undefined && to !== undefined && from > to) return `range ${range} runs backwards`;
  return undefined;
}

function fieldValue(text: string, field: (typeof FIELDS)[number]): number | undefined {
  if (/^\d+$/.test(text)) return Number(text);
  const names: readonly string[] = "names" in field ? field.names : [];
  const index = names.indexOf(text);
  if (index < 0) return undefined;
  return field.name === "month" ? index + 1 : index;
}
