import type { KnownBlock } from "@slack/types";
import type { SlackListeners } from "../../slack/listeners.js";
import type { CommandContext, CommandRouter, Reply } from "./router.js";
import { type CommandRunner, refusalReply } from "./runner.js";

/**
 * Where slash commands arrive: resolve the text, refuse with the right form, or acknowledge at once and
 * hand the command to the runner after the ack, answering through response_url.
 */
export function listenForCommands(listeners: SlackListeners, router: CommandRouter, runner: CommandRunner): void {
  listeners.command(router.name, async ({ command, ack, respond }) => {
    runner.arrived();
    const resolution = router.resolve(command.text ?? "", command.user_id);
    if (!resolution.ok) {
      // Only the person sees why.
      await ack({ response_type: "ephemeral", ...refusalReply(resolution) });
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
      command: router.name,
      reply: send("ephemeral"),
      replyInChannel: send("in_channel"),
    };
    // After the ack, so Slack's 3-second budget never waits on gates, the database or Claude.
    void runner.run(resolution.command, resolution.args, ctx);
  });
}
