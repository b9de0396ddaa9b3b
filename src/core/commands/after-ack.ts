import type { Background } from "../background.js";

/** How work after an ack yields to the acks of a burst of commands. */
interface AfterAckLimits {
  /** Work runs at once when no command has arrived for this long. */
  quietMs: number;
  /** …and this long into a burst at the latest, so a steady stream of commands still gets its answers. */
  maxDeferMs: number;
  /** Commands running after their acks at once; the rest wait their turn. */
  concurrency: number;
}

const LIMITS: AfterAckLimits = { quietMs: 5, maxDeferMs: 300, concurrency: 4 };

/** When commands arrived: the latest one, and the first of the burst it belongs to. */
interface Arrivals {
  lastAt: number;
  burstStartedAt: number;
}

/** How long work after an ack should still wait at `now` (0: start it). */
export function deferralMs(arrivals: Arrivals, now: number, limits: Pick<AfterAckLimits, "quietMs" | "maxDeferMs"> = LIMITS): number {
  const untilQuiet = limits.quietMs - (now - arrivals.lastAt);
  const untilLimit = limits.maxDeferMs - (now - arrivals.burstStartedAt);
  return Math.max(0, Math.min(untilQuiet, untilLimit));
}

/**
 * The work commands do after their acks (queries, the answer through response_url). It takes turns, a
 * few commands at a time, and starts once a burst of commands has been acknowledged: Slack allows an ack
 * 3 seconds, an answer 30 minutes, so a burst's acks never compete with its answers for the event loop
 * (and, on a small machine, with the database for the CPU).
 */
export class AfterAckQueue {
  private readonly queue: Array<() => Promise<void>> = [];
  private draining = 0;
  private readonly arrivals: Arrivals = { lastAt: Number.NEGATIVE_INFINITY, burstStartedAt: Number.NEGATIVE_INFINITY };

  constructor(
    private readonly background: Background,
    private readonly limits: AfterAckLimits = LIMITS,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** A command arrived (before its ack). */
  arrived(): void {
    const now = this.now();
    if (now - this.arrivals.lastAt > this.limits.quietMs) this.arrivals.burstStartedAt = now;
    this.arrivals.lastAt = now;
  }

  enqueue(name: string, work: () => Promise<void>): void {
    this.queue.push(work);
    if (this.draining >= this.limits.concurrency) return;
    this.draining += 1;
    void this.background.run(name, async () => {
      try {
        for (let next = this.queue.shift(); next; next = this.queue.shift()) {
          await this.quietMoment();
          await next();
        }
      } finally {
        this.draining -= 1;
      }
    });
  }

  private async quietMoment(): Promise<void> {
    // At least one turn of the event loop, so acks already being sent go first.
    await new Promise((resolve) => setImmediate(resolve));
    for (let wait = deferralMs(this.arrivals, this.now(), this.limits); wait > 0; wait = deferralMs(this.arrivals, this.now(), this.limits)) {
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }
}
