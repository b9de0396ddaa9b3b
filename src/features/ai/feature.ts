import type { KnownBlock } from "@slack/types";
import { z } from "zod";
import type { CommandContext, Reply, Resolution } from "../../core/commands/router.js";
import { defineCommand } from "../../core/commands/router.js";
import type { Feature, Services } from "../../core/feature.js";
import { refusalReply } from "../../core/commands/runner.js";
import type { FeedbackAccess } from "../feedback/index.js";
import type { ReleaseService } from "../releases/index.js";
import { plural, quoteSlackText, truncate } from "../../slack/text.js";
import { formatDateTime } from "../../time.js";
import { type Claude, describeAiError, textOf, usageThisMonth } from "./claude.js";
import { asData, converse, type ThreadMessage, threadToTurns } from "./conversation.js";
import { plainTopic } from "./plain.js";
import type { Prompts } from "./prompts.js";
import type { ClaudeTriage } from "./claude-triage.js";

interface AiFeatureOptions {
  /** Absent without ANTHROPIC_API_KEY: every AI feature answers plainly instead. */
  claude?: Claude;
  prompts: Prompts;
  releases: ReleaseService;
  triage?: ClaudeTriage;
  /** How long a mention may take in all, tool rounds included. */
  mentionDeadlineMs?: number;
  /** Who may read which feedback text: tools show Claude only what the asker may read. */
  access: FeedbackAccess;
}

const mentionEvent = z.object({
  user: z.string(),
  text: z.string().default(""),
  ts: z.string(),
  channel: z.string(),
  thread_ts: z.string().optional(),
});

const PLACEHOLDER = ":hourglass_flowing_sand: _Looking into it…_";

/** Mentions answered in their thread (by Claude with tools, or plainly), `/orch ask`, and Claude's usage in `/orch status`. */
export function aiFeature(options: AiFeatureOptions): Feature {
  return ({ listeners, services, commands, commandRunner, status, onStop }) => {
    const { log, config, background } = services;
    const { claude, prompts } = options;
    const specialistNames = [...prompts.specialists.keys()];
    const systemForMentions = `${prompts.orchestrator.body}\n\n## This team's configuration\n${teamFacts(services)}`;

    const askSpecialist = async (name: string, question: string, asker: string): Promise<string> => {
      const specialist = prompts.specialists.get(name);
      if (!specialist) throw new Error(`unknown specialist ${name}`);
      if (!claude) return plainSpecialistAnswer(name, specialist.description, specialist.checklist);
      const reply = await claude.call({
        purpose: `ask:${name}`,
        system: `${specialist.body}\n\n## This team's configuration\n${teamFacts(services)}`,
        messages: [{ role: "user", content: asData("slack_message", { author: asker }, question) }],
        maxTokens: 1200,
      });
      return textOf(reply) || "I have nothing to add.";
    };

    listeners.event("app_mention", async ({ event }) => {
      const parsed = mentionEvent.safeParse(event);
      if (!parsed.success) return;
      // The answer takes seconds; the event is acknowledged now and answered in the thread.
      void background.run(`answer mention ${parsed.data.ts}`, (signal) => answerMention(parsed.data, signal));
    });

    const answerMention = async (mention: z.infer<typeof mentionEvent>, signal: AbortSignal) => {
      const root = mention.thread_ts ?? mention.ts;
      const text = mention.text.replace(new RegExp(`<@${services.bot.userId}(\\|[^>]*)?>`, "g"), "").trim();
      const history = claude ? await threadHistory(services, mention.channel, root, mention.ts) : [];
      const placeholder = await services.poster.post(mention.channel, { threadTs: root, text: PLACEHOLDER });
      const placeholderTs = placeholder.ts;
      const show = async (reply: Reply) => {
        const message = { text: truncate(reply.text, 3900), blocks: reply.blocks ?? textBlocks(reply.text) };
        if (reply.confidential) {
          // It quotes feedback chosen for the asker: only they see it, in the thread (SPEC §2a).
          await services.poster.ephemeral(mention.channel, mention.user, { ...message, threadTs: root });
          const note = `<@${mention.user}> I answered you privately: the answer quotes feedback that not everyone here may read.`;
          await services.poster.update(mention.channel, placeholderTs, { text: note, blocks: textBlocks(note) });
          return;
        }
        await services.poster.update(mention.channel, placeholderTs, message);
      };
      try {
        if (!claude) {
          await plainMentionAnswer(text, mention, show);
          return;
        }
        const now = formatDateTime(new Date(), config.timezone);
        const turns = threadToTurns([...history, { user: mention.user, text: mention.text, ts: mention.ts }], services.bot.userId);
        const last = turns.at(-1);
        if (last?.role === "user" && typeof last.content === "string") last.content = `(Asked by <@${mention.user}> on ${now}.)\n${last.content}`;
        const revealed = new Set<number>();
        const result = await converse(claude, {
          system: systemForMentions,
          turns,
          tools: {
            services,
            releases: options.releases,
            user: mention.user,
            specialists: specialistNames,
            askSpecialist: (name, question) => askSpecialist(name, question, mention.user),
            feedbackAudience: (channels) => options.access.person(mention.user, channels),
            revealed,
          },
          deadlineMs: options.mentionDeadlineMs ?? 90_000,
          signal,
        });
        log.info("mention answered", { channel: mention.channel, rounds: result.rounds, tools: result.toolsUsed, privately: revealed.size > 0 });
        await show({ text: quoteSlackText(result.answer), ...(revealed.size > 0 ? { confidential: true } : {}) });
      } catch (error) {
        log.error("could not answer a mention", { channel: mention.channel, ts: mention.ts, error });
        await show({ text: "Sorry, something went wrong while answering; it has been logged. `/orch help` lists what I can do without Claude." }).catch(() => undefined);
      }
    };

    /** A mention that is a command runs it as the slash command would, answering in place of the placeholder ("Done." when the command says nothing). */
    const runCommand = async (resolution: Extract<Resolution, { ok: true }>, mention: z.infer<typeof mentionEvent>, show: (reply: Reply) => Promise<void>): Promise<void> => {
      let answered = false;
      const respond = async (reply: Reply) => {
        answered = true;
        await show(reply);
      };
      const ctx: CommandContext = {
        user: mention.user,
        channel: mention.channel,
        teamId: services.bot.teamId,
        command: commands.name,
        reply: respond,
        replyInChannel: respond,
      };
      await commandRunner.run(resolution.command, resolution.args, ctx);
      if (!answered) await show({ text: "Done." });
    };

    /**
     * Without Claude, one message: a mention that is a command runs it (same rules, queue and answers as the
     * slash command), a command with a mistake says what was wrong, a question about releases, health,
     * feedback or jobs is answered from the data (feedback as counts only: its text is not for everyone),
     * anything else says once what works without Claude.
     */
    const plainMentionAnswer = async (text: string, mention: z.infer<typeof mentionEvent>, show: (reply: Reply) => Promise<void>): Promise<void> => {
      const resolution = text ? commands.resolve(text, mention.user) : undefined;
      if (resolution?.ok) return runCommand(resolution, mention, show);
      const firstWord = text.split(/\s+/)[0] ?? "";
      if (resolution?.ok === false && commands.isCommandWord(firstWord)) return show(refusalReply(resolution));
      const topic = plainTopic(
        text,
        config.environments.map((e) => e.name),
      );
      if (topic === "jobs") {
        const jobs = commands.resolve("jobs", mention.user);
        if (jobs.ok) return runCommand(jobs, mention, show);
      }
      await show(await plainDataAnswer(topic));
    };

    /** A plain question's answer from Orchestrator's own data, or what works without Claude. */
    const plainDataAnswer = async (topic: ReturnType<typeof plainTopic>): Promise<Reply> => {
      switch (topic) {
        case "releases":
          return status.renderOnly(["Environments", "Releases in flight"], "Releases");
        case "health":
          return status.renderOnly(["Environments"], "Environments and health");
        case "feedback":
          return status.renderOnly(["Feedback"], "Feedback");
        case "jobs":
          return status.renderOnly(["Jobs"], "Jobs");
        case "status":
          return status.render();
        default: {
          const name = "@Orchestrator";
          const intro = [
            `Claude is not set up here (no ANTHROPIC_API_KEY), so I answer commands and plain questions from Orchestrator's own data:`,
            `• a command, e.g. \`${name} release 1.4.0\` or \`${name} health\``,
            `• what is live or in flight, e.g. \`${name} what is live on production?\``,
            `• feedback counts, jobs and digests, e.g. \`${name} when is the next digest?\``,
            `\`${commands.name} help\` lists every command.`,
          ].join("\n");
          return { text: intro, blocks: [{ type: "section", text: { type: "mrkdwn", text: intro } }] };
        }
      }
    };

    commands.add(
      defineCommand({
        usage: "ask <specialist> <question...>",
        summary: "a question to one specialist prompt, answered in a thread",
        example: "ask security-auditor what should we check before the 1.5.0 release?",
        group: "Specialists",
        long: true,
        args: z.object({
          specialist: z.string().refine((name) => prompts.specialists.has(name), {
            error: (issue) => `\`${String(issue.input).slice(0, 40)}\` is not a specialist. Ask one of: ${specialistNames.map((n) => `\`${n}\``).join(", ")}`,
          }),
          question: z.string().max(3000, { error: "the question is too long (at most 3,000 characters)" }),
        }),
        run: async (ctx, { specialist, question }) => {
          let threadTs: string | undefined;
          try {
            const posted = await services.poster.post(ctx.channel, { text: `<@${ctx.user}> asked the *${specialist}*: ${quoteSlackText(question)}` });
            threadTs = posted.ts;
          } catch (error) {
            log.info("could not post the question in the channel; answering privately", { channel: ctx.channel, error });
          }
          let answer: string;
          try {
            answer = await askSpecialist(specialist, question, ctx.user);
          } catch (error) {
            answer = `Sorry, the ${specialist} could not answer: ${describeAiError(error)}. Try again in a minute.`;
          }
          const text = quoteSlackText(answer);
          if (threadTs) await services.poster.post(ctx.channel, { threadTs, text: truncate(text, 3900), blocks: textBlocks(text) });
          else await ctx.reply({ text: truncate(`*${specialist}*: ${text}`, 3900) });
        },
      }),
    );

    status.add({
      title: "Claude",
      order: 50,
      render: async () => {
        if (!claude) return "Not configured (no ANTHROPIC_API_KEY): mentions answer commands, triage uses keyword rules, digests use the plain recommendations.";
        const usage = await usageThisMonth(services.db, config.timezone);
        return `${claude.model}: ${plural(usage.calls, "call")} this month (${usage.failed} failed), ${usage.input.toLocaleString("en-US")} input and ${usage.output.toLocaleString("en-US")} output tokens, ${usage.cacheRead.toLocaleString("en-US")} read from the prompt cache.`;
      },
    });

    onStop(() => options.triage?.stop());
  };
}

/** What every prompt should know about this team, from the config. Static, so the system prompt stays cacheable. */
function teamFacts(services: Services): string {
  const { config } = services;
  const environments = config.environments.map((e) => `• ${e.name}: ${e.approvals} approval(s)${e.after ? `, only versions live on ${e.after} first` : ""}`).join("\n");
  const gates = config.gates.map((g) => `• ${g.name}${"manual" in g ? " (confirmed by the approver)" : ""}`).join("\n") || "• none";
  return [
    `Timezone: ${config.timezone}. Slash command: ${config.command}.`,
    `Environments in promotion order:\n${environments}`,
    `Gates checked before approval:\n${gates}`,
    `Approvers: ${config.people.approvers.map((u) => `<@${u}>`).join(", ")}. Admins: ${config.people.admins.map((u) => `<@${u}>`).join(", ") || "none"}.`,
    `Releases channel: <#${config.channels.releases}>. Pending approvals expire after ${Math.round(config.approval.expiresAfter / 3_600_000)} hours.`,
  ].join("\n");
}

async function threadHistory(services: Services, channel: string, root: string, before: string): Promise<ThreadMessage[]> {
  if (root === before) return [];
  try {
    const replies = await services.slack.conversations.replies({ channel, ts: root, limit: 40 });
    return (replies.messages ?? [])
      .filter((m) => typeof m.ts === "string" && Number(m.ts) < Number(before))
      .map((m) => ({ ...(m.user ? { user: m.user } : {}), ...(m.bot_id ? { botId: m.bot_id } : {}), text: m.text ?? "", ts: m.ts as string }));
  } catch (error) {
    services.log.warn("could not read the thread for a mention; answering without it", { channel, root, error });
    return [];
  }
}

function plainSpecialistAnswer(name: string, description: string, checklist: string[]): string {
  return `Claude is not set up here (no ANTHROPIC_API_KEY), so here is the *${name}* checklist (${description.replace(/\.$/, "")}):\n${checklist.map((line) => `• ${line}`).join("\n")}`;
}

/** Long text as sections of at most 3,000 characters, cut at line breaks where possible. */
function textBlocks(text: string): KnownBlock[] {
  const blocks: KnownBlock[] = [];
  let rest = text.trim() || " ";
  while (rest.length > 0 && blocks.length < 10) {
    let cut = rest.length <= 2900 ? rest.length : rest.lastIndexOf("\n", 2900);
    if (cut < 1000) cut = Math.min(rest.length, 2900);
    blocks.push({ type: "section", text: { type: "mrkdwn", text: rest.slice(0, cut) } });
    rest = rest.slice(cut).trimStart();
  }
  return blocks;
}
