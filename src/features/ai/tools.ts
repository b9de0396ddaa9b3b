import { z } from "zod";
import { FEEDBACK_STATUSES } from "../../db/schema.js";
import type { Services } from "../../core/feature.js";
import { feedbackStats } from "../feedback/index.js";
import { recentFeedback, statusCounts } from "../feedback/index.js";
import { type Audience, maySeeText } from "../feedback/index.js";
import { JOB_NAMES } from "../../core/jobs/catalog.js";
import { runHistory } from "../../core/jobs/store.js";
import { openFreezes } from "../releases/index.js";
import { normalizeVersion, tallyApprovals } from "../releases/index.js";
import { liveVersions, releasesInFlight } from "../releases/index.js";
import { healthSummary, latestHealth } from "../health/index.js";
import type { ReleaseService } from "../releases/index.js";
import { auditTrail } from "../releases/index.js";
import { type Refusal, refuse } from "../../core/refusal.js";
import type { Tool } from "./claude.js";

/**
 * What Claude may do from a mention: read the bot's own data, consult a specialist, and start a
 * release through the same path and rules as `/orch release`. There is deliberately no tool that
 * approves, rejects or deploys: those need a person clicking a button.
 */
export interface ToolContext {
  services: Services;
  releases: ReleaseService;
  /** The person who mentioned the bot: the requester of any release started from here. */
  user: string;
  askSpecialist(name: string, question: string): Promise<string>;
  specialists: string[];
  /** What `user` may read of feedback from these channels (SPEC §2a): tools show Claude no more. */
  feedbackAudience(channels: string[]): Promise<Audience>;
  /** Feedback whose text a tool gave Claude: the answer may quote it, so it goes to `user` alone. */
  revealed: Set<number>;
}

/** Feedback text as the asker may see it; what it shows is noted in `revealed`. */
async function shownText<T extends { id: number; channel: string; author: string; text: string | null }>(context: ToolContext, items: readonly T[], max: number) {
  const audience = await context.feedbackAudience(items.map((f) => f.channel));
  return items.map((f) => {
    if (f.text === null || !maySeeText(f, audience)) return { hidden: "only members of its source channel may read this text" };
    context.revealed.add(f.id);
    return { text: f.text.slice(0, max) };
  });
}

interface ToolSpec<A> {
  definition: Tool;
  input: z.ZodType<A>;
  /** The data for Claude, or a Refusal (a sentence), which goes back to Claude as an error result. */
  run(context: ToolContext, input: A): Promise<unknown>;
}

function tool<A>(spec: ToolSpec<A>): ToolSpec<unknown> {
  return spec as ToolSpec<unknown>;
}

const objectSchema = (properties: Record<string, unknown>, required: string[] = []) => ({ type: "object" as const, properties, required });

export const TOOLS: ToolSpec<unknown>[] = [
  tool({
    definition: {
      name: "get_status",
      description:
        "The live version on each environment, its deploy windows and change freezes, releases in flight (with their state, approvals and scheduled start), last health check per environment, and open feedback counts.",
      input_schema: objectSchema({}),
    },
    input: z.object({}).passthrough(),
    run: async ({ services, releases }) => {
      const { db, config } = services;
      const [live, flying, health, frozen, counts] = await Promise.all([liveVersions(db), releasesInFlight(db), latestHealth(db), openFreezes(db, releases.now()), statusCounts(db)]);
      return {
        environments: config.environments.map((env) => ({
          name: env.name,
          approvalsNeeded: env.approvals,
          mustBeLiveFirstOn: env.after ?? null,
          liveVersion: live.get(env.name)?.version ?? null,
          liveSince: live.get(env.name)?.liveAt.toISOString() ?? null,
          lastHealth: health.get(env.name) ?? null,
          deployWindows: env.windows,
          freezes: frozen.filter((f) => f.environment === env.name).map((f) => ({ until: f.endsAt.toISOString(), reason: f.reason, by: f.createdBy })),
        })),
        timezone: config.timezone,
        releasesInFlight: flying.map((r) => ({
          id: r.id,
          version: r.version,
          environment: r.environment,
          state: r.state,
          kind: r.kind,
          emergency: r.emergency,
          scheduledFor: r.scheduledFor?.toISOString() ?? null,
          approvals: tallyApprovals({ requester: r.requester, approvers: config.people.approvers, approvedBy: r.approvedBy }).counting.length,
          approvalsNeeded: r.requiredApprovals,
          requester: r.requester,
        })),
        feedbackByStatus: Object.fromEntries(counts.map((c) => [c.status, c.count])),
        approvers: config.people.approvers,
      };
    },
  }),
  tool({
    definition: {
      name: "get_release_log",
      description: "The audit trail of a version: each release of it per environment with every state change, who caused it and when, and the approvals.",
      input_schema: objectSchema({ version: { type: "string", description: "semver, e.g. 1.4.0" } }, ["version"]),
    },
    input: z.object({ version: z.string().max(64) }),
    run: async ({ services }, { version }: { version: string }) => {
      const normalized = normalizeVersion(version);
      if (!normalized) return refuse(`${version} is not a semver version`);
      const trail = await auditTrail(services.db, normalized);
      return trail.map(({ release, transitions, approvals }) => ({
        id: release.id,
        version: release.version,
        environment: release.environment,
        state: release.state,
        requester: release.requester,
        reason: release.reason,
        transitions: transitions.map((t) => ({ from: t.fromState, to: t.toState, actor: t.actor, detail: t.detail, at: t.at.toISOString() })),
        approvals: approvals.map((a) => ({ approver: a.approver, at: a.at.toISOString() })),
      }));
    },
  }),
  tool({
    definition: {
      name: "list_feedback",
      description: "Recent stakeholder feedback (newest first) with id, kind, priority, status, theme, source, author and text.",
      input_schema: objectSchema({
        status: { type: "string", enum: [...FEEDBACK_STATUSES], description: "default: open and in-progress" },
        limit: { type: "integer", minimum: 1, maximum: 20 },
      }),
    },
    input: z.object({ status: z.enum(FEEDBACK_STATUSES).optional(), limit: z.number().int().min(1).max(20).optional() }),
    run: async (context, input: { status?: (typeof FEEDBACK_STATUSES)[number]; limit?: number }) => {
      const { rows, total } = await recentFeedback(context.services.db, input.status ? [input.status] : ["open", "in-progress"], input.limit ?? 10);
      const texts = await shownText(context, rows, 500);
      return {
        total,
        items: rows.map((f, i) => ({
          id: f.id,
          kind: f.kind,
          priority: f.priority,
          status: f.status,
          theme: f.theme,
          sprint: f.sprint,
          source: f.source,
          author: f.author,
          postedAt: f.postedAt.toISOString(),
          ...texts[i],
        })),
      };
    },
  }),
  tool({
    definition: {
      name: "feedback_stats",
      description: "Feedback figures for the last N days: counts by kind, priority, source and status, weekly trend, top themes, backlog, oldest urgent items.",
      input_schema: objectSchema({ days: { type: "integer", minimum: 1, maximum: 365 } }),
    },
    input: z.object({ days: z.number().int().min(1).max(365).optional() }),
    run: async (context, { days }: { days?: number }) => {
      const { services } = context;
      const until = new Date();
      const stats = await feedbackStats(services.db, { since: new Date(until.getTime() - (days ?? 30) * 86_400_000), until, timeZone: services.config.timezone });
      const [urgent, closed] = await Promise.all([shownText(context, stats.oldestUrgent, 200), shownText(context, stats.recentlyClosed, 200)]);
      return {
        ...stats,
        oldestUrgent: stats.oldestUrgent.map((f, i) => ({ id: f.id, priority: f.priority, status: f.status, ...urgent[i] })),
        recentlyClosed: stats.recentlyClosed.map((f, i) => ({ id: f.id, ...closed[i] })),
      };
    },
  }),
  tool({
    definition: {
      name: "job_history",
      description: "Recent runs of the scheduled maintenance jobs (or of one job): slot, status, summary.",
      input_schema: objectSchema({ job: { type: "string", enum: [...JOB_NAMES] }, limit: { type: "integer", minimum: 1, maximum: 20 } }),
    },
    input: z.object({ job: z.enum(JOB_NAMES).optional(), limit: z.number().int().min(1).max(20).optional() }),
    run: async ({ services }, input: { job?: (typeof JOB_NAMES)[number]; limit?: number }) => {
      const rows = await runHistory(services.db, input.job, input.limit ?? 10);
      return rows.map((r) => ({ ...r, slot: r.slot.toISOString(), finishedAt: r.finishedAt?.toISOString() ?? null }));
    },
  }),
  tool({
    definition: {
      name: "environment_health",
      description: "Health checks of an environment (or all) over the last 24 hours: latest result, failures and latency.",
      input_schema: objectSchema({ environment: { type: "string" } }),
    },
    input: z.object({ environment: z.string().max(64).optional() }),
    run: async ({ services }, { environment }: { environment?: string }) => {
      const since = new Date(Date.now() - 86_400_000);
      const rows = await healthSummary(services.db, since, environment);
      const latest = await latestHealth(services.db);
      return rows.map((r) => ({ ...r, latest: latest.get(r.environment) ?? null }));
    },
  }),
  tool({
    definition: {
      name: "ask_specialist",
      description: "Ask one of the team's specialist prompts a question and get its answer.",
      input_schema: objectSchema({ specialist: { type: "string" }, question: { type: "string" } }, ["specialist", "question"]),
    },
    input: z.object({ specialist: z.string(), question: z.string().min(1).max(4000) }),
    run: async (context, { specialist, question }: { specialist: string; question: string }) => {
      if (!context.specialists.includes(specialist)) return refuse(`unknown specialist; known: ${context.specialists.join(", ")}`);
      return { answer: await context.askSpecialist(specialist, question) };
    },
  }),
  tool({
    definition: {
      name: "start_release",
      description:
        "Start a release of a version to an environment for the person who mentioned you, exactly as `/orch release` does: gates run, then approvers are asked in the releases channel. It cannot approve or deploy. Use only when the person clearly asks to release.",
      input_schema: objectSchema({ version: { type: "string", description: "semver, e.g. 1.4.0" }, environment: { type: "string" } }, ["version"]),
    },
    input: z.object({ version: z.string().max(64), environment: z.string().max(64).optional() }),
    run: async ({ releases, user }, input: { version: string; environment?: string }) => {
      const result = await releases.request({ version: input.version, ...(input.environment ? { environment: input.environment } : {}), requester: user });
      if (!result.ok) return result;
      return { started: true, releaseId: result.release.id, version: result.release.version, environment: result.release.environment, state: result.release.state, message: result.permalink ?? null };
    },
  }),
];

/**
 * Runs one tool call from Claude; what goes back to Claude is text: the data, or, marked as an error,
 * a refusal's sentence or what failed.
 */
export async function runTool(context: ToolContext, name: string, rawInput: unknown): Promise<{ content: string; isError: boolean }> {
  try {
    const answer = await answerTool(context, name, rawInput);
    if (isRefusal(answer)) return { content: answer.reason, isError: true };
    return { content: JSON.stringify(answer).slice(0, 20_000), isError: false };
  } catch (error) {
    context.services.log.warn("a Claude tool failed", { tool: name, error });
    return { content: `${name} failed: ${error instanceof Error ? error.message.slice(0, 300) : String(error)}`, isError: true };
  }
}

/** The tool's data, or why the call is refused: no such tool, input that does not fit, or the tool's own refusal. */
async function answerTool(context: ToolContext, name: string, rawInput: unknown): Promise<unknown> {
  const spec = TOOLS.find((t) => t.definition.name === name);
  if (!spec) return refuse(`There is no tool named ${name}. Available: ${TOOLS.map((t) => t.definition.name).join(", ")}.`);
  const input = spec.input.safeParse(rawInput ?? {});
  if (!input.success) return refuse(`Invalid input for ${name}: ${input.error.issues.map((i) => `${i.path.join(".") || "input"}: ${i.message}`).join("; ")}`);
  return spec.run(context, input.data);
}

function isRefusal(answer: unknown): answer is Refusal {
  return typeof answer === "object" && answer !== null && (answer as Partial<Refusal>).ok === false && typeof (answer as Partial<Refusal>).reason === "string";
}
