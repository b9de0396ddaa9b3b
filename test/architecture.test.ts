import { describe, expect, it } from "vitest";
import { importsOf, readTree, type SourceTree } from "./support/imports.js";

/** The feature a path belongs to ("releases" for src/features/releases/store.ts), or undefined outside src/features. */
function featureOf(path: string): string | undefined {
  return /^src\/features\/([^/]+)\//.exec(path)?.[1];
}

/** The edges every feature builds on; they must not know any feature. */
const FEATURE_FREE = ["src/core/", "src/slack/", "src/db/", "src/config/", "src/http/", "src/exec/"];

/**
 * The import rule of docs/architecture.md, one line per breach:
 * core and the edges import no feature; a feature imports another feature only through its index.ts.
 */
function importRuleBreaches(tree: SourceTree): string[] {
  const breaches: string[] = [];
  for (const [path, text] of tree) {
    for (const { specifier, target } of importsOf(path, text)) {
      if (!target) continue;
      const to = featureOf(target);
      if (!to) continue;
      const from = featureOf(path);
      if (FEATURE_FREE.some((edge) => path.startsWith(edge))) breaches.push(`${path} imports a feature: ${specifier}`);
      else if (from && from !== to && target !== `src/features/${to}/index.ts`) breaches.push(`${path} reaches into ${to}: ${specifier} (import ../${to}/index.js)`);
    }
  }
  return breaches.sort();
}

describe("import rule", () => {
  it("names each kind of breach in a planted tree, and accepts the allowed imports", () => {
    const tree: SourceTree = new Map([
      ["src/core/commands/router.ts", 'import { stateLabel } from "../../features/releases/blocks.js";\n'],
      ["src/slack/post.ts", 'import type { FeedbackAccess } from "../features/feedback/index.js";\n'],
      ["src/db/client.ts", 'import { schema } from "./schema.js";\n'],
      ["src/config/schema.ts", 'import {\n  JOB_NAMES,\n} from "../core/jobs/catalog.js";\n'],
      ["src/features/ai/tools.ts", 'import { liveVersions } from "../releases/queries.js";\nimport { feedbackStats } from "../feedback/index.js";\nimport { Claude } from "./claude.js";\n'],
      ["src/features/releases/service.ts", 'import { settleFixes } from "../feedback/index.js";\nimport { defineCommand } from "../../core/commands/router.js";\n'],
      ["src/app.ts", 'import { releasesFeature } from "./features/releases/feature.js";\n'],
    ]);
    expect(importRuleBreaches(tree)).toEqual([
      "src/core/commands/router.ts imports a feature: ../../features/releases/blocks.js",
      "src/features/ai/tools.ts reaches into releases: ../releases/queries.js (import ../releases/index.js)",
      "src/slack/post.ts imports a feature: ../features/feedback/index.js",
    ]);
  });

  it("holds in src", () => {
    const tree = readTree("src");
    expect(tree.size).toBeGreaterThan(50);
    expect(importRuleBreaches(tree)).toEqual([]);
  });
});
