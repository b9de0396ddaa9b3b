import { defineCommand } from "../../core/commands/router.js";
import type { Feature } from "../../core/feature.js";
import { doraMessage } from "./blocks.js";
import { doraFigures } from "../releases/index.js";

/** `/orch dora [30d|90d]`: the four DORA figures per environment, from the release ledger. */
export function doraFeature(): Feature {
  return ({ services, commands }) => {
    const { config, db } = services;
    commands.add(
      defineCommand({
        usage: "dora [<period:30d|90d>]",
        summary: "deployment frequency, lead time, change failure rate, time to restore, per environment (default 30d)",
        example: "dora 90d",
        group: "Releases",
        run: async (ctx, args) => {
          const days = args.period === "90d" ? 90 : 30;
          const until = new Date();
          const figures = await doraFigures(
            db,
            config.environments.map((e) => e.name),
            { since: new Date(until.getTime() - days * 86_400_000), until },
          );
          await ctx.reply(doraMessage(figures, days));
        },
      }),
    );
  };
}
