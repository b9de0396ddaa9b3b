import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { asc, eq } from "drizzle-orm";
import type { Db } from "../../src/db/client.js";
import { releases, releaseTransitions } from "../../src/db/schema.js";
import type { SlackMessage } from "../../src/emulator/workspace.js";
import { eventually, type TestBot } from "./bot.js";
import { CHANNELS } from "./config.js";

/** The release message for a version and environment, as people see it in the releases channel. */
export function releaseMessageOf(bot: TestBot, version: string, environment: string): SlackMessage | undefined {
  return bot.emulator.workspace
    .history(CHANNELS.releases)
    .filter((m) => JSON.stringify(m.blocks ?? []).includes(`Release ${version} → ${environment}`))
    .at(-1);
}

export function buttonsOf(message: SlackMessage | undefined): string[] {
  const actions = (message?.blocks ?? []).filter((b) => (b as { type: string }).type === "actions") as Array<{ elements: Array<{ action_id: string }> }>;
  return actions.flatMap((a) => a.elements.map((e) => e.action_id));
}

/** Waits until the release message shows the state (by its fallback text, e.g. "awaiting approval"). */
export async function waitForMessageState(bot: TestBot, version: string, environment: string, state: string, timeoutMs = 15_000): Promise<SlackMessage> {
  return eventually(() => {
    const message = releaseMessageOf(bot, version, environment);
    if (!message?.text.includes(state)) throw new Error(`release message of ${version} → ${environment} is "${message?.text ?? "missing"}", not ${state}`);
    return message;
  }, timeoutMs);
}

export async function waitForState(db: Db, id: number, state: string, timeoutMs = 15_000): Promise<void> {
  await eventually(async () => {
    const [row] = await db.select({ state: releases.state }).from(releases).where(eq(releases.id, id));
    if (row?.state !== state) throw new Error(`release ${id} is ${row?.state ?? "missing"}, not ${state}`);
  }, timeoutMs);
}

export async function releaseRow(db: Db, version: string, environment: string) {
  const rows = await db.select().from(releases).where(eq(releases.version, version));
  return rows.filter((r) => r.environment === environment).at(-1);
}

export async function transitionsOf(db: Db, id: number) {
  return db.select().from(releaseTransitions).where(eq(releaseTransitions.releaseId, id)).orderBy(asc(releaseTransitions.id));
}

/** The deploys the fixture deploy script recorded: "<environment> <version> <pid>" per line. */
export function deploysIn(dir: string): string[] {
  const path = join(dir, "deploys.log");
  if (!existsSync(path)) return [];
  return readFileSync(path, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((line) => line.split(" ").slice(0, 2).join(" "));
}

export function lastEphemeral(bot: TestBot, user: string, channel: string = CHANNELS.releases): string | undefined {
  return bot.emulator.ephemeralsFor(user, channel).at(-1)?.text;
}
