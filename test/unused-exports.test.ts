import { describe, expect, it } from "vitest";
import { exportsOf, importsOf, readTree, type SourceTree } from "./support/imports.js";

/**
 * Exports of src files that nothing needs. TypeScript's noUnused* checks do not see exports. An export is needed when
 * src, bench or scripts import it, or when a test imports it and its own module uses it too (a pure decision exported
 * so a test can drive it). An export only a test imports is code the product never runs: that is how `mergeTriage` slipped through.
 */
function unusedExports(tree: SourceTree, allowed: ReadonlySet<string> = new Set()): string[] {
  const byProduct = new Set<string>();
  const byTests = new Set<string>();
  for (const [path, text] of tree) {
    const users = path.startsWith("test/") ? byTests : byProduct;
    for (const clause of importsOf(path, text)) {
      if (!clause.target) continue;
      for (const name of clause.names) users.add(`${clause.target}#${name}`);
    }
  }
  const unused: string[] = [];
  for (const [path, text] of tree) {
    if (!path.startsWith("src/") || byProduct.has(`${path}#*`)) continue;
    for (const name of exportsOf(text)) {
      const key = `${path}#${name}`;
      if (byProduct.has(key)) continue;
      const usedAtHome = (text.match(new RegExp(`(?<![\\w$])${name.replace(/\$/g, "\\$")}(?![\\w$])`, "g")) ?? []).length > 1;
      if ((byTests.has(key) && usedAtHome) || allowed.has(`${path}: ${name}`)) continue;
      unused.push(`${path}: ${name}`);
    }
  }
  return unused.sort();
}

/** Listed, not hidden: the config parser's text entry point that tests drive (the loader reads a file and keeps the secrets). */
const KNOWN_TEST_ONLY = new Set(["src/config/load.ts: parseConfig"]);

describe("exports", () => {
  it("finds an export nobody imports or only a test imports, and sees one imported by name, by namespace or through a re-export", () => {
    const tree: SourceTree = new Map([
      ["src/a.ts", "export function used() {}\nexport const unused = 1;\nexport interface Shape {}\n"],
      ["src/b.ts", 'import { used, type Shape } from "./a.js";\nexport { helper } from "./c.js";\n'],
      ["src/c.ts", "export function helper() {}\n"],
      ["src/d.ts", "export const table = 1;\nexport const other = 2;\n"],
      ["bench/d.ts", 'import * as d from "../src/d.js";\n'],
      ["src/e.ts", "export function onlyTested() {}\nexport function decide() {}\nexport function run() { return decide(); }\n"],
      ["src/f.ts", 'import { run } from "./e.js";\nimport { helper } from "./b.js";\n'],
      ["test/e.test.ts", 'import { decide, onlyTested } from "../src/e.js";\n'],
    ]);
    expect(unusedExports(tree)).toEqual(["src/a.ts: unused", "src/e.ts: onlyTested"]);
  });

  it("finds a front door's re-export that no other file imports through it, even when its own feature imports the name directly", () => {
    const tree: SourceTree = new Map([
      ["src/g/job.ts", "export function gJob() {}\nexport interface GResult {}\n"],
      ["src/g/feature.ts", 'import { gJob } from "./job.js";\n'],
      ["src/g/index.ts", 'export { gJob, type GResult as Result } from "./job.js";\nexport {\n  gRead,\n  gFigures,\n} from "./read.js";\n'],
      ["src/g/read.ts", "export function gRead() {}\nexport function gFigures() {}\n"],
      ["src/h.ts", 'import { gRead } from "./g/index.js";\n'],
      ["test/g.test.ts", 'import { gFigures, type Result } from "../src/g/index.js";\n'],
    ]);
    expect(unusedExports(tree)).toEqual(["src/g/index.ts: Result", "src/g/index.ts: gFigures", "src/g/index.ts: gJob"]);
  });

  it("every export in src is needed", () => {
    expect(unusedExports(readTree("src", "test", "bench", "scripts"), KNOWN_TEST_ONLY)).toEqual([]);
  });
});
