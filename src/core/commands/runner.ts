import { isConnectionError, isDatabaseError } from "../../db/client.js";
import type { Services } from "../feature.js";
import { type Refusal, UserError } from "../refusal.js";
import { AfterAckQueue } from "./after-ack.js";
import type { Command, CommandContext, Reply } from "./router.js";

/**
 * The one way a resolved command runs, whichever surface asked (the slash command, a mention): quick
 * commands take turns in the queue of work after acks (a burst of commands is acknowledged first and
 * answered right after). Commands that wait on something slow (a job, Claude) run in their own lane so
 * they never block it.
 */
export class CommandRunner {
  private readonly afterAck: AfterAckQueue;

  constructor(
    /** The configured slash command, e.g. "/orch", as the failure sentence names it. */
    private readonly commandName: string,
    private readonly services: Services,
  ) {
    this.afterAck = new AfterAckQueue(services.background);
  }

  /** A command arrived and is about to be acknowledged: work after acks waits while a burst lasts. */
  arrived(): void {
    this.afterAck.arrived();
  }

  /**
   * Runs the command with its context; resolves once it has finished and answered. A refusal it throws
   * (UserError) is answered with its reason, any other failure with a sentence saying it did not finish,
   * both through `ctx.reply`.
   */
  run(command: Command, args: unknown, ctx: CommandContext): Promise<void> {
    const words = command.pattern.words.join(" ");
    const work = async () => {
      try {
        await command.run(ctx, args);
      } catch (error) {
        if (error instanceof UserError) {
          await ctx.reply(refusalReply(error.refusal)).catch((replyError: unknown) => this.services.log.error("could not tell the user why a command was refused", { error: replyError }));
          return;
        }
        this.services.log.error("command failed", { command: words, user: ctx.user, error });
        if (isDatabaseError(error)) this.services.metrics.dbErrors.inc({ operation: "command" });
        await ctx
          .reply({ text: `Sorry, \`${this.commandName} ${words}\` did not finish: ${describeFailure(error)}. Try again in a minute.` })
          .catch((replyError: unknown) => this.services.log.error("could not tell the user a command failed", { error: replyError }));
      }
    };
    if (command.long) return this.services.background.run(`command ${words}`, work);
    return new Promise((finished) => this.afterAck.enqueue(`command ${words}`, () => work().finally(() => finished())));
  }
}

/** A refused command, whether the router refused its text or the command refused while running: the reason as it is. */
export function refusalReply(refusal: Refusal): Reply {
  return { text: refusal.reason };
}

function describeFailure(error: unknown): string {
  if (isConnectionError(error)) return "the database is not answering";
  if ((error as { code?: string }).code === "slack_webapi_platform_error") return `Slack refused the message (${(error as { data?: { error?: string } }).data?.error ?? "unknown error"})`;
  return "an unexpected error (it has been logged)";
}
