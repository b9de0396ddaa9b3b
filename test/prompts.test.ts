import { cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadPrompts, SPECIALISTS } from "../src/features/ai/prompts.js";
import { PROMPTS_FOLDER } from "../src/paths.js";

function copyOfPrompts(): string {
  const dir = mkdtempSync(join(tmpdir(), "orch-prompts-"));
  cpSync(PROMPTS_FOLDER, dir, { recursive: true });
  return dir;
}

describe("prompts", () => {
  it("ships every prompt, each specialist with a checklist for the answer without Claude", () => {
    const prompts = loadPrompts();
    expect([...prompts.specialists.keys()]).toEqual([...SPECIALISTS]);
    for (const specialist of prompts.specialists.values()) {
      expect(specialist.checklist.length).toBeGreaterThanOrEqual(4);
      expect(specialist.description.length).toBeLessThanOrEqual(150);
    }
    expect(prompts.orchestrator.body).toMatch(/slack_message/);
    expect(prompts.triage.body).toMatch(/JSON/);
  });

  it("refuses to start with a missing, empty or unknown prompt, naming the file", () => {
    const dir = copyOfPrompts();
    rmSync(join(dir, "security-auditor.md"));
    writeFileSync(join(dir, "triage.md"), "---\ntitle: Triage\ndescription: Sort feedback.\n---\n\n");
    writeFileSync(join(dir, "sre.md"), "---\ntitle: SRE\ndescription: x\n---\nSomething long enough to count as a prompt body, surely.");
    expect(() => loadPrompts(dir)).toThrow(
      [`${join(dir, "triage.md")}: the prompt is empty`, `${join(dir, "security-auditor.md")}: missing`, `${join(dir, "sre.md")}: not a prompt Orchestrator knows (typo in the name?)`].join("\n"),
    );
  });

  it("needs a checklist in each specialist", () => {
    const dir = copyOfPrompts();
    writeFileSync(join(dir, "swe.md"), "---\ntitle: SWE\ndescription: Code.\n---\nYou write and fix code for the forecasting platform, carefully and concisely.");
    expect(() => loadPrompts(dir)).toThrow(`${join(dir, "swe.md")}: needs a "## Checklist" section with bullet lines`);
  });
});
