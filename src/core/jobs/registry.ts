import type { JobConfig } from "../../config/schema.js";
import type { JobRunStatus } from "../../db/schema.js";
import type { JobName } from "./catalog.js";

export interface JobContext {
  job: JobName;
  /** The scheduled time this run belongs to (ad-hoc runs: when it was asked for). */
  slot: Date;
  trigger: "schedule" | "catch-up" | "manual" | "startup";
  requestedBy?: string;
  /** Aborted on shutdown: stop and report what was done. */
  signal: AbortSignal;
  /** The job's entry in the config file, if any. */
  config: JobConfig | undefined;
}

export interface JobOutcome {
  status: Exclude<JobRunStatus, "running" | "skipped">;
  /** One or two sentences for people: shown in `/orch jobs`, alerts and digests. */
  summary: string;
  outputTail?: string;
  details?: Record<string, unknown>;
}

export type JobBody = (context: JobContext) => Promise<JobOutcome>;

/** What each built-in job does, defined by the feature that owns the data it works on. */
export class JobBodies {
  private readonly bodies = new Map<JobName, JobBody>();

  define(name: JobName, body: JobBody): void {
    if (this.bodies.has(name)) throw new Error(`job ${name} is defined twice`);
    this.bodies.set(name, body);
  }

  get(name: JobName): JobBody | undefined {
    return this.bodies.get(name);
  }
}
