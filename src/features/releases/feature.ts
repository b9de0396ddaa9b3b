import type { BlockAction, ButtonAction, ViewSubmitAction } from "@slack/bolt";
import type { KnownBlock } from "@slack/types";
import { z } from "zod";
import { defineCommand } from "../../core/commands/router.js";
import { type Outcome, refuse, UserError } from "../../core/refusal.js";
import { isConnectionError } from "../../db/client.js";
import type { Evidence } from "../../db/schema.js";
import type { Feature } from "../../core/feature.js";
import { cutList, escapeMrkdwn, plural } from "../../slack/text.js";
import { formatAge, formatDateTime, formatWhen } from "../../time.js";
import { approvalReply, APPROVE_ACTION, REJECT_ACTION, REJECT_MODAL, REJECT_REASON_BLOCK, REJECT_REASON_INPUT, ROLLBACK_ACTION, rejectModal, stateLabel } from "./blocks.js";
import { shortDigest } from "./evidence.js";
import { parseFreezePeriod } from "./freeze.js";
import { freezesDuring, openFreezes } from "./freezes.js";
import { isWithdrawal, parseVersion, tallyApprovals } from "./machine.js";
import { latestHealth } from "../health/index.js";
import { lastRollbacks, liveVersions, releasesInFlight } from "./queries.js";
import type { RequestResult, ReleaseService } from "./service.js";
import { auditTrail } from "./queries.js";
import { describeWindows } from "./windows.js";

/** A version argument, parsed to its canonical text (or refused with the reason). */
const version = z.string().transform((text, ctx) => {
  const parsed = parseVersion(text);
  if (parsed.ok) return parsed.version;
  ctx.addIssue({ code: "custom", message: parsed.reason });
  return z.NEVER;
});

/** Release commands, the Approve/Reject buttons, the reject dialog, and the release parts of `/orch status`. */
export function releasesFeature(releases: ReleaseService): Feature {
  return ({ listeners, services, commands, status, jobs, onStart, onStop }) => {
    const { config, db, log, background } = services;
    const envNames = config.environments.map((e) => e.name);
    const environment = z
      .string()
      .refine((e) => envNames.includes(e), { error: (issue) => `\`${String(issue.input).slice(0, 40)}\` is not an environment: use ${envNames.map((n) => `\`${n}\``).join(" or ")}` });
    const freezeTarget = z
      .string()
      .transform((t) => t.toLowerCase())
      .refine((t) => t === "all" || envNames.includes(t), {
        error: (issue) => `\`${String(issue.input).slice(0, 40)}\` is not an environment: use ${[...envNames, "all"].map((n) => `\`${n}\``).join(", ")}`,
      });
    const emergencyReason = z.string().max(500, { error: "the emergency reason is too long: at most 500 characters" }).optional();
    const started = (result: Extract<RequestResult, { ok: true }>, what: string) =>
      `${result.release.kind === "rollback" ? "Rollback" : "Release"} #${result.release.id}: ${what}; follow it in <#${config.channels.releases}>${result.permalink ? ` (<${result.permalink}|message>)` : ""}.`;
    const startedRollback = (result: Extract<RequestResult, { ok: true }>) => {
      const n = result.release.requiredApprovals;
      return started(result, `rolling ${result.release.environment} back to \`${result.release.version}\`, no gates, waiting for ${plural(n, "approval")}`);
    };

    commands.add(
      defineCommand({
        usage: "release <version> [to <env>] [--emergency <reason...>]",
        summary: `start a release (default: ${envNames[0]}): gates, then approval in the releases channel; \`--emergency\` may deploy during a freeze or outside a window, with ${config.emergency.approvals}+ approvals`,
        example: `release 1.4.0 to ${envNames[0]}`,
        group: "Releases",
        args: z.object({ version, env: environment.optional(), emergency: emergencyReason }),
        run: async (ctx, args) => {
          const result = accepted(
            await releases.request({
              version: args.version,
              ...(args.env ? { environment: args.env } : {}),
              requester: ctx.user,
              ...(args.emergency ? { emergency: args.emergency } : {}),
            }),
          );
          const mark = result.release.emergency !== null ? `🚨 emergency, ${result.release.requiredApprovals} approvals needed, announced in <#${config.channels.alerts}>; ` : "";
          await ctx.reply({ text: started(result, `${mark}\`${result.release.version}\` to ${result.release.environment} is running its gates`) });
        },
      }),
      defineCommand({
        usage: "rollback <env> [to <version>] [--emergency <reason...>]",
        summary: "deploy the version live before the current one (or a named earlier one): no gates, `rollback.approvals` approvals",
        example: `rollback ${envNames.at(-1)}`,
        group: "Releases",
        args: z.object({ env: environment, version: version.optional(), emergency: emergencyReason }),
        run: async (ctx, args) => {
          const result = await releases.requestRollback({
            environment: args.env,
            requester: ctx.user,
            ...(args.version ? { version: args.version } : {}),
            ...(args.emergency ? { emergency: args.emergency } : {}),
          });
          await ctx.reply({ text: startedRollback(accepted(result)) });
        },
      }),
      defineCommand({
        usage: "freeze <target> <period...>",
        display: `freeze <${[...envNames, "all"].join("|")}> <for 2d|until YYYY-MM-DD [HH:MM]> <reason>`,
        summary: "no deploy starts there until the freeze ends (approvers and admins)",
        example: `freeze ${envNames.at(-1)} until 2026-12-26 09:00 holiday change freeze`,
        group: "Releases",
        args: z.object({ target: freezeTarget, period: z.string() }).transform((args, ctx) => {
          const parsed = parseFreezePeriod(args.period, releases.now(), config.timezone);
          if (!parsed.ok) {
            ctx.addIssue({ code: "custom", message: parsed.reason });
            return z.NEVER;
          }
          return { target: args.target, endsAt: parsed.endsAt, reason: parsed.reason };
        }),
        run: async (ctx, args) => {
          await ctx.reply({ text: accepted(await releases.freezes.freeze({ ...args, by: ctx.user })).summary });
        },
      }),
      defineCommand({
        usage: "unfreeze <target>",
        display: `unfreeze <${[...envNames, "all"].join("|")}>`,
        summary: "end a freeze now (approvers and admins)",
        example: `unfreeze ${envNames.at(-1)}`,
        group: "Releases",
        args: z.object({ target: freezeTarget }),
        run: async (ctx, args) => {
          await ctx.reply({ text: accepted(await releases.freezes.unfreeze({ target: args.target, by: ctx.user })).summary });
        },
      }),
      defineCommand({
        usage: "release <version> <action:regate>",
        summary: "run the gates of a release awaiting approval again (earlier approvals become void)",
        example: "release 1.4.0 regate",
        group: "Releases",
        args: z.object({ version, action: z.literal("regate") }),
        run: async (ctx, args) => {
          const result = accepted(await releases.regate({ version: args.version, requester: ctx.user }));
          const link = result.permalink ? ` (<${result.permalink}|message>)` : "";
          await ctx.reply({ text: `Release #${result.release.id}: re-running the gates of \`${result.release.version}\` to ${result.release.environment}; earlier approvals are void${link}.` });
        },
      }),
      defineCommand({
        usage: "release log <version>",
        summary: "the audit trail of a version: who did what, when",
        example: "release log 1.4.0",
        group: "Releases",
        args: z.object({ version }),
        run: async (ctx, args) => {
          const trail = await auditTrail(db, args.version);
          if (trail.length === 0) {
            await ctx.reply({ text: `No release of \`${escapeMrkdwn(args.version)}\` yet.` });
            return;
          }
          const sections = await Promise.all(
            trail.map(async ({ release, transitions, approvals, voided }) => {
              const until = transitions.at(-1)?.at ?? release.updatedAt;
              const freezes = await freezesDuring(db, release.environment, release.createdAt, until);
              // Approvals before transitions, so at equal times (one transaction) an approval comes before the transition it caused.
              const events = [
                ...freezes.flatMap((f) => [
                  { at: f.startsAt, text: `:snowflake: ${release.environment} *frozen* by ${actor(f.createdBy)} until ${formatDateTime(f.endsAt, config.timezone, false)}: ${escapeMrkdwn(f.reason)}` },
                  ...(f.endedAt ? [{ at: f.endedAt, text: `:sunny: freeze of ${release.environment} *ended* ${f.endedBy === "orchestrator" ? "(ran out)" : `by ${actor(f.endedBy ?? "")}`}` }] : []),
                ]),
                ...approvals.map((a) => ({ at: a.at, text: `approved by <@${a.approver}>${coverage(a)}` })),
                ...voided.map((a) => ({
                  at: a.approvedAt,
                  text: `approved by <@${a.approver}>${coverage(a)} — *void* since ${formatDateTime(a.voidedAt, config.timezone, false)}: ${escapeMrkdwn(a.reason)}`,
                })),
                ...transitions.map((t) => ({
                  at: t.at,
                  text: t.fromState
                    ? `${t.fromState.replace("_", " ")} → *${t.toState.replace("_", " ")}* by ${actor(t.actor)}${t.detail ? `: ${escapeMrkdwn(t.detail)}` : ""}`
                    : `*requested* by ${actor(t.actor)}${t.detail && (release.kind === "rollback" || release.emergency !== null) ? `: ${escapeMrkdwn(t.detail)}` : ""}`,
                })),
              ].sort((a, b) => a.at.getTime() - b.at.getTime());
              const lines = cutList(
                events.map((e) => `• ${formatDateTime(e.at, config.timezone, false)} — ${e.text}`),
                25,
              );
              const marks = [release.emergency !== null ? ` 🚨 emergency: ${escapeMrkdwn(release.emergency)}` : "", release.kind === "rollback" ? " (rollback, no gates)" : ""].join("");
              return `*Release #${release.id}: \`${escapeMrkdwn(release.version)}\` → ${release.environment}*${marks} — ${stateLabel(release.state)}\n${lines.join("\n")}`;
            }),
          );
          const blocks = cutList(sections, 8).map((text) => ({ type: "section" as const, text: { type: "mrkdwn" as const, text: text.slice(0, 3000) } }));
          await ctx.reply({ text: sections.join("\n\n").slice(0, 3000), blocks: [{ type: "header", text: { type: "plain_text", text: `Audit trail of ${args.version}`.slice(0, 150) } }, ...blocks] });
        },
      }),
    );

    /**
     * Every button's answer, only for the person who clicked, in one place: a refusal's reason as it is, or
     * what `done` says happened (nothing, when it answers otherwise). A click that fails after its ack still
     * gets an answer.
     */
    const answerClick = async <T extends object>(
      respond: (message: { response_type: "ephemeral"; replace_original: false; text: string }) => Promise<unknown>,
      what: string,
      act: () => Promise<Outcome<T>>,
      done: (result: Extract<Outcome<T>, { ok: true }>) => Promise<string | undefined>,
    ): Promise<void> => {
      let text: string | undefined;
      try {
        const outcome = await act();
        text = outcome.ok ? await done(outcome) : outcome.reason;
      } catch (error) {
        log.error(`${what} failed`, { error });
        text = `Sorry, that did not go through (${isConnectionError(error) ? "the database is not answering" : "an unexpected error, logged"}); nothing was changed. Try again in a minute.`;
      }
      if (text === undefined) return;
      await respond({ response_type: "ephemeral", replace_original: false, text }).catch((error: unknown) => log.warn("could not answer a click", { error }));
    };
    const notRelease = refuse("This button is not a release.");

    listeners.action<BlockAction<ButtonAction>>(APPROVE_ACTION, async ({ ack, action, body, respond }) => {
      await ack();
      const releaseId = Number(action.value);
      void background.run(`approve release #${releaseId}`, () =>
        answerClick(
          respond,
          "approve click",
          async () => (Number.isInteger(releaseId) ? releases.approve(releaseId, body.user.id) : notRelease),
          async (approved) => approvalReply(approved, config.timezone, releases.now()),
        ),
      );
    });

    listeners.action<BlockAction<ButtonAction>>(REJECT_ACTION, async ({ ack, action, body, client, respond }) => {
      await ack();
      const releaseId = Number(action.value);
      // Tracked like the approve click, so shutdown (and a test waiting for quiet) sees it through.
      void background.run(`reject click on release #${releaseId}`, () =>
        answerClick(
          respond,
          "reject click",
          async () => (Number.isInteger(releaseId) ? releases.canReject(releaseId, body.user.id) : notRelease),
          async ({ release }) => {
            await client.views.open({ trigger_id: body.trigger_id, view: rejectModal(releaseId, release.version, release.environment, isWithdrawal(release.requester, body.user.id)) });
            return undefined;
          },
        ),
      );
    });

    const offer = z.object({ failed: z.number().int().positive(), to: z.string().max(64) });
    const offered = (value: string | undefined) => {
      try {
        return offer.parse(JSON.parse(value ?? ""));
      } catch {
        return undefined;
      }
    };
    listeners.action<BlockAction<ButtonAction>>(ROLLBACK_ACTION, async ({ ack, action, body, respond }) => {
      await ack();
      void background.run("rollback from an alert", () =>
        answerClick(
          respond,
          "rollback click",
          async () => {
            const offer = offered(action.value);
            return offer ? releases.rollbackFromAlert(offer.failed, offer.to, body.user.id) : refuse("This button is not a rollback.");
          },
          async (result) => {
            const channel = body.channel?.id;
            const ts = body.message?.ts;
            if (channel && ts) {
              const kept = ((body.message?.blocks ?? []) as KnownBlock[]).filter((b) => b.type !== "actions");
              const link = result.permalink ? `<${result.permalink}|rollback #${result.release.id}>` : `rollback #${result.release.id}`;
              await services.poster
                .update(channel, ts, {
                  text: `${body.message?.text ?? ""}\nRollback to ${result.release.version} requested by <@${body.user.id}>.`,
                  blocks: [
                    ...kept,
                    {
                      type: "context",
                      elements: [{ type: "mrkdwn", text: `:leftwards_arrow_with_hook: <@${body.user.id}> asked to roll back to \`${escapeMrkdwn(result.release.version)}\`: ${link}` }],
                    },
                  ],
                })
                .catch((error: unknown) => log.warn("could not update the alert after a rollback click", { error }));
            }
            return startedRollback(result);
          },
        ),
      );
    });

    listeners.view<ViewSubmitAction>(REJECT_MODAL, async ({ ack, body, view }) => {
      const releaseId = Number(view.private_metadata);
      const reason = (view.state.values[REJECT_REASON_BLOCK]?.[REJECT_REASON_INPUT]?.value ?? "").trim();
      const outcome = reason.length < 3 ? refuse("Say why, in a few words: it goes into the audit trail.") : await releases.reject(releaseId, body.user.id, reason.slice(0, 1000));
      // A refusal keeps the dialog open with its reason under the field.
      await ack(outcome.ok ? undefined : { response_action: "errors", errors: { [REJECT_REASON_BLOCK]: outcome.reason } });
    });

    status.add({
      title: "Environments",
      order: 10,
      render: async () => {
        const [live, health, rollbacks] = await Promise.all([liveVersions(db), latestHealth(db), lastRollbacks(db)]);
        return config.environments
          .map((env) => {
            const current = live.get(env.name);
            const check = health.get(env.name);
            const rollback = rollbacks.get(env.name);
            const healthText = check
              ? `${check.ok ? "healthy" : "failing"}${check.latencyMs !== null ? ` (${check.latencyMs} ms)` : ""}, checked ${formatAge(check.at)} ago`
              : "health not checked yet";
            const extras = [
              ...(env.windows.length > 0 ? [`deploy windows ${describeWindows(env.windows)} (${config.timezone})`] : []),
              ...(rollback ? [`last rollback: to \`${escapeMrkdwn(rollback.version)}\` ${formatAge(rollback.liveAt)} ago by <@${rollback.requester}> (release #${rollback.id})`] : []),
            ];
            return `• *${env.name}*: ${current ? `\`${escapeMrkdwn(current.version)}\` live since ${formatAge(current.liveAt)} ago` : "nothing released yet"} — ${healthText}${extras.map((e) => `\n      ${e}`).join("")}`;
          })
          .join("\n");
      },
    });
    status.add({
      title: "Freezes",
      order: 15,
      render: async () => {
        const now = releases.now();
        const frozen = await openFreezes(db, now);
        if (frozen.length === 0) return "None.";
        return cutList(
          frozen.map((f) => `• :snowflake: *${f.environment}* frozen until ${formatWhen(f.endsAt, config.timezone, now)} by <@${f.createdBy}>: ${escapeMrkdwn(f.reason)}`),
          15,
        ).join("\n");
      },
    });
    status.add({
      title: "Releases in flight",
      order: 20,
      render: async () => {
        const flying = await releasesInFlight(db);
        if (flying.length === 0) return "None.";
        return cutList(
          flying.map(
            (r) =>
              `• ${r.emergency !== null ? "🚨 " : ""}\`${escapeMrkdwn(r.version)}\` → ${r.environment}${r.kind === "rollback" ? " (rollback)" : ""}: ${stateLabel(r.state)}${r.state === "awaiting_approval" ? ` (${tallyApprovals({ requester: r.requester, approvers: config.people.approvers, approvedBy: r.approvedBy }).counting.length}/${r.requiredApprovals})` : ""}${r.state === "scheduled" && r.scheduledFor ? `, deploys at ${formatWhen(r.scheduledFor, config.timezone, releases.now())}` : ""}, requested by <@${r.requester}> ${formatAge(r.createdAt)} ago`,
          ),
          15,
        ).join("\n");
      },
    });

    // Release housekeeping, every minute: expiry, interrupted deploys, freezes that ran out, and the
    // scheduled deploys whose freeze ended or window opened (each claimed in the database, so once).
    jobs.define("approval-expiry", async () => {
      const expired = await releases.expire();
      const interrupted = await releases.recoverInterrupted();
      const thawed = await releases.freezes.endLapsed();
      const due = await releases.startDue();
      const fixes = await releases.settleFixes();
      const parts = [
        expired.length > 0 ? `expired ${expired.map((r) => `${r.version} → ${r.environment}`).join(", ")}` : "no approval past its window",
        ...(interrupted.length > 0 ? [`marked interrupted: ${interrupted.map((r) => `${r.version} → ${r.environment}`).join(", ")}`] : []),
        ...(thawed.length > 0 ? [`freeze ended: ${[...new Set(thawed.map((f) => f.environment))].join(", ")}`] : []),
        ...(due.length > 0 ? [`started scheduled deploys: ${due.map((r) => `${r.version} → ${r.environment}`).join(", ")}`] : []),
        ...(fixes.closed > 0 || fixes.posted > 0 ? [`closed ${fixes.closed} fixed feedback item(s), told ${fixes.posted} thread(s)`] : []),
      ];
      return {
        status: "succeeded",
        summary: `${parts.join("; ")}.`,
        details: { expired: expired.map((r) => r.id), interrupted: interrupted.map((r) => r.id), freezesEnded: thawed.map((f) => f.id), started: due.map((r) => r.id) },
      };
    });

    onStart(() => releases.startRecovery());
    onStop(() => releases.stop());
    log.debug("releases feature ready", { environments: envNames });
  };
}

/** Which evidence an approval covered: digest, commit range, gate outcomes. */
function coverage(approval: { evidenceDigest: string | null; evidence: Evidence | null }): string {
  const evidence = approval.evidence;
  if (!evidence) return "";
  const range = evidence.range ? ` · commits ${evidence.range.from ? `${evidence.range.from.slice(0, 7)}..` : "up to "}${evidence.range.to?.slice(0, 7) ?? "(tag missing)"}` : "";
  const gates = evidence.gates.filter((g) => g.status !== "manual");
  const passed = gates.filter((g) => g.status === "passed").length;
  return ` (evidence ${shortDigest(approval.evidenceDigest)}: ${escapeMrkdwn(evidence.version)}${range} · ${passed}/${gates.length} gates passed)`;
}

/** A command's refusal unwinds as a UserError, which the command listener answers with its reason. */
function accepted<T extends object>(outcome: Outcome<T>): Extract<Outcome<T>, { ok: true }> {
  if (!outcome.ok) throw new UserError(outcome.reason);
  return outcome;
}

function actor(id: string): string {
  return /^[UW][A-Z0-9]+$/.test(id) ? `<@${id}>` : id;
}
