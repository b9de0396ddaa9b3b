import type { MessageShortcut } from "@slack/bolt";
import { eq, isNull, sql } from "drizzle-orm";
import { z } from "zod";
import { defineCommand } from "../../core/commands/router.js";
import { PRIORITIES } from "../../config/schema.js";
import { FEEDBACK_STATUSES, type FeedbackStatus, feedback } from "../../db/schema.js";
import type { Feature } from "../../core/feature.js";
import { type Outcome, refuse, UserError } from "../../core/refusal.js";
import { pruneEventIds } from "../../slack/dedupe.js";
import { cutList, escapeMrkdwn, moreLine, plural, quoteSlackText, truncate } from "../../slack/text.js";
import { formatAgo } from "../../time.js";
import { normalizeVersion } from "../releases/index.js";
import { markFixed, settleFixes } from "./fixes.js";
import { analysisMessage } from "./report.js";
import { type FeedbackService, slackMessageSchema } from "./service.js";
import { feedbackStats } from "./stats.js";
import { addManualFeedback, linkSprint, recentFeedback, setStatus } from "./store.js";
import { triageByRules } from "./keyword-triage.js";
import { type FeedbackAccess, forAudience, hiddenText } from "./visibility.js";

const RECORD_SHORTCUT = "record_feedback";

const messageEvent = z.object({
  channel: z.string(),
  subtype: z.string().optional(),
  message: slackMessageSchema.optional(),
  previous_message: slackMessageSchema.optional(),
  deleted_ts: z.string().optional(),
});

const reactionEvent = z.object({
  reaction: z.string(),
  user: z.string(),
  item: z.object({ type: z.string(), channel: z.string().optional(), ts: z.string().optional() }),
});

const feedbackId = z
  .string()
  .regex(/^#?\d{1,9}$/, { error: (issue) => `\`${String(issue.input).slice(0, 30)}\` is not a feedback id: use the number shown by \`feedback list\`, e.g. 42` })
  .transform((id) => Number(id.replace("#", "")));

const period = z
  .string()
  .regex(/^\d{1,3}d$/, { error: (issue) => `\`${String(issue.input).slice(0, 30)}\` is not a period: use days, e.g. 30d` })
  .transform((p) => Number(p.slice(0, -1)))
  .refine((days) => days >= 1 && days <= 365, { error: "the period must be between 1d and 365d" })
  .optional();

/** Stakeholder feedback (SPEC §5): capture from Slack, backfill, triage, and the `feedback` commands. */
export function feedbackFeature(service: FeedbackService, access: FeedbackAccess): Feature {
  return ({ listeners, services, commands, status, jobs, onStart }) => {
    const { config, db, log, background } = services;

    // Every human message, thread reply, edit and deletion. A failure to store rethrows, so the HTTP
    // receiver answers 5xx and Slack redelivers the event: nothing is lost while the database is down.
    listeners.event("message", async ({ event }) => {
      const parsed = messageEvent.safeParse(event);
      if (!parsed.success) return;
      const { channel, subtype, message: changed, previous_message: previous } = parsed.data;
      // A thread parent deleted while it has replies becomes a tombstone ("This message was deleted."): a deletion.
      if (subtype === "message_changed" && changed?.subtype === "tombstone") {
        await service.remove(channel, changed.ts, previous);
        return;
      }
      if (subtype === "message_changed" && changed) {
        await service.edit(channel, changed);
        return;
      }
      if (subtype === "message_deleted" && parsed.data.deleted_ts) {
        await service.remove(channel, parsed.data.deleted_ts, previous);
        return;
      }
      const message = slackMessageSchema.safeParse(event);
      if (message.success) await service.recordChannelMessage(channel, message.data);
    });

    listeners.event("reaction_added", async ({ event }) => {
      const parsed = reactionEvent.safeParse(event);
      if (!parsed.success) return;
      const { reaction, item } = parsed.data;
      if (reaction !== config.feedback.reaction || item.type !== "message" || !item.channel || !item.ts) return;
      await service.captureByReaction(item.channel, item.ts);
    });

    listeners.shortcut<MessageShortcut>(RECORD_SHORTCUT, async ({ ack, shortcut, respond }) => {
      await ack();
      // After the ack, tracked, so shutdown waits for the answer.
      void background.run("record feedback from the shortcut", async () => {
        await respond({ response_type: "ephemeral", text: shortcutAnswer(await recordFromShortcut(shortcut)) });
      });
    });

    /** The feedback id the shortcut recorded, or why nothing was recorded. */
    const recordFromShortcut = async (shortcut: MessageShortcut): Promise<Outcome<{ id: number }>> => {
      const message = slackMessageSchema.safeParse(shortcut.message);
      if (!message.success) return refuse("I could not read that message, so nothing was recorded.");
      try {
        const id = await service.record(shortcut.channel.id, message.data, "shortcut", { source: "Slack shortcut", kind: "direct-feedback", priority: "medium" });
        return id !== undefined ? { ok: true, id } : refuse("That message was already recorded as feedback.");
      } catch (error) {
        log.error("recording feedback from the shortcut failed", { channel: shortcut.channel.id, error });
        return refuse("Sorry, the message could not be recorded right now (it has been logged); try again in a minute.");
      }
    };

    commands.add(
      defineCommand({
        usage: "feedback add <text...> [--kind <kind>] [--priority <priority:low|medium|high|critical>]",
        summary: "record feedback by hand",
        example: "feedback add Voltage chart hides the 22 kV feeders --kind bug --priority high",
        group: "Feedback",
        args: z.object({
          text: z.string().max(4000, { error: "the text is too long (at most 4,000 characters)" }),
          kind: z
            .string()
            .regex(/^[a-z][a-z0-9-]{1,39}$/, { error: (issue) => `\`${String(issue.input).slice(0, 30)}\` is not a kind: use words joined by dashes, e.g. feature-request` })
            .optional(),
          priority: z.enum(PRIORITIES).optional(),
        }),
        run: async (ctx, args) => {
          const triage = triageByRules({ text: args.text, defaultKind: args.kind ?? "direct-feedback", defaultPriority: args.priority ?? "medium" });
          const row = await addManualFeedback(db, {
            teamId: ctx.teamId ?? null,
            channel: ctx.channel,
            author: ctx.user,
            text: args.text,
            source: "Slack command",
            kind: args.kind ?? triage.kind,
            priority: args.priority ?? triage.priority,
            theme: triage.theme,
            capturedBy: "command",
            // What the person set is theirs: Claude's triage leaves such a row alone.
            triagedBy: args.kind || args.priority ? "person" : "rules",
          });
          services.metrics.feedbackRecorded.inc({ captured_by: "command" });
          if (row.triagedBy === "rules") service.triageLater(row.id);
          await ctx.reply({ text: `Recorded feedback #${row.id} (${row.kind}, ${row.priority}${row.theme ? `, theme: ${row.theme}` : ""}).` });
        },
      }),
      defineCommand({
        usage: "feedback list [<status:open|in-progress|closed>]",
        summary: "recent feedback with ids (open and in progress unless you name a status)",
        example: "feedback list open",
        group: "Feedback",
        run: async (ctx, args) => {
          const statuses: FeedbackStatus[] = args.status ? [args.status as FeedbackStatus] : ["open", "in-progress"];
          const { rows, total } = await recentFeedback(db, statuses, 20);
          const label = args.status ?? "open or in-progress";
          if (rows.length === 0) {
            await ctx.reply({ text: `No ${label} feedback.` });
            return;
          }
          // Every item is listed, but its text only for someone who may read it (SPEC §2a).
          const shown = forAudience(
            rows,
            await access.person(
              ctx.user,
              rows.map((f) => f.channel),
            ),
          );
          const lines = shown.map((f) => {
            const firstLine = f.text === null ? hiddenText(f.channel) : truncate(quoteSlackText(f.text.split("\n")[0] ?? ""), 90).replace(/<[^>]*$/, "…");
            const link = f.permalink ? ` · <${f.permalink}|message>` : "";
            return `*#${f.id}* · ${f.status} · ${f.priority} · ${f.kind} · <@${f.author}>, ${formatAgo(f.postedAt)} · ${firstLine}${link}`;
          });
          const more = total > rows.length ? `\n${moreLine(total - rows.length)}` : "";
          await ctx.reply({
            text: `*${total} ${label} feedback* (newest first)\n${lines.join("\n")}${more}`.slice(0, 3900),
            ...(shown.some((f) => f.text !== null) ? { confidential: true } : {}),
          });
        },
      }),
      defineCommand({
        usage: "feedback analyze [<period>]",
        summary: "counts by kind, priority, source and status; weekly trend; top themes",
        example: "feedback analyze 30d",
        group: "Feedback",
        args: z.object({ period }),
        run: async (ctx, args) => {
          const days = args.period ?? 30;
          const until = new Date();
          const stats = await feedbackStats(db, { since: new Date(until.getTime() - days * 86_400_000), until, timeZone: config.timezone });
          await ctx.reply(analysisMessage(stats, days, config.timezone));
        },
      }),
      defineCommand({
        usage: "feedback status <id> <status:open|in-progress|closed>",
        summary: "move feedback along",
        example: "feedback status 42 in-progress",
        group: "Feedback",
        access: "admins",
        args: z.object({ id: feedbackId, status: z.enum(FEEDBACK_STATUSES) }),
        run: async (ctx, args) => {
          const changed = await setStatus(db, args.id, args.status, ctx.user);
          if (!changed) throw noSuchFeedback(ctx.command, args.id);
          await ctx.reply({ text: changed.before === args.status ? `Feedback #${args.id} was already ${args.status}.` : `Feedback #${args.id} is now *${args.status}* (was ${changed.before}).` });
          if (changed.before !== args.status)
            void background.run(`tell the thread of feedback #${args.id}`, () => tellThread(changed.row, `This feedback (#${args.id}) is now *${args.status}*, set by <@${ctx.user}>.`));
        },
      }),
      defineCommand({
        usage: "feedback fixed <id> <version>",
        summary: `when that version is live on ${config.environments.at(-1)?.name ?? "the last environment"}, close it and tell its thread`,
        example: "feedback fixed 42 1.4.1",
        group: "Feedback",
        access: "admins",
        args: z.object({
          id: feedbackId,
          version: z.string().refine((v) => normalizeVersion(v) !== undefined, {
            error: (issue) => `\`${String(issue.input).slice(0, 40)}\` is not a version: use semver like 1.4.1 or v1.4.1-rc.1`,
          }),
        }),
        run: async (ctx, args) => {
          const last = config.environments.at(-1)?.name ?? "the last environment";
          const marked = await markFixed(db, args.id, normalizeVersion(args.version) as string, args.version, ctx.user);
          if (marked === "missing") throw noSuchFeedback(ctx.command, args.id);
          if (marked === "closed") {
            throw new UserError(`Feedback #${args.id} is already closed. Reopen it with \`${ctx.command} feedback status ${args.id} open\` first if the fix is still to ship.`);
          }
          await settleFixes(services);
          const [now] = await db.select({ status: feedback.status }).from(feedback).where(eq(feedback.id, args.id));
          const was = marked.before && marked.before !== args.version ? ` (was tied to \`${escapeMrkdwn(marked.before)}\`)` : "";
          await ctx.reply({
            text:
              now?.status === "closed"
                ? `Feedback #${args.id} is closed: \`${escapeMrkdwn(args.version)}\` is already live on ${last}, and its thread was told${was}.`
                : `Feedback #${args.id} will be closed when \`${escapeMrkdwn(args.version)}\` is live on ${last}; its thread will be told then${was}.`,
          });
        },
      }),
      defineCommand({
        usage: "feedback link <id> <sprint>",
        summary: "tie feedback to a sprint",
        example: "feedback link 42 sprint-24",
        group: "Feedback",
        access: "admins",
        args: z.object({
          id: feedbackId,
          sprint: z
            .string()
            .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$/, { error: (issue) => `\`${String(issue.input).slice(0, 40)}\` is not a sprint name: use letters, digits, dots and dashes, e.g. sprint-24` }),
        }),
        run: async (ctx, args) => {
          const linked = await linkSprint(db, args.id, args.sprint, ctx.user);
          if (!linked) throw noSuchFeedback(ctx.command, args.id);
          await ctx.reply({
            text: `Feedback #${args.id} is linked to sprint *${escapeMrkdwn(args.sprint)}*${linked.before && linked.before !== args.sprint ? ` (was ${escapeMrkdwn(linked.before)})` : ""}.`,
          });
        },
      }),
    );

    const tellThread = async (row: { channel: string; ts: string | null; threadTs: string | null }, text: string) => {
      if (!row.ts) return;
      try {
        await services.poster.post(row.channel, { threadTs: row.threadTs ?? row.ts, text });
      } catch (error) {
        log.warn("could not tell a feedback thread about a change", { channel: row.channel, ts: row.ts, error });
      }
    };

    status.add({
      title: "Feedback",
      order: 40,
      render: async () => {
        const rows = await db
          .select({ status: feedback.status, priority: feedback.priority, count: sql<number>`count(*)::int` })
          .from(feedback)
          .where(isNull(feedback.deletedAt))
          .groupBy(feedback.status, feedback.priority);
        const byStatus = (s: string) => rows.filter((r) => r.status === s).reduce((n, r) => n + r.count, 0);
        const urgent = rows.filter((r) => r.status !== "closed" && (r.priority === "critical" || r.priority === "high")).reduce((n, r) => n + r.count, 0);
        return `${byStatus("open")} open, ${byStatus("in-progress")} in progress, ${byStatus("closed")} closed — ${urgent} open high/critical`;
      },
    });

    jobs.define("feedback-backfill", async ({ signal }) => {
      const reports = await service.backfill(signal);
      // Housekeeping of the ingestion path: event ids older than Slack's redelivery window.
      await pruneEventIds(db);
      const recorded = reports.reduce((n, r) => n + r.recorded, 0);
      const lines = cutList(
        reports.map((r) =>
          r.error
            ? `<#${r.channel}>: could not be read (${r.error})`
            : `<#${r.channel}>: ${r.recorded} recorded of ${r.examined} messages read (${r.threads} threads); ${r.updated} edited, ${r.deleted} deleted since`,
        ),
        10,
      );
      const failed = reports.filter((r) => r.error);
      return {
        status: failed.length > 0 ? "failed" : "succeeded",
        summary: `${plural(recorded, "missed message")} recorded.${failed.length > 0 ? ` ${failed.length} channel(s) could not be read: ${failed.map((r) => `<#${r.channel}> (${r.error})`).join(", ")}.` : ""}`,
        outputTail: lines.join("\n"),
        details: { reports },
      };
    });

    onStart(() => {
      void background.run("feedback backfill at start-up", async (signal) => {
        try {
          const reports = await service.backfill(signal);
          const recorded = reports.reduce((n, r) => n + r.recorded, 0);
          log.info("feedback backfill at start-up done", { recorded, channels: reports.length });
        } catch (error) {
          log.error("feedback backfill at start-up failed; the hourly job will try again", { error });
        }
      });
    });
  };
}

/** What the person who used the shortcut reads, and only they: the feedback id, or a refusal's reason as it is. */
function shortcutAnswer(outcome: Outcome<{ id: number }>): string {
  return outcome.ok ? `Recorded as feedback #${outcome.id}.` : outcome.reason;
}

function noSuchFeedback(command: string, id: number): UserError {
  return new UserError(`There is no feedback #${id}. \`${command} feedback list\` shows the ids.`);
}
