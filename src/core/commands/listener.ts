import type { App } from "@slack/bolt";
import type { KnownBlock } from "@slack/types";
import { isConnectionError, isDatabaseError } from "../../db/client.js";
import type { Services } from "../feature.js";
import { type Refusal, UserError } from "../refusal.js";
import { AfterAckQueue } from "./after-ack.js";
import type { CommandContext, CommandRouter, Reply } from "./router.js";

/**
 * The one place slash commands run: resolve the text, refuse with the right form, or acknowledge at
 * once and run the command after the ack, answering through response_url.
 */
export function listenForCommands(app: App, router: CommandRouter, services: Services): void {
  // Commands that wait on something slow (a job, Claude) run outside the queue so they never block it.
  const afterAck = new AfterAckQueue(services.background);

  app.command(router.name, async ({ command, ack, respond, client }) => {
    afterAck.arrived();
    const resolution = router.resolve(command.text ?? "", command.user_id);
    if (!resolution.ok) {
      await ack(refusalAnswer(resolution));
      return;
    }
    await ack();
    const send = (responseType: "ephemeral" | "in_channel") => async (message: Reply) => {
      await respond({ response_type: responseType, text: message.text, ...(message.blocks ? { blocks: message.blocks as KnownBlock[] } : {}) });
    };
    const ctx: CommandContext = {
      user: command.user_id,
      channel: command.channel_id,
      teamId: command.team_id,
      triggerId: command.trigger_id,
      command: router.name,
      client,
      reply: send("ephemeral"),
      replyInChannel: send("in_channel"),
    };
    const words = resolution.command.pattern.words.join(" ");
    // After the ack, so Slack's 3-second budget never waits on gates, the database or Claude.
    const work = async () => {
      try {
        await resolution.command.run(ctx, resolution.args);
      } catch (error) {
        if (error instanceof UserError) {
          await respond(refusalAnswer(error.refusal));
          return;
        }
        services.log.error("command failed", { command: words, user: command.user_id, error });
        if (isDatabaseError(error)) services.metrics.dbErrors.inc({ operation: "command" });
        await ctx
          .reply({ text: `Sorry, \`${router.name} ${words}\` did not finish: ${describeFailure(error)}. Try again in a minute.` })
          .catch((replyError: unknown) => services.log.error("could not tell the user a command failed", { error: replyError }));
      }
    };
    if (resolution.command.long) void services.background.run(`command ${words}`, work);
    else afterAck.enqueue(`command ${words}`, work);
  });
}

/** A refused command, whether the router refused its text or the command refused while running: only the person sees why. */
function refusalAnswer(refusal: Refusal) {
  return { response_type: "ephemeral" as const, text: refusal.reason };
}

function describeFailure(error: unknown): string {
  if (isConnectionError(error)) return "the database is not answering";
  if ((error as { code?: string }).code === "slack_webapi_platform_error") return `Slack refused the message (${(error as { data?: { error?: string } }).data?.error ?? "unknown error"})`;
  return "an unexpected error (it has been logged)";
}
