import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { z } from "zod";
import { PROMPTS_FOLDER } from "../../paths.js";

/** The specialists of the reference process; each is one prompt a person can consult with `/orch ask`. */
export const SPECIALISTS = [
  "explore",
  "plan",
  "swe",
  "backend-architect",
  "test-automator",
  "code-reviewer",
  "security-auditor",
  "performance-engineer",
  "deployment-engineer",
  "terraform-specialist",
  "devops-troubleshooter",
  "architect-reviewer",
] as const;

interface Prompt {
  name: string;
  title: string;
  description: string;
  body: string;
}

interface Specialist extends Prompt {
  /** The prompt's "## Checklist" lines: the plain answer when Claude is not configured. */
  checklist: string[];
}

export interface Prompts {
  orchestrator: Prompt;
  triage: Prompt;
  digest: Prompt;
  specialists: Map<string, Specialist>;
}

export class PromptError extends Error {
  constructor(problems: string[]) {
    super(`prompts are not usable:\n${problems.join("\n")}`);
    this.name = "PromptError";
  }
}

const frontMatter = z.object({ title: z.string().min(1), description: z.string().min(1).max(150) });

/** Loads and checks every prompt at start-up: a missing or empty prompt is a start-up error naming the file. */
export function loadPrompts(folder: string = PROMPTS_FOLDER): Prompts {
  const problems: string[] = [];
  const read = (name: string): Prompt | undefined => {
    const path = join(folder, `${name}.md`);
    let text: string;
    try {
      text = readFileSync(path, "utf8");
    } catch {
      problems.push(`${path}: missing`);
      return undefined;
    }
    const match = /^---\n([\s\S]*?)\n---\n([\s\S]*)$/.exec(text.replace(/\r\n/g, "\n"));
    if (!match) {
      problems.push(`${path}: expected a front matter block (--- title, description ---) before the prompt`);
      return undefined;
    }
    const meta = frontMatter.safeParse(parse(match[1] ?? ""));
    if (!meta.success) {
      problems.push(`${path}: front matter needs a title and a one-line description`);
      return undefined;
    }
    const body = (match[2] ?? "").trim();
    if (body.length < 40) {
      problems.push(`${path}: the prompt is empty`);
      return undefined;
    }
    return { name, ...meta.data, body };
  };
  const orchestrator = read("orchestrator");
  const triage = read("triage");
  const digest = read("digest");
  const specialists = new Map<string, Specialist>();
  for (const name of SPECIALISTS) {
    const prompt = read(name);
    if (!prompt) continue;
    const checklist = checklistOf(prompt.body);
    if (checklist.length === 0) problems.push(`${join(folder, `${name}.md`)}: needs a "## Checklist" section with bullet lines`);
    else specialists.set(name, { ...prompt, checklist });
  }
  const known = new Set<string>(["orchestrator", "triage", "digest", ...SPECIALISTS]);
  for (const file of safeList(folder)) {
    const name = file.replace(/\.md$/, "");
    if (file.endsWith(".md") && file !== "README.md" && !known.has(name)) problems.push(`${join(folder, file)}: not a prompt Orchestrator knows (typo in the name?)`);
  }
  if (problems.length > 0 || !orchestrator || !triage || !digest) throw new PromptError(problems);
  return { orchestrator, triage, digest, specialists };
}

function checklistOf(body: string): string[] {
  const section = /^## Checklist\s*\n([\s\S]*?)(?=^## |(?![\s\S]))/m.exec(body);
  return (section?.[1] ?? "")
    .split("\n")
    .map((line) => /^\s*[-*•]\s+(.*)$/.exec(line)?.[1]?.trim())
    .filter((line): line is string => Boolean(line));
}

function safeList(folder: string): string[] {
  try {
    return readdirSync(folder);
  } catch {
    return [];
  }
}
