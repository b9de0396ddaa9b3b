import type { Log } from "../log.js";

/**
 * Work that outlives the request that started it (gates, deploys, Claude answers). Shutdown waits for it,
 * then aborts what is left so each task can leave an honest state behind (a deploy marked interrupted).
 */
export class Background {
  private readonly tasks = new Set<Promise<void>>();
  private readonly controller = new AbortController();

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

  run(name: string, task: (signal: AbortSignal) => Promise<void>): Promise<void> {
    const promise = (async () => {
      try {
        await task(this.controller.signal);
      } catch (error) {
        this.log.error("background task failed", { task: name, error });
        this.onFailure(name, error);
      }
    })();
    this.tasks.add(promise);
    void promise.finally(() => this.tasks.delete(promise));
    return promise;
  }

  /** Resolves when every task has finished (tests). */
  async idle(): Promise<void> {
    while (this.tasks.size > 0) await Promise.allSettled([...this.tasks]);
  }

  /** Waits up to graceMs for running tasks, then aborts them and waits for them to record their state. */
  async drain(graceMs: number): Promise<void> {
    if (this.tasks.size === 0) {
      this.controller.abort();
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    const finished = await Promise.race([
      Promise.allSettled([...this.tasks]).then(() => true),
      new Promise<false>((resolve) => {
        timer = setTimeout(() => resolve(false), graceMs);
      }),
    ]);
    clearTimeout(timer);
    this.controller.abort();
    if (!finished) {
      this.log.warn("shutting down with work still running; interrupting it", { tasks: this.tasks.size });
      await Promise.race([Promise.allSettled([...this.tasks]), new Promise((resolve) => setTimeout(resolve, 10_000).unref())]);
    }
  }
}
