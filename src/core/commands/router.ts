import type { KnownBlock } from "@slack/types";
import type { z } from "zod";
import { type Outcome, type Refusal, refuse } from "../refusal.js";
import { truncate } from "../../slack/text.js";
import { argumentsRefusal, compilePattern, editDistance, matchArguments, type Pattern, startsWith, tokenize, type Values } from "./grammar.js";

export interface Reply {
  text: string;
  blocks?: KnownBlock[];
  /** It quotes feedback text chosen for the person asking: it must reach no one else (SPEC §2a). */
  confidential?: boolean;
}

export interface CommandContext {
  user: string;
  channel: string;
  teamId?: string;
  /** The configured slash command, e.g. "/orch". */
  command: string;
  /** Only the person who typed the command sees it. */
  reply(message: Reply): Promise<void>;
  /** Everyone in the channel sees it. */
  replyInChannel(message: Reply): Promise<void>;
}

interface CommandSpec<A> {
  usage: string;
  /** How help shows the usage when the grammar line cannot say it (free-form arguments parsed by `args`). */
  display?: string;
  summary: string;
  example: string;
  /** The heading help lists it under, declared by the feature ("Releases"); groups appear in the order features first use them. */
  group: string;
  access?: "anyone" | "admins";
  /** Waits on something slow (a job's run, Claude): runs in its own lane, not in the queue of quick commands. */
  long?: boolean;
  /** Turns the matched words into typed arguments; its error messages are shown to the person as they are. */
  args?: z.ZodType<A, Values>;
  run(ctx: CommandContext, args: A): Promise<void>;
}

export interface Command {
  pattern: Pattern;
  summary: string;
  example: string;
  group: string;
  access: "anyone" | "admins";
  long: boolean;
  parse(values: Values): Outcome<{ args: unknown }>;
  run(ctx: CommandContext, args: unknown): Promise<void>;
}

export function defineCommand<A = Values>(spec: CommandSpec<A>): Command {
  return {
    pattern: { ...compilePattern(spec.usage), ...(spec.display ? { display: spec.display } : {}) },
    summary: spec.summary,
    example: spec.example,
    group: spec.group,
    access: spec.access ?? "anyone",
    long: spec.long ?? false,
    parse: (values) => {
      if (!spec.args) return { ok: true, args: values };
      const result = spec.args.safeParse(values);
      if (result.success) return { ok: true, args: result.data };
      return argumentsRefusal(result.error.issues[0]?.message ?? "invalid arguments");
    },
    run: (ctx, args) => spec.run(ctx, args as A),
  };
}

/** What a command text means: the command to run with its arguments, or why it is refused. */
export type Resolution = Outcome<{ command: Command; args: unknown }>;

/** One place that decides what a command text means: which command, which arguments, or what was wrong. */
export class CommandRouter {
  private readonly commands: Command[] = [];
  /** In the order features added them, for help. */
  private readonly registered: Command[] = [];
  /** Help headings in the order features first used them. */
  private readonly groups: string[] = [];

  constructor(
    readonly name: string,
    private readonly isAdmin: (user: string) => boolean,
    private readonly adminsLine: () => string,
  ) {}

  add(...commands: Command[]): void {
    for (const command of commands) {
      const clash = this.commands.find((c) => c.pattern.usage === command.pattern.usage);
      if (clash) throw new Error(`command ${command.pattern.usage} is registered twice`);
      this.commands.push(command);
      this.registered.push(command);
      if (!this.groups.includes(command.group)) this.groups.push(command.group);
    }
    // Longer literal prefixes first, so `release log <version>` wins over `release <version>`.
    this.commands.sort((a, b) => b.pattern.words.length - a.pattern.words.length);
  }

  list(): readonly Command[] {
    return [...this.registered].sort((a, b) => this.groups.indexOf(a.group) - this.groups.indexOf(b.group));
  }

  /** True when the word starts some command (`release`, `feedback`): text starting with it is a command, not a question. */
  isCommandWord(word: string): boolean {
    return this.commands.some((c) => c.pattern.words[0] === word.toLowerCase());
  }

  usageOf(command: Command): string {
    return `\`${this.name} ${command.pattern.display}\``;
  }

  resolve(text: string, user: string): Resolution {
    const tokens = tokenize(text);
    const first = tokens[0]?.value.toLowerCase();
    if (!first) return refuse(`Tell me what to do, e.g. \`${this.name} status\`. \`${this.name} help\` lists every command.`);
    const candidates = this.commands.filter((c) => startsWith(c.pattern, tokens));
    if (candidates.length === 0) {
      const family = this.commands.filter((c) => c.pattern.words[0] === first);
      if (family.length > 0) {
        const second = tokens[1]?.value;
        const forms = family.map((c) => `• ${this.usageOf(c)}`).join("\n");
        return refuse(`${second ? `\`${first} ${truncate(second, 30)}\` is not a command I know` : `\`${first}\` needs more`}. The \`${first}\` commands are:\n${forms}`);
      }
      return refuse(`I don't know the command \`${truncate(first, 40)}\`.${this.suggest(first)} See \`${this.name} help\` for every command.`);
    }
    let firstMismatch: { command: Command; refusal: Refusal } | undefined;
    for (const command of candidates) {
      const matched = matchArguments(command.pattern, text, tokens);
      if (!matched.ok) {
        firstMismatch ??= { command, refusal: matched };
        continue;
      }
      if (command.access === "admins" && !this.isAdmin(user)) {
        return refuse(`Only admins can use ${this.usageOf(command)}. ${this.adminsLine()}`);
      }
      const parsed = command.parse(matched.values);
      if (!parsed.ok) return this.withUsage(command, parsed);
      return { ok: true, command, args: parsed.args };
    }
    const { command, refusal } = firstMismatch as { command: Command; refusal: Refusal };
    return this.withUsage(command, refusal);
  }

  /** A mistake in the arguments, followed by the command's usage and example. */
  private withUsage(command: Command, refusal: Refusal): Refusal {
    return refuse(`${refusal.reason}\nUsage: ${this.usageOf(command)}, for example \`${this.name} ${command.example}\``);
  }

  private suggest(word: string): string {
    const words = [...new Set(this.commands.map((c) => c.pattern.words[0] ?? ""))];
    const best = words
      .map((w) => ({ w, d: editDistance(word, w) }))
      .filter((x) => x.d <= Math.max(1, Math.floor(x.w.length / 3)))
      .sort((a, b) => a.d - b.d)[0];
    return best ? ` Did you mean \`${this.name} ${best.w}\`?` : "";
  }
}
