import { readdirSync, readFileSync } from "node:fs";
import { extname, join, posix, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { importsOf, ROOT, readTree, type SourceTree } from "./support/imports.js";

/** The feature a path belongs to ("releases" for src/features/releases/store.ts), or undefined outside src/features. */
function featureOf(path: string): string | undefined {
  return /^src\/features\/([^/]+)\//.exec(path)?.[1];
}

/** The composition root: it registers every feature, so it may import any of their files. */
const COMPOSITION_ROOT = new Set(["src/app.ts", "src/main.ts"]);

/** Dev tools that may use a feature's front door, as another feature does: the sandbox seeds what features read (a git history tagged as releases name tags). */
const FRONT_DOOR_USERS = ["src/sandbox/"];

/**
 * The import rule of docs/architecture.md, one line per breach. Whatever is not a feature, the composition root or
 * the sandbox imports no feature: core, the edge folders, the top-level edge files (src/time.ts, src/log.ts, …) and
 * the emulator, and so any folder added later. A feature, or the sandbox, imports another feature only through its index.ts.
 */
function importRuleBreaches(tree: SourceTree): string[] {
  const breaches: string[] = [];
  for (const [path, text] of tree) {
    if (COMPOSITION_ROOT.has(path)) continue;
    const from = featureOf(path);
    const frontDoorOnly = from !== undefined || FRONT_DOOR_USERS.some((folder) => path.startsWith(folder));
    for (const { specifier, target } of importsOf(path, text)) {
      if (!target) continue;
      const to = featureOf(target);
      if (!to || to === from) continue;
      const frontDoor = `src/features/${to}/index.ts`;
      if (!frontDoorOnly) breaches.push(`${path} imports a feature: ${specifier}`);
      else if (target !== frontDoor) breaches.push(`${path} reaches into ${to}: ${specifier} (import ${posix.relative(posix.dirname(path), frontDoor).replace(/\.ts$/, ".js")})`);
    }
  }
  return breaches.sort();
}

/**
 * Who owns each table of src/db/schema.ts (by its SQL name). A feature names only its own tables, as a drizzle object
 * or in raw SQL; another feature's rows come through that feature's front door: a read function, or, where one
 * statement needs two features' tables, a relation the owner exports (`liveReleasesRelation()`) and never the table.
 * Tables owned by core or an edge are reached through their module's functions (src/core/jobs/store.ts, src/slack/).
 */
const TABLE_OWNERS: Record<string, string> = {
  slack_events: "slack", // src/slack/dedupe.ts
  slack_signatures: "slack", // src/slack/replay.ts
  releases: "releases",
  release_transitions: "releases",
  approvals: "releases",
  voided_approvals: "releases",
  freezes: "releases",
  feedback: "feedback",
  feedback_events: "feedback",
  fix_notices: "feedback",
  backfill_cursors: "feedback",
  health_checks: "health",
  health_state: "health",
  ai_calls: "ai",
  job_runs: "core", // src/core/jobs/store.ts
  scheduler_heartbeats: "core",
};

/** The tables src/db/schema.ts declares: drizzle export name → SQL name. Pure. */
function tablesOf(schema: string): Map<string, string> {
  return new Map([...schema.matchAll(/export const (\w+) = pgTable\(\s*"(\w+)"/g)].map((m) => [m[1] ?? "", m[2] ?? ""]));
}

// Comments are prose ("the figures from releases"), not SQL; `//` after a colon is a URL, not a comment.
const COMMENT = /\/\*[\s\S]*?\*\/|(?<![:\w])\/\/[^\n]*/g;
// A table named in raw SQL, optionally quoted.
const SQL_TABLE = /\b(?:from|join|update|into)\s+"?([a-z_][a-z0-9_]*)"?/gi;

/**
 * The table rule, one line per breach: a file in src/features/<a>/ imports another owner's table object from db/schema
 * (its types and constant lists, like FEEDBACK_STATUSES, are fine) or names another owner's table in raw SQL.
 */
function tableBreaches(tree: SourceTree): string[] {
  const tables = tablesOf(tree.get("src/db/schema.ts") ?? "");
  const breaches = new Set<string>();
  const foreign = (from: string, table: string) => {
    const owner = TABLE_OWNERS[table];
    return owner !== undefined && owner !== from ? owner : undefined;
  };
  for (const [path, text] of tree) {
    const from = featureOf(path);
    if (!from) continue;
    for (const { target, names } of importsOf(path, text)) {
      if (target !== "src/db/schema.ts") continue;
      for (const name of names) {
        const table = tables.get(name);
        const owner = table && foreign(from, table);
        if (owner) breaches.add(`${path} imports ${name}, a table of ${owner}`);
      }
    }
    for (const match of text.replace(COMMENT, "").matchAll(SQL_TABLE)) {
      const table = (match[1] ?? "").toLowerCase();
      const owner = foreign(from, table);
      if (owner) breaches.add(`${path} names ${table}, a table of ${owner}, in SQL`);
    }
  }
  return [...breaches].sort();
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
      ["src/main.ts", 'import { startOrchestrator } from "./app.js";\n'],
      ["src/time.ts", 'import { plural } from "./slack/text.js";\nimport { stateLabel } from "./features/releases/index.js";\n'],
      ["src/emulator/web-api.ts", 'import { helpFeature } from "../features/help/feature.js";\n'],
      ["src/sandbox/repository.ts", 'import { tagOf } from "../features/releases/commits.js";\n'],
      ["src/sandbox/seed.ts", 'import { normalizeVersion } from "../features/releases/index.js";\nimport { emulator } from "../emulator/emulator.js";\n'],
    ]);
    expect(importRuleBreaches(tree)).toEqual([
      "src/core/commands/router.ts imports a feature: ../../features/releases/blocks.js",
      "src/emulator/web-api.ts imports a feature: ../features/help/feature.js",
      "src/features/ai/tools.ts reaches into releases: ../releases/queries.js (import ../releases/index.js)",
      "src/sandbox/repository.ts reaches into releases: ../features/releases/commits.js (import ../features/releases/index.js)",
      "src/slack/post.ts imports a feature: ../features/feedback/index.js",
      "src/time.ts imports a feature: ./features/releases/index.js",
    ]);
  });

  it("holds in src", () => {
    const tree = readTree("src");
    expect(tree.size).toBeGreaterThan(50);
    expect(importRuleBreaches(tree)).toEqual([]);
  });
});

describe("table rule", () => {
  it("names each kind of breach in a planted tree, and accepts a feature's own tables, types, constants and exported relations", () => {
    const tree: SourceTree = new Map([
      [
        "src/db/schema.ts",
        'export const releases = pgTable(\n  "releases",\n  {});\nexport const feedback = pgTable("feedback", {});\nexport const jobRuns = pgTable("job_runs", {});\nexport const FEEDBACK_STATUSES = ["open"] as const;\n',
      ],
      [
        "src/features/reports/figures.ts",
        'import { FEEDBACK_STATUSES, type ReleaseState, releases } from "../../db/schema.js";\n' +
          "// the figures from releases, see https://example.com/join feedback\n" +
          'const a = sql`select * from "releases" r JOIN feedback f on f.closed_by_release = r.id`;\n' +
          "const b = sql`update job_runs set status = 'failed'`;\n",
      ],
      ["src/features/health/job.ts", "const c = sql`insert into health_state (environment) values ('staging')`;\nconst d = sql`delete from feedback_events`;\n"],
      [
        "src/features/feedback/fixes.ts",
        'import { feedback } from "../../db/schema.js";\nimport { liveReleasesRelation } from "../releases/index.js";\n' +
          `const e = sql\`with s as (select r.id from \${liveReleasesRelation()} r) update feedback f set status = 'closed' from s\`;\n`,
      ],
      ["src/features/releases/store.ts", 'import { releases } from "../../db/schema.js";\nconst f = sql`select id from releases`;\n'],
      ["src/core/jobs/store.ts", 'import { jobRuns } from "../../db/schema.js";\nconst g = sql`select 1 from job_runs`;\n'],
    ]);
    expect(tableBreaches(tree)).toEqual([
      "src/features/health/job.ts names feedback_events, a table of feedback, in SQL",
      "src/features/reports/figures.ts imports releases, a table of releases",
      "src/features/reports/figures.ts names feedback, a table of feedback, in SQL",
      "src/features/reports/figures.ts names job_runs, a table of core, in SQL",
      "src/features/reports/figures.ts names releases, a table of releases, in SQL",
    ]);
  });

  it("gives every table in the schema one owner", () => {
    const tables = [...tablesOf(readTree("src/db").get("src/db/schema.ts") ?? "").values()].sort();
    expect(tables.length).toBeGreaterThan(10);
    expect(tables).toEqual(Object.keys(TABLE_OWNERS).sort());
  });

  it("holds in src", () => {
    expect(tableBreaches(readTree("src"))).toEqual([]);
  });
});

/** The house limit on a source file's length, for every file under src (TypeScript, the console's browser JS and CSS, its page). */
const MAX_LINES = 400;

/** Every file under a folder, whatever its kind, read from disk as text. */
function readAllFiles(folder: string): SourceTree {
  const files: SourceTree = new Map();
  for (const entry of readdirSync(join(ROOT, folder), { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = relative(ROOT, join(entry.parentPath, entry.name));
    files.set(path, readFileSync(join(ROOT, path), "utf8"));
  }
  return files;
}

/** Files longer than the limit, one line each ("src/x.ts has 401 lines"). Pure. */
function overlongFiles(files: SourceTree, limit: number): string[] {
  const breaches: string[] = [];
  for (const [path, text] of files) {
    const lines = text === "" ? 0 : text.split("\n").length - (text.endsWith("\n") ? 1 : 0);
    if (lines > limit) breaches.push(`${path} has ${lines} lines (at most ${limit})`);
  }
  return breaches.sort();
}

describe("file length", () => {
  it("counts lines as an editor shows them (a last line without a newline too), and names each file over the limit whatever its kind", () => {
    const lines = (n: number) => "x\n".repeat(n);
    const files: SourceTree = new Map([
      ["src/a.ts", lines(400)],
      ["src/b.ts", lines(401)],
      ["src/sandbox/console/c.js", `${lines(400)}x`],
      ["src/sandbox/console/d.css", lines(3)],
    ]);
    expect(overlongFiles(files, 400)).toEqual(["src/b.ts has 401 lines (at most 400)", "src/sandbox/console/c.js has 401 lines (at most 400)"]);
  });

  it("holds for every file in src, the console's JavaScript and CSS included", () => {
    const files = readAllFiles("src");
    expect([...new Set([...files.keys()].map((path) => extname(path)))]).toEqual(expect.arrayContaining([".ts", ".js", ".css", ".html"]));
    expect(overlongFiles(files, MAX_LINES)).toEqual([]);
  });
});
