import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import type { RepositoryConfig } from "../config/schema.js";
import { type ExecContext, runArgv } from "../exec/run.js";
import type { Log } from "../log.js";
import { tagOf } from "../features/releases/index.js";

/** The demo history: commits by the sandbox's people, tagged 1.3.0, 1.4.0 and 1.4.1, so the tour shows commits in approvals. */
const HISTORY: Array<{ subject: string; author: string; tag?: string }> = [
  { subject: "Solar forecast service: first day-ahead model", author: "Arthit Wongsa" },
  { subject: "Grid-voltage forecast API (#3)", author: "Niran Chaiyaporn" },
  { subject: "Dashboards for the control room (#5)", author: "Arthit Wongsa", tag: "1.3.0" },
  { subject: "Retrain the voltage LSTM on 2026 data (#12)", author: "Arthit Wongsa" },
  { subject: "Cloud-cover features for the solar model (#14)", author: "Somchai Prasert" },
  { subject: "Export forecasts as CSV with the time zone (#17)", author: "Niran Chaiyaporn" },
  { subject: "Runbook: rolling back a model (#18)", author: "Ploy Srisuk" },
  { subject: "Forecast page loads in under 2 s (#21)", author: "Arthit Wongsa", tag: "1.4.0" },
  { subject: "Fix the voltage chart legend cut off on small screens (#24)", author: "Niran Chaiyaporn" },
  { subject: "Fix Khon Kaen forecast timeouts at 07:00 (#25)", author: "Arthit Wongsa", tag: "1.4.1" },
];

/**
 * Sandbox mode only: creates the demo git repository at `repository.path` the first time, built in a
 * temporary folder and moved into place, so an interrupted start never leaves half a repository.
 * Runs git as argv commands through the one runner; without git it logs why and the messages say so.
 */
export async function ensureDemoRepository(repository: RepositoryConfig, exec: ExecContext, log: Log): Promise<void> {
  const target = resolve(exec.cwd, repository.path);
  if (existsSync(target)) return;
  mkdirSync(dirname(target), { recursive: true });
  const work = mkdtempSync(join(dirname(target), ".demo-repo-"));
  const start = Date.parse("2026-10-05T02:00:00Z");
  const git = async (args: string[], env: Record<string, string> = {}) => {
    const run = await runArgv({ argv: ["git", ...args], timeoutMs: 15_000, exec: { ...exec, cwd: work, env: { ...exec.env, GIT_TERMINAL_PROMPT: "0", LC_ALL: "C", ...env } } });
    if (!run.ok) throw new Error(`git ${args[0]} failed: ${run.failure}${run.tail ? ` (${run.tail.split("\n").at(-1)})` : ""}`);
  };
  try {
    await git(["init", "--quiet", "--initial-branch=main"]);
    for (const [index, step] of HISTORY.entries()) {
      const date = new Date(start + index * 2 * 86_400_000).toISOString();
      const email = `${step.author.split(" ")[0]?.toLowerCase()}@pea-forecast.example`;
      await git(["-c", `user.name=${step.author}`, "-c", `user.email=${email}`, "commit", "--quiet", "--allow-empty", "-m", step.subject], {
        GIT_AUTHOR_DATE: date,
        GIT_COMMITTER_DATE: date,
      });
      if (step.tag) await git(["tag", tagOf(repository, step.tag)]);
    }
    renameSync(work, target);
    log.info("created the sandbox's demo git repository", { path: target, tags: HISTORY.filter((s) => s.tag).map((s) => tagOf(repository, s.tag as string)) });
  } catch (error) {
    rmSync(work, { recursive: true, force: true });
    log.warn("could not create the sandbox's demo git repository; release messages will say the repository is missing", { path: target, error });
  }
}
