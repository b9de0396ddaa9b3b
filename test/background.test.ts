import { describe, expect, it } from "vitest";
import { Background } from "../src/core/background.js";
import { createLog } from "../src/log.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("background work at shutdown", () => {
  it("waits for a task that a finishing task starts during the grace period, and hands it an aborted signal", async () => {
    const background = new Background(createLog("error"));
    const recorded: string[] = [];
    // An approval that, once its messages are posted, starts the deploy: as ReleaseService.approve does.
    void background.run("approve", async () => {
      await sleep(50);
      void background.runWork("deploy", async (signal) => {
        await sleep(50);
        recorded.push(signal.aborted ? "interrupted" : "deployed");
      });
    });
    await background.drain(1000);
    expect(recorded).toEqual(["interrupted"]);
    expect(background.size).toBe(0);
  });

  it("gives other tasks started during the grace period (a reaction to a message just recorded) the rest of it", async () => {
    const background = new Background(createLog("error"));
    const seen: boolean[] = [];
    void background.run("record", async () => {
      await sleep(50);
      void background.run("react", async (signal) => {
        await sleep(50);
        seen.push(signal.aborted);
      });
    });
    await background.drain(1000);
    expect(seen).toEqual([false]);
  });

  it("keeps the grace period for work that was running when shutdown began", async () => {
    const background = new Background(createLog("error"));
    const seen: boolean[] = [];
    void background.run("running", async (signal) => {
      await sleep(50);
      seen.push(signal.aborted);
    });
    await background.drain(1000);
    expect(seen).toEqual([false]);
  });

  it("aborts what is still running when the grace period ends and waits for it to record its state", async () => {
    const background = new Background(createLog("error"));
    const recorded: string[] = [];
    void background.run("hanging", async (signal) => {
      await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
      await sleep(20);
      recorded.push("interrupted");
    });
    await background.drain(50);
    expect(recorded).toEqual(["interrupted"]);
  });
});
