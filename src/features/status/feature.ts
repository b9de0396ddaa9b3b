import { defineCommand } from "../../core/commands/router.js";
import type { Feature } from "../../core/feature.js";

/** `/orch status`: each feature contributes its part of the picture. */
export const statusFeature: Feature = ({ commands, status }) => {
  commands.add(
    defineCommand({
      usage: "status",
      summary: "live version per environment, releases in flight, last health, open feedback",
      example: "status",
      group: "General",
      run: async (ctx) => {
        await ctx.reply(await status.render());
      },
    }),
  );
};
