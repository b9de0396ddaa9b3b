import type { Log } from "../log.js";

/**
 * Work that outlives the request that started it (gates, deploys, Claude answers). Shutdown waits for it,
 * then aborts what is left so each task can leave an honest state behind (a deploy marked interrupted).
 */
export class Background {
  /** Each running task, by its name (for the shutdown log). */
  private readonly tasks = new Map<Promise<void>, string>();
  /** Aborted when the grace period ends: the work that was running when shutdown began. */
  private readonly controller = new AbortController();
  /** Aborted when shutdown begins: handed to a command-running task started after that (see runWork). */
  private readonly closing = new AbortController();

  constructor(
    private readonly log: Log,
    /** Told about every task that failed (metrics). */
    private readonly onFailure: (task: string, error: unknown) => void = () => {},
  ) {}

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get size(): number {
    return this.tasks.size;
  }

  /**
   * A task that runs configured commands (gates, a deploy, a job). Started after shutdown began, it gets
   * an aborted signal, so it runs nothing and records itself interrupted instead of starting new work.
   */
  runWork(name: string, task: (signal: AbortSignal) => Promise<void>): Promise<void> {
    return this.track(name, task, this.closing.signal.aborted ? this.closing.signal : this.controller.signal);
  }

  run(name: string, task: (signal: AbortSignal) => Promise<void>): Promise<void> {
    return this.track(name, task, this.controller.signal);
  }

  private track(name: string, task: (signal: AbortSignal) => Promise<void>, signal: AbortSignal): Promise<void> {
    const promise = (async () => {
      try {
        await task(signal);
      } catch (error) {
        this.log.error("background task failed", { task: name, error });
        this.onFailure(name, error);
      }
    })();
    this.tasks.set(promise, name);
    void promise.finally(() => this.tasks.delete(promise));
    return promise;
  }

  /** Resolves when every task has finished (tests). */
  async idle(): Promise<void> {
    while (this.tasks.size > 0) await Promise.allSettled([...this.tasks.keys()]);
  }

  /** Shutdown began: a command-running task started from now on gets an aborted signal (see runWork). */
  close(): void {
    this.closing.abort();
  }

  /**
   * Waits up to graceMs for running tasks, then aborts them and waits for them to record their state.
   * Tasks started while it waits (a deploy that an approval task starts as it ends) are waited for too.
   */
  async drain(graceMs: number): Promise<void> {
    this.close();
    const finished = await this.settled(graceMs);
    this.controller.abort();
    if (!finished) {
      this.log.warn("shutting down with work still running; interrupting it", { tasks: this.running() });
      if (!(await this.settled(10_000))) this.log.error("shutting down before interrupted work recorded its state", { tasks: this.running() });
    }
  }

  /** The names of the tasks still running. */
  private running(): string[] {
    return [...this.tasks.values()];
  }

  /** Whether every task, including those started meanwhile, finished within ms. */
  private async settled(ms: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
    });
    try {
      while (this.tasks.size > 0) {
        if (!(await Promise.race([Promise.allSettled([...this.tasks.keys()]).then(() => true), deadline]))) return false;
      }
      return true;
    } finally {
      clearTimeout(timer);
    }
  }
}
