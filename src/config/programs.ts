import { accessSync, constants, statSync } from "node:fs";
import { delimiter, isAbsolute, join, resolve } from "node:path";
import type { Config } from "./schema.js";

/**
 * Start-up check of every `run` program, so a typo shows at start-up with its path in the file rather
 * than as a failed release hours later. A path (`./scripts/deploy.sh`) is resolved against the config
 * file's folder, where commands run; a bare name (`npm`, `trivy`) is looked up on PATH, which is the
 * PATH commands get. A missing program of a release step (gate, deploy, smoke) is an error; a job's is a
 * warning: maintenance tools are often installed only where the job runs, and the job reports its failure.
 */
interface ProgramProblem {
  /** Where in the file: e.g. ["environments", 0, "deploy", "run", 0]. */
  path: PropertyKey[];
  message: string;
  /** False for a warning that does not stop start-up. */
  blocking: boolean;
}

export function checkPrograms(config: Config, configDir: string, path: string): ProgramProblem[] {
  const problems: ProgramProblem[] = [];
  const check = (argv: readonly string[] | undefined, at: PropertyKey[], severity: "error" | "warning") => {
    const program = argv?.[0];
    if (!program) return;
    const message = programProblem(program, configDir, path);
    if (message) problems.push({ path: [...at, "run", 0], message, blocking: severity === "error" });
  };
  config.environments.forEach((env, index) => {
    if ("run" in env.deploy) check(env.deploy.run, ["environments", index, "deploy"], "error");
    check(env.smoke?.run, ["environments", index, "smoke"], "error");
  });
  config.gates.forEach((gate, index) => {
    if ("run" in gate) check(gate.run, ["gates", index], "error");
  });
  for (const [name, job] of Object.entries(config.jobs)) check(job?.run, ["jobs", name], "warning");
  return problems;
}

function programProblem(program: string, configDir: string, path: string): string | undefined {
  if (program.includes("/")) {
    const file = isAbsolute(program) ? program : resolve(configDir, program);
    return fileProblem(program, file);
  }
  for (const folder of path.split(delimiter).filter(Boolean)) {
    if (fileProblem(program, join(folder, program)) === undefined) return undefined;
  }
  return `${program} is not on PATH`;
}

function fileProblem(program: string, file: string): string | undefined {
  try {
    if (!statSync(file).isFile()) return `${program} is not a file`;
  } catch {
    return `${program} does not exist`;
  }
  try {
    accessSync(file, constants.X_OK);
    return undefined;
  } catch {
    return `${program} is not executable (chmod +x ${program})`;
  }
}
