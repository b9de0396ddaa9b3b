import type { BlockAction, ButtonAction, ViewSubmitAction } from "@slack/bolt";
import { z } from "zod";
import { defineCommand } from "../commands/router.js";
import { isConnectionError } from "../db/client.js";
import type { Feature } from "../feature.js";
import { cutList, escapeMrkdwn } from "../slack/text.js";
import { formatAge, formatDateTime } from "../time.js";
import { APPROVE_ACTION, REJECT_ACTION, REJECT_MODAL, REJECT_REASON_BLOCK, REJECT_REASON_INPUT, rejectModal, stateLabel } from "./blocks.js";
import { parseVersion } from "./machine.js";
import { latestHealth, liveVersions, releasesInFlight } from "./queries.js";
import type { ReleaseService } from "./service.js";
import { auditTrail } from "./store.js";

/** A version argument, parsed to its canonical text (or refused with the reason). */
const version = z.string().transform((text, ctx) => {
  const parsed = parseVersion(text);
  if (parsed.ok) return parsed.version;
  ctx.addIssue({ code: "custom", message: parsed.reason });
  return z.NEVER;
});

/** Release commands, the Approve/Reject buttons, the reject dialog, and the release parts of `/orch status`. */
export function releasesFeature(releases: ReleaseService): Feature {
  return ({ app, services, commands, status, jobs, onStart, onStop }) => {
    const { config, db, log, background } = services;
    const envNames = config.environments.map((e) => e.name);

    commands.add(
      defineCommand({
        usage: "release <version> [to <env>]",
        summary: `start a release (default: ${envNames[0]}): gates, then approval in the releases channel`,
        example: `release 1.4.0 to ${envNames[0]}`,
        group: "Releases",
        args: z.object({
          version,
          env: z
            .string()
            .refine((e) => envNames.includes(e), { error: (issue) => `\`${String(issue.input).slice(0, 40)}\` is not an environment: use ${envNames.map((n) => `\`${n}\``).join(" or ")}` })
            .optional(),
        }),
        run: async (ctx, args) => {
          const result = await releases.request({ version: args.version, ...(args.env ? { environment: args.env } : {}), requester: ctx.user });
          if (!result.ok) {
            await ctx.reply({ text: result.reason });
            return;
          }
          const link = result.permalink ? ` (<${result.permalink}|message>)` : "";
          await ctx.reply({ text: `Release #${result.release.id}: \`${result.release.version}\` to ${result.release.environment} is running its gates; follow it in <#${config.channels.releases}>${link}.` });
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
          const sections = trail.map(({ release, transitions, approvals }) => {
            const events = [
              ...transitions.map((t) => ({
                at: t.at,
                text: t.fromState
                  ? `${t.fromState.replace("_", " ")} → *${t.toState.replace("_", " ")}* by ${actor(t.actor)}${t.detail ? `: ${escapeMrkdwn(t.detail)}` : ""}`
                  : `*requested* by ${actor(t.actor)}`,
              })),
              ...approvals.map((a) => ({ at: a.at, text: `approved by <@${a.approver}>` })),
            ].sort((a, b) => a.at.getTime() - b.at.getTime());
            const lines = cutList(events.map((e) => `• ${formatDateTime(e.at, config.timezone, false)} — ${e.text}`), 25);
            return `*Release #${release.id}: \`${escapeMrkdwn(release.version)}\` → ${release.environment}* — ${stateLabel(release.state)}\n${lines.join("\n")}`;
          });
          const blocks = cutList(sections, 8).map((text) => ({ type: "section" as const, text: { type: "mrkdwn" as const, text: text.slice(0, 3000) } }));
          await ctx.reply({ text: sections.join("\n\n").slice(0, 3000), blocks: [{ type: "header", text: { type: "plain_text", text: `Audit trail of ${args.version}`.slice(0, 150) } }, ...blocks] });
        },
      }),
    );

    // A click that fails after its ack still gets an answer, only for the person who clicked.
    const tell = (respond: (message: { response_type: "ephemeral"; replace_original: false; text: string }) => Promise<unknown>, text: string) =>
      respond({ response_type: "ephemeral", replace_original: false, text }).catch((error: unknown) => log.warn("could not answer a click", { error }));
    const failed = (what: string, error: unknown) => {
      log.error(`${what} failed`, { error });
      return `Sorry, that did not go through (${isConnectionError(error) ? "the database is not answering" : "an unexpected error, logged"}); nothing was changed. Try again in a minute.`;
    };

    app.action<BlockAction<ButtonAction>>(APPROVE_ACTION, async ({ ack, action, body, respond }) => {
      await ack();
      const releaseId = Number(action.value);
      void background.run(`approve release #${releaseId}`, async () => {
        let note: string;
        try {
          note = Number.isInteger(releaseId) ? await releases.approveClick(releaseId, body.user.id) : "This button is not a release.";
        } catch (error) {
          note = failed("approve click", error);
        }
        await tell(respond, note);
      });
    });

    app.action<BlockAction<ButtonAction>>(REJECT_ACTION, async ({ ack, action, body, client, respond }) => {
      await ack();
      const releaseId = Number(action.value);
      try {
        const allowed = Number.isInteger(releaseId) ? await releases.canReject(releaseId, body.user.id) : { ok: false as const, reason: "This button is not a release." };
        if (!allowed.ok) {
          await tell(respond, allowed.reason);
          return;
        }
        await client.views.open({ trigger_id: body.trigger_id, view: rejectModal(releaseId, allowed.release.version, allowed.release.environment) });
      } catch (error) {
        await tell(respond, failed("reject click", error));
      }
    });

    app.view<ViewSubmitAction>(REJECT_MODAL, async ({ ack, body, view }) => {
      const releaseId = Number(view.private_metadata);
      const reason = (view.state.values[REJECT_REASON_BLOCK]?.[REJECT_REASON_INPUT]?.value ?? "").trim();
      if (reason.length < 3) {
        await ack({ response_action: "errors", errors: { [REJECT_REASON_BLOCK]: "Say why, in a few words: it goes into the audit trail." } });
        return;
      }
      const refusal = await releases.reject(releaseId, body.user.id, reason.slice(0, 1000));
      if (refusal) {
        await ack({ response_action: "errors", errors: { [REJECT_REASON_BLOCK]: refusal } });
        return;
      }
      await ack();
    });

    status.add({
      title: "Environments",
      order: 10,
      render: async () => {
        const [live, health] = await Promise.all([liveVersions(db), latestHealth(db)]);
        return config.environments
          .map((env) => {
            const current = live.get(env.name);
            const check = health.get(env.name);
            const healthText = check
              ? `${check.ok ? "healthy" : "failing"}${check.latencyMs !== null ? ` (${check.latencyMs} ms)` : ""}, checked ${formatAge(check.at)} ago`
              : "health not checked yet";
            return `• *${env.name}*: ${current ? `\`${escapeMrkdwn(current.version)}\` live since ${formatAge(current.liveAt)} ago` : "nothing released yet"} — ${healthText}`;
          })
          .join("\n");
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
              `• \`${escapeMrkdwn(r.version)}\` → ${r.environment}: ${stateLabel(r.state)}${r.state === "awaiting_approval" ? ` (${r.approvals}/${r.requiredApprovals})` : ""}, requested by <@${r.requester}> ${formatAge(r.createdAt)} ago`,
          ),
          15,
        ).join("\n");
      },
    });

    jobs.define("approval-expiry", async () => {
      const expired = await releases.expire();
      const interrupted = await releases.recoverInterrupted();
      const parts = [
        expired.length > 0 ? `expired ${expired.map((r) => `${r.version} → ${r.environment}`).join(", ")}` : "no approval past its window",
        ...(interrupted.length > 0 ? [`marked interrupted: ${interrupted.map((r) => `${r.version} → ${r.environment}`).join(", ")}`] : []),
      ];
      return { status: "succeeded", summary: `${parts.join("; ")}.`, details: { expired: expired.map((r) => r.id), interrupted: interrupted.map((r) => r.id) } };
    });

    onStart(() => releases.startRecovery());
    onStop(() => releases.stop());
    log.debug("releases feature ready", { environments: envNames });
  };
}

function actor(id: string): string {
  return /^[UW][A-Z0-9]+$/.test(id) ? `<@${id}>` : id;
}
