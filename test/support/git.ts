import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A real git repository in a temp folder, for commit lists and tags in tests. */
export class TestRepo {
  readonly path = mkdtempSync(join(tmpdir(), "orch-repo-"));
  private clock = Date.parse("2026-11-01T03:00:00Z");

  constructor() {
    this.git("init", "--quiet", "--initial-branch=main");
  }

  git(...args: string[]): string {
    return execFileSync("git", args, {
      cwd: this.path,
      encoding: "utf8",
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: this.path, GIT_CONFIG_NOSYSTEM: "1", LC_ALL: "C" },
    }).trim();
  }

  /** An empty commit by `author`, an hour after the previous one unless `at` is given. Returns its sha. */
  commit(subject: string, author = "Arthit Wongsa", at?: Date): string {
    this.clock = at ? at.getTime() : this.clock + 3_600_000;
    const date = new Date(this.clock).toISOString();
    execFileSync("git", ["-c", `user.name=${author}`, "-c", "user.email=dev@example.org", "commit", "--quiet", "--allow-empty", "-m", subject], {
      cwd: this.path,
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: this.path, GIT_CONFIG_NOSYSTEM: "1", GIT_AUTHOR_DATE: date, GIT_COMMITTER_DATE: date },
    });
    return this.git("rev-parse", "HEAD");
  }

  /** Tags HEAD (or moves the tag there with `force`). */
  tag(name: string, force = false): void {
    this.git("tag", ...(force ? ["-f"] : []), name);
  }
}
