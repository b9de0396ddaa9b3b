import type { KnownBlock } from "@slack/types";
import { z } from "zod";
import type { Feature } from "../../core/feature.js";
import { type Command, type CommandRouter, defineCommand } from "../../core/commands/router.js";
import { UserError } from "../../core/refusal.js";

/** `help [command]`: every command with an example, grouped; or the forms of one command. */
export const helpFeature: Feature = ({ commands }) => {
  commands.add(
    defineCommand({
      usage: "help [<topic...>]",
      summary: "every command with an example",
      example: "help release",
      group: "General",
      args: z.object({ topic: z.string().optional() }),
      run: async (ctx, { topic }) => {
        await ctx.reply(topic ? helpTopic(commands, topic) : helpAll(commands));
      },
    }),
  );
};

function line(router: CommandRouter, command: Command): string {
  const admin = command.access === "admins" ? " _(admins)_" : "";
  return `${router.usageOf(command)} — ${command.summary}${admin}\n      e.g. \`${router.name} ${command.example}\``;
}

function helpAll(router: CommandRouter): { text: string; blocks: KnownBlock[] } {
  const groups = new Map<string, Command[]>();
  for (const command of router.list()) groups.set(command.group, [...(groups.get(command.group) ?? []), command]);
  const blocks: KnownBlock[] = [
    { type: "header", text: { type: "plain_text", text: "Orchestrator commands" } },
    { type: "context", elements: [{ type: "mrkdwn", text: `Mention me (@Orchestrator) with a question, or use \`${router.name} <command>\`. \`${router.name} help <command>\` shows one command.` }] },
  ];
  const textLines: string[] = ["Orchestrator commands:"];
  for (const [group, list] of groups) {
    const body = list.map((c) => line(router, c)).join("\n");
    blocks.push({ type: "section", text: { type: "mrkdwn", text: `*${group}*\n${body}`.slice(0, 3000) } });
    textLines.push(...list.map((c) => `${router.name} ${c.pattern.display} — ${c.summary}`));
  }
  return { text: textLines.join("\n"), blocks };
}

function helpTopic(router: CommandRouter, topic: string): { text: string } {
  const words = topic.toLowerCase().split(/\s+/);
  const matching = router.list().filter((c) => words.every((w, i) => c.pattern.words[i] === undefined || c.pattern.words[i] === w) && c.pattern.words[0] === words[0]);
  if (matching.length === 0) throw new UserError(`There is no \`${router.name} ${topic.slice(0, 40)}\` command. \`${router.name} help\` lists them all.`);
  return { text: matching.map((c) => line(router, c)).join("\n") };
}
