import { existsSync } from "node:fs";
import { resolve } from "node:path";
import type { RepositoryConfig } from "../../config/schema.js";
import type { CommitRange } from "../../db/schema.js";
import { type ExecContext, runArgv } from "../../exec/run.js";
import { andMore, plural } from "../../slack/text.js";

/** How many commit subjects a release keeps and shows; the rest is "…and N more". */
const COMMITS_SHOWN = 15;
/** A range longer than this is counted up to here: a release message is not a changelog of years. */
const MAX_COMMITS_READ = 5000;
const GIT_TIMEOUT_MS = 15_000;

/** The tag that names a version, e.g. `v{version}` → v1.4.0 (the normalized version, so v1.4.0 and 1.4.0 agree). */
export function tagOf(repository: RepositoryConfig, semver: string): string {
  return repository.tag.replaceAll("{version}", semver);
}

interface GitContext {
  repository: RepositoryConfig;
  /** How configured commands run; its folder (the config file's) is where a relative `repository.path` is read from. */
  exec: ExecContext;
  signal?: AbortSignal;
}

type Git = (args: string[]) => Promise<{ ok: boolean; stdout: string; failure?: string; tail: string }>;

function git(context: GitContext): Git {
  const cwd = resolve(context.exec.cwd, context.repository.path);
  // The commands' own explicit environment, plus what makes git's output parseable and never interactive.
  const exec: ExecContext = { ...context.exec, cwd, env: { ...context.exec.env, GIT_TERMINAL_PROMPT: "0", LC_ALL: "C" } };
  return async (args) => {
    // `--no-pager`, no prompts, a fixed locale: git's output is parsed, and nothing may wait for a terminal.
    const run = await runArgv({
      argv: ["git", "--no-pager", "-c", "core.quotePath=off", ...args],
      exec,
      timeoutMs: GIT_TIMEOUT_MS,
      ...(context.signal ? { signal: context.signal } : {}),
    });
    return { ok: run.ok, stdout: run.stdout, tail: run.tail, ...(run.failure ? { failure: run.failure } : {}) };
  };
}

async function commitOf(run: Git, tag: string): Promise<string | undefined> {
  const result = await run(["rev-parse", "--verify", "--quiet", `refs/tags/${tag}^{commit}`]);
  const sha = result.stdout.trim();
  return result.ok && /^[0-9a-f]{40,64}$/.test(sha) ? sha : undefined;
}

/**
 * The commits between the version live on the environment (exclusive) and this version, through `git`
 * run as an argv command. Never throws: a missing repository or tag becomes a range whose status and
 * note say so, which the release message shows without blocking the release.
 */
export async function readCommitRange(context: GitContext, input: { semver: string; fromSemver?: string | undefined }): Promise<CommitRange> {
  const tag = tagOf(context.repository, input.semver);
  const fromTag = input.fromSemver ? tagOf(context.repository, input.fromSemver) : undefined;
  const base = { tag, total: 0, authors: [], commits: [], ...(input.fromSemver ? { fromVersion: input.fromSemver, fromTag } : {}) };
  const path = resolve(context.exec.cwd, context.repository.path);
  if (!existsSync(path)) return { ...base, status: "missing_repository", note: `the repository ${context.repository.path} was not found` };
  const run = git(context);
  const inside = await run(["rev-parse", "--is-inside-work-tree"]);
  if (!inside.ok) {
    const missingGit = inside.failure?.includes("not found");
    return { ...base, status: missingGit ? "error" : "missing_repository", note: missingGit ? "git is not installed" : `${context.repository.path} is not a git repository` };
  }
  const sha = await commitOf(run, tag);
  if (!sha) return { ...base, status: "missing_tag", note: `tag ${tag} not found in ${context.repository.path}` };
  const fromSha = fromTag ? await commitOf(run, fromTag) : undefined;
  if (fromTag && !fromSha) {
    return { ...base, sha, status: "missing_tag", note: `tag ${fromTag} of the live version ${input.fromSemver} not found, so the commits since it are unknown` };
  }
  const log = await run(["log", `--max-count=${MAX_COMMITS_READ}`, "--format=%H%x1f%an%x1f%aI%x1f%s%x1e", fromSha ? `${fromSha}..${sha}` : sha, "--"]);
  if (!log.ok) return { ...base, sha, ...(fromSha ? { fromSha } : {}), status: "error", note: `git log failed: ${log.failure ?? "unknown error"}` };
  const entries = log.stdout
    .split("\x1e")
    .map((record) => record.trim())
    .filter(Boolean)
    .map((record) => {
      const [commit = "", author = "", date = "", subject = ""] = record.split("\x1f");
      return { sha: commit, author, date, subject };
    });
  const byAuthor = new Map<string, number>();
  for (const entry of entries) byAuthor.set(entry.author, (byAuthor.get(entry.author) ?? 0) + 1);
  const oldest = entries.at(-1)?.date;
  return {
    ...base,
    status: "ok",
    sha,
    ...(fromSha ? { fromSha } : {}),
    total: entries.length,
    authors: [...byAuthor].map(([name, commits]) => ({ name, commits })).sort((a, b) => b.commits - a.commits || a.name.localeCompare(b.name)),
    commits: entries.slice(0, COMMITS_SHOWN).map(({ sha: commit, author, subject }) => ({ sha: commit, author, subject })),
    // A first release has no earlier version: its oldest commit could be years old, so lead time
    // starts at the request instead (see src/features/dora/figures.ts).
    ...(fromSha && oldest && !Number.isNaN(Date.parse(oldest)) ? { oldestAt: new Date(oldest).toISOString() } : {}),
    ...(entries.length >= MAX_COMMITS_READ ? { note: `more than ${MAX_COMMITS_READ} commits; counted up to there` } : {}),
  };
}

/** Commit lines for the release message: subjects with `#123` linked to the forge when `url` is set, and how many more there are. Pure. */
export function commitSummary(range: CommitRange, url: string | undefined, escapeText: (text: string) => string): { heading: string; lines: string[]; more: number } {
  const what = range.fromTag ? `${range.fromTag}..${range.tag}` : `up to ${range.tag} (first release here)`;
  if (range.status !== "ok") return { heading: `*Commits* — :warning: ${escapeText(range.note ?? "not available")}; the release is not blocked`, lines: [], more: 0 };
  if (range.total === 0) return { heading: `*Commits* (${escapeText(what)}) — none: ${escapeText(range.tag)} adds nothing to the live version`, lines: [], more: 0 };
  const authors =
    range.authors
      .slice(0, 5)
      .map((a) => `${escapeText(a.name)} (${a.commits})`)
      .join(", ") + andMore(range.authors.length - 5);
  const base = url?.replace(/\/+$/, "");
  const lines = range.commits.map((c) => {
    const subject = escapeText(c.subject.slice(0, 120));
    const linked = base ? subject.replace(/(^|[^&\w])#(\d{1,7})\b/g, (_match, before: string, n: string) => `${before}<${base}/pull/${n}|#${n}>`) : subject;
    const sha = base ? `<${base}/commit/${c.sha}|\`${c.sha.slice(0, 7)}\`>` : `\`${c.sha.slice(0, 7)}\``;
    return `• ${sha} ${linked}`;
  });
  return { heading: `*Commits* (${escapeText(what)}) — ${plural(range.total, "commit")} by ${authors}`, lines, more: range.total - range.commits.length };
}
