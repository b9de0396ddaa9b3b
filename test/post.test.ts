import type { WebClient } from "@slack/web-api";
import { describe, expect, it } from "vitest";
import { ChannelPoster } from "../src/slack/post.js";

/** A Slack client that records when each chat call arrived. */
function recordingClient() {
  const calls: Array<{ method: string; channel: string; at: number; args: Record<string, unknown> }> = [];
  const record = (method: string) => async (args: Record<string, unknown>) => {
    calls.push({ method, channel: String(args.channel), at: Date.now(), args });
    return { ok: true, ts: String(calls.length), channel: args.channel };
  };
  const client = { chat: { postMessage: record("postMessage"), postEphemeral: record("postEphemeral"), update: record("update") } } as unknown as WebClient;
  return { client, calls };
}

describe("the paced poster", () => {
  it("spaces posts and ephemeral messages to one channel alike, leaves other channels and updates unpaced", async () => {
    const { client, calls } = recordingClient();
    const poster = new ChannelPoster(client, 200);
    const start = Date.now();
    await Promise.all([
      poster.post("C1", { text: "first" }),
      poster.ephemeral("C1", "U1", { text: "only for U1", threadTs: "1.0" }),
      poster.post("C2", { text: "elsewhere" }),
      poster.update("C1", "1", { text: "edited" }),
    ]);
    const at = (method: string, channel: string) => (calls.find((c) => c.method === method && c.channel === channel)?.at ?? Number.NaN) - start;
    expect(at("postMessage", "C1")).toBeLessThan(100);
    expect(at("postEphemeral", "C1")).toBeGreaterThanOrEqual(190);
    expect(at("postMessage", "C2")).toBeLessThan(100);
    expect(at("update", "C1")).toBeLessThan(100);
    expect(calls.find((c) => c.method === "postEphemeral")?.args).toEqual({ channel: "C1", user: "U1", text: "only for U1", thread_ts: "1.0" });
  });
});
