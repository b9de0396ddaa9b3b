import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { loadConfigFile } from "../src/config/load.js";
import { CAPTURED_REACTION } from "../src/features/feedback/service.js";

const SRC = resolve(import.meta.dirname, "../src");

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === "console" ? [] : sourceFiles(path);
    return path.endsWith(".ts") ? [path] : [];
  });
}

/** Every `:name:` emoji written in the bot's own code: what its messages can contain. */
function emojiInSource(): Map<string, string> {
  const found = new Map<string, string>();
  for (const file of sourceFiles(SRC)) {
    for (const match of readFileSync(file, "utf8").matchAll(/(?<![\w/:]):([a-z][a-z0-9_+-]*):(?![\w/])/g)) {
      const name = match[1] ?? "";
      if (!found.has(name)) found.set(name, file.slice(SRC.length + 1));
    }
  }
  return found;
}

describe("the console renders every emoji the bot emits", () => {
  it("has each one in its emoji table", async () => {
    const dom = (await import(pathToFileURL(join(SRC, "sandbox/console/dom.js")).href)) as { emojiChar(name: string): string | undefined };
    const emitted = emojiInSource();
    // Reactions the bot adds or watches are emoji too.
    emitted.set(CAPTURED_REACTION, "feedback/service.ts");
    emitted.set(loadConfigFile("orchestrator.yaml", {}).config.feedback.reaction, "orchestrator.yaml");
    expect(emitted.size).toBeGreaterThan(15);
    expect(emitted.get("stethoscope")).toBeDefined();
    const missing = [...emitted].filter(([name]) => dom.emojiChar(name) === undefined).map(([name, file]) => `:${name}: (${file})`);
    expect(missing).toEqual([]);
  });
});
