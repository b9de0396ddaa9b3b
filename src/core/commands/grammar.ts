/**
 * The command grammar: each command is declared by its usage line (`release <version> [to <env>]`),
 * and that one line both documents the command and parses its arguments. Pure functions, no Slack.
 *
 *   word            a literal word of the command
 *   <name>          a required argument          [<name>]        an optional one
 *   <name:a|b|c>    one of the listed values     <name...>       the rest of the text
 *   [to <name>]     an optional word and its argument
 *   [--flag <name>] an option, anywhere after the command words
 *   [--flag <name...>] an option that takes the rest of the text (a reason)
 */

import { truncate } from "../../slack/text.js";
import { type Outcome, type Refusal, refuse } from "../refusal.js";

interface ArgSpec {
  name: string;
  optional: boolean;
  rest: boolean;
  choices?: string[];
  /** A word that introduces the argument, as "to" in `[to <env>]`. */
  keyword?: string;
}

export interface Pattern {
  usage: string;
  /** The usage as people read it: `<status:open|closed>` shows as `<open|closed>`. */
  display: string;
  words: string[];
  args: ArgSpec[];
  options: ArgSpec[];
}

interface Token {
  value: string;
  start: number;
  end: number;
}

export type Values = Record<string, string | undefined>;

/** A mistake in a command's words, as the sentence the person reads (the router adds the usage line). */
export function argumentsRefusal(problem: string): Refusal {
  return refuse(`${problem.charAt(0).toUpperCase()}${problem.slice(1)}.`);
}

const ARG = /^<([a-z][a-z-]*)(?::([^>]+))?(\.\.\.)?>$/;

export function compilePattern(usage: string): Pattern {
  const parts = usage.match(/\[[^\]]+\]|\S+/g) ?? [];
  const words: string[] = [];
  const args: ArgSpec[] = [];
  const options: ArgSpec[] = [];
  for (const part of parts) {
    if (part.startsWith("[")) {
      const inner = part.slice(1, -1).trim().split(/\s+/);
      if (inner.length === 1) {
        args.push({ ...parseArg(inner[0] ?? "", usage), optional: true });
      } else if (inner.length === 2 && inner[0]?.startsWith("--")) {
        options.push({ ...parseArg(inner[1] ?? "", usage), name: inner[0].slice(2), optional: true });
      } else if (inner.length === 2) {
        args.push({ ...parseArg(inner[1] ?? "", usage), optional: true, keyword: inner[0] });
      } else {
        throw new Error(`unsupported usage part ${part} in "${usage}"`);
      }
    } else if (part.startsWith("<")) {
      args.push(parseArg(part, usage));
    } else {
      if (args.length > 0) throw new Error(`literal word after arguments in "${usage}"`);
      words.push(part.toLowerCase());
    }
  }
  // A one-choice argument is a literal word after arguments (`release <version> <action:regate>` shows as `… regate`).
  const display = usage.replace(/<[a-z][a-z-]*:([^>|]+)>/g, "$1").replace(/<[a-z][a-z-]*:([^>]+)>/g, "<$1>");
  return { usage, display, words, args, options };
}

function parseArg(text: string, usage: string): ArgSpec {
  const match = ARG.exec(text);
  if (!match?.[1]) throw new Error(`bad argument ${text} in "${usage}"`);
  return { name: match[1], optional: false, rest: match[3] !== undefined, ...(match[2] ? { choices: match[2].split("|") } : {}) };
}

const QUOTES: Record<string, string> = { '"': '"', "'": "'", "“": "”", "‘": "’", "„": "“" };

/** Splits on whitespace, keeping quoted phrases (straight or curly quotes, as Slack clients send) together. */
export function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    while (i < text.length && /\s/.test(text[i] ?? "")) i += 1;
    if (i >= text.length) break;
    const open = text[i] ?? "";
    const close = QUOTES[open];
    if (close !== undefined) {
      const end = text.indexOf(close, i + 1);
      if (end > i) {
        tokens.push({ value: text.slice(i + 1, end), start: i, end: end + 1 });
        i = end + 1;
        continue;
      }
    }
    const start = i;
    while (i < text.length && !/\s/.test(text[i] ?? "")) i += 1;
    tokens.push({ value: text.slice(start, i), start, end: i });
  }
  return tokens;
}

/** True when the tokens begin with the pattern's words. */
export function startsWith(pattern: Pattern, tokens: Token[]): boolean {
  return pattern.words.every((word, index) => tokens[index]?.value.toLowerCase() === word);
}

/** Matches the tokens after the command words against the pattern's arguments and options. */
export function matchArguments(pattern: Pattern, text: string, tokens: Token[]): Outcome<{ values: Values }> {
  const values: Values = {};
  const remaining: Token[] = [];
  const rest = tokens.slice(pattern.words.length);
  for (let i = 0; i < rest.length; i += 1) {
    const token = rest[i] as Token;
    const flag = /^--([a-z][a-z-]*)(?:=(.*))?$/.exec(token.value);
    if (!flag?.[1] || (pattern.options.length === 0 && !pattern.args.some((a) => a.rest))) {
      remaining.push(token);
      continue;
    }
    const option = pattern.options.find((o) => o.name === flag[1]);
    if (!option) {
      if (pattern.args.some((a) => a.rest)) {
        remaining.push(token);
        continue;
      }
      return argumentsRefusal(`unknown option \`--${flag[1]}\``);
    }
    let value = flag[2];
    if (option.rest) {
      // `[--emergency <reason...>]`: the option takes the rest of the text, as a reason in words.
      const taken = rest.slice(i + 1);
      value = [value, taken.length === 1 ? (taken[0] as Token).value : joinRaw(text, taken)].filter(Boolean).join(" ").trim();
      if (!value) return argumentsRefusal(`\`--${option.name}\` needs text after it`);
      values[option.name] = value;
      break;
    }
    if (value === undefined) {
      const next = rest[i + 1];
      if (!next || next.value.startsWith("--")) return argumentsRefusal(`\`--${option.name}\` needs a value`);
      value = next.value;
      i += 1;
    }
    if (values[option.name] !== undefined) return argumentsRefusal(`\`--${option.name}\` is given twice`);
    const problem = checkChoice(option, value);
    if (problem) return argumentsRefusal(problem);
    values[option.name] = option.choices ? value.toLowerCase() : value;
  }

  let index = 0;
  for (const arg of pattern.args) {
    const token = remaining[index];
    if (arg.keyword !== undefined) {
      if (token?.value.toLowerCase() !== arg.keyword) continue;
      const value = remaining[index + 1];
      if (!value) return argumentsRefusal(`\`${arg.keyword}\` needs ${article(arg.name)}`);
      const problem = checkChoice(arg, value.value);
      if (problem) return argumentsRefusal(problem);
      values[arg.name] = arg.choices ? value.value.toLowerCase() : value.value;
      index += 2;
      continue;
    }
    if (arg.rest) {
      const taken = remaining.slice(index);
      index = remaining.length;
      // One quoted phrase is taken without its quotes; several words keep their spacing and newlines.
      const joined = (taken.length === 1 ? (taken[0] as Token).value : joinRaw(text, taken)).trim();
      if (!joined) {
        if (arg.optional) continue;
        return argumentsRefusal(`missing ${article(arg.name)}`);
      }
      values[arg.name] = joined;
      continue;
    }
    if (!token) {
      if (arg.optional) continue;
      return argumentsRefusal(`missing ${article(arg.name)}`);
    }
    const problem = checkChoice(arg, token.value);
    if (problem) return argumentsRefusal(problem);
    values[arg.name] = arg.choices ? token.value.toLowerCase() : token.value;
    index += 1;
  }
  const extra = remaining.slice(index);
  if (extra.length > 0) {
    return argumentsRefusal(`unexpected \`${truncate(extra.map((t) => t.value).join(" "), 60)}\``);
  }
  return { ok: true, values };
}

function checkChoice(arg: ArgSpec, value: string): string | undefined {
  if (!arg.choices) return undefined;
  if (arg.choices.includes(value.toLowerCase())) return undefined;
  return `\`${truncate(value, 40)}\` is not a valid ${arg.name}: use one of ${arg.choices.map((c) => `\`${c}\``).join(", ")}`;
}

/** The original text of non-adjacent tokens, keeping spacing and newlines between neighbours. */
function joinRaw(text: string, tokens: Token[]): string {
  let out = "";
  tokens.forEach((token, i) => {
    const previous = tokens[i - 1];
    if (previous) out += text.slice(previous.end, token.start).includes("--") ? " " : text.slice(previous.end, token.start);
    out += text.slice(token.start, token.end);
  });
  return out;
}

function article(name: string): string {
  return /^[aeiou]/.test(name) ? `an ${name}` : `a ${name}`;
}

/** Levenshtein distance, for "did you mean" on mistyped command words. */
export function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i += 1) {
    let diagonal = row[0] as number;
    row[0] = i;
    for (let j = 1; j <= b.length; j += 1) {
      const above = row[j] as number;
      row[j] = Math.min(above + 1, (row[j - 1] as number) + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length] as number;
}
