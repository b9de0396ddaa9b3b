import { afterEach, describe, expect, it, vi } from "vitest";
import { Background } from "../src/core/background.js";
import { AfterAckQueue, deferralMs } from "../src/core/commands/after-ack.js";
import { createLog } from "../src/log.js";

const limits = { quietMs: 5, maxDeferMs: 300, concurrency: 2 };

describe("when work after an ack may start", () => {
  it("waits until commands have stopped arriving for the quiet time", () => {
    expect(deferralMs({ lastAt: 1000, burstStartedAt: 1000 }, 1000, limits)).toBe(5);
    expect(deferralMs({ lastAt: 1000, burstStartedAt: 1000 }, 1003, limits)).toBe(2);
    expect(deferralMs({ lastAt: 1000, burstStartedAt: 1000 }, 1005, limits)).toBe(0);
    expect(deferralMs({ lastAt: 1000, burstStartedAt: 900 }, 1010, limits)).toBe(0);
  });

  it("waits no longer than the burst limit while commands keep arriving", () => {
    expect(deferralMs({ lastAt: 1298, burstStartedAt: 1000 }, 1298, limits)).toBe(2);
    expect(deferralMs({ lastAt: 1300, burstStartedAt: 1000 }, 1300, limits)).toBe(0);
    expect(deferralMs({ lastAt: 1500, burstStartedAt: 1000 }, 1500, limits)).toBe(0);
  });
});

describe("the queue of work after acks", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("starts a burst's work once the burst is acknowledged, a few at a time, in arrival order", async () => {
    vi.useFakeTimers();
    let now = 0;
    const queue = new AfterAckQueue(new Background(createLog("error")), limits, () => now);
    const started: Array<{ name: string; at: number }> = [];
    const running = new Set<string>();
    let mostAtOnce = 0;
    const work = (name: string) => async () => {
      started.push({ name, at: now });
      running.add(name);
      mostAtOnce = Math.max(mostAtOnce, running.size);
      await new Promise((resolve) => setTimeout(resolve, 1));
      running.delete(name);
    };
    // Ten commands, one every millisecond: each is acknowledged and its work queued.
    for (let i = 0; i < 10; i += 1) {
      queue.arrived();
      queue.enqueue(`c${i}`, work(`c${i}`));
      now += 1;
      await vi.advanceTimersByTimeAsync(1);
    }
    expect(started).toEqual([]);
    for (let ms = 0; ms < 40; ms += 1) {
      now += 1;
      await vi.advanceTimersByTimeAsync(1);
    }
    expect(started.map((s) => s.name)).toEqual(["c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9"]);
    // Not before the last command had been quiet for 5 ms (it arrived at 9).
    expect(Math.min(...started.map((s) => s.at))).toBeGreaterThanOrEqual(14);
    expect(mostAtOnce).toBe(2);
  });

  it("answers a steady stream of commands after the burst limit, not only when it ends", async () => {
    vi.useFakeTimers();
    let now = 0;
    const queue = new AfterAckQueue(new Background(createLog("error")), limits, () => now);
    const started: number[] = [];
    for (let i = 0; i < 500; i += 1) {
      queue.arrived();
      if (i === 0) queue.enqueue("first", async () => void started.push(now));
      now += 1;
      await vi.advanceTimersByTimeAsync(1);
    }
    expect(started).toHaveLength(1);
    expect(started[0]).toBeGreaterThanOrEqual(300);
    expect(started[0]).toBeLessThan(310);
  });
});
