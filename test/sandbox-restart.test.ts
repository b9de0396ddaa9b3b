import { existsSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SlackEmulator } from "../src/emulator/emulator.js";
import type { SlackMessage } from "../src/emulator/workspace.js";
import { WORKSPACE_FILE } from "../src/sandbox/persist.js";
import type { ConsoleState } from "../src/sandbox/console.js";
import { eventually } from "./support/bot.js";
import { CHANNELS, USERS, workDir } from "./support/config.js";
import { dbKinds, openTestDatabase, type TestDatabase } from "./support/db.js";
import { freePort } from "./support/process.js";
import { releaseRow, waitForState } from "./support/releases.js";
import { type Sandbox, sandboxConfig, startSandbox } from "./support/sandbox.js";

function releaseMessage(emulator: SlackEmulator, version: string): SlackMessage | undefined {
  return emulator.workspace
    .history(CHANNELS.releases)
    .filter((m) => JSON.stringify(m.blocks ?? []).includes(`Release ${version} → staging`))
    .at(-1);
}

function buttons(message: SlackMessage | undefined): string[] {
  return (message?.blocks ?? []).filter((b) => (b as { type: string }).type === "actions").flatMap((b) => (b as { elements: Array<{ action_id: string }> }).elements.map((e) => e.action_id));
}

async function awaitingApproval(emulator: SlackEmulator, version: string): Promise<SlackMessage> {
  return eventually(() => {
    const message = releaseMessage(emulator, version);
    if (!message?.text.includes("awaiting approval")) throw new Error(`release message of ${version}: ${message?.text ?? "missing"}`);
    return message;
  }, 20_000);
}

describe.each(dbKinds())("the sandbox keeps its conversation across a restart (%s)", (kind) => {
  let db: TestDatabase;
  let dataDir: string;
  let port: number;
  let sandbox: Sandbox | undefined;
  const loaded = sandboxConfig();
  const restart = async (): Promise<Sandbox> => {
    await sandbox?.stop();
    sandbox = await startSandbox({ db, dataDir, loaded, port });
    return sandbox;
  };

  beforeAll(async () => {
    db = await openTestDatabase(kind);
    dataDir = workDir();
    port = await freePort();
  });

  afterAll(async () => {
    await sandbox?.stop();
    await db?.close();
  });

  it("shows the pending release's message after a restart, and its Approve button takes the release live", async () => {
    const first = await restart();
    await first.emulator.command(USERS.engineer, CHANNELS.general, "release 1.4.0");
    const pending = await awaitingApproval(first.emulator, "1.4.0");
    const note = await first.emulator.message(USERS.stakeholder, CHANNELS.helpdesk, "The voltage chart is blank for Udon Thani");
    await first.emulator.message(USERS.admin, CHANNELS.helpdesk, "Looking at it", { threadTs: note.ts });
    await first.emulator.react(USERS.admin, CHANNELS.helpdesk, note.ts, "eyes");
    await first.emulator.idle();

    const second = await restart();
    expect(existsSync(join(dataDir, WORKSPACE_FILE))).toBe(true);
    const restored = releaseMessage(second.emulator, "1.4.0");
    expect(restored?.ts).toBe(pending.ts);
    expect(buttons(restored)).toEqual(expect.arrayContaining(["release_approve", "release_reject"]));
    // What a person opening the console sees: the same channel, with the thread and the reaction.
    const view = (await (await fetch(`${second.url}/console/state?${new URLSearchParams({ as: USERS.admin, channel: CHANNELS.helpdesk })}`)).json()) as ConsoleState;
    const shown = view.messages.find((m) => m.ts === note.ts) as unknown as { replies?: Array<{ text: string }>; reactions?: Array<{ name: string }> };
    expect(shown.replies?.map((r) => r.text)).toEqual(["Looking at it"]);
    expect(shown.reactions?.map((r) => r.name)).toContain("eyes");

    const click = await second.emulator.click(USERS.approver1, { channel: CHANNELS.releases, ts: pending.ts }, "release_approve");
    expect(click.failure).toBeUndefined();
    const row = await releaseRow(db.database.db, "1.4.0", "staging");
    if (!row) throw new Error("no release row");
    await waitForState(db.database.db, row.id, "live", 20_000);
    await eventually(() => {
      const message = releaseMessage(second.emulator, "1.4.0");
      expect(message?.ts).toBe(pending.ts);
      expect(message?.text).toContain("live");
      expect(buttons(message)).toEqual([]);
    });
  });

  it("links to the message of a release already awaiting approval, and posts it again when the workspace lost it", async () => {
    const first = await restart();
    await first.emulator.command(USERS.engineer, CHANNELS.general, "release 1.5.0");
    const pending = await awaitingApproval(first.emulator, "1.5.0");

    await first.emulator.command(USERS.approver2, CHANNELS.general, "release 1.5.0");
    const link = await eventually(() => {
      const reply = first.emulator.ephemeralsFor(USERS.approver2, CHANNELS.general).at(-1)?.text ?? "";
      expect(reply).toContain("already in flight to staging (awaiting approval");
      return reply;
    });
    expect(link).toContain(`/archives/${CHANNELS.releases}/p${pending.ts.replace(".", "")}|See its message>`);
    expect(link).not.toContain("posted it again");

    // A workspace that lost its messages: the database still has the release, Slack no longer has the message.
    await first.stop();
    sandbox = undefined;
    rmSync(join(dataDir, WORKSPACE_FILE));
    const second = await restart();
    expect(releaseMessage(second.emulator, "1.5.0")).toBeUndefined();
    await second.emulator.command(USERS.approver2, CHANNELS.general, "release 1.5.0");
    const reposted = await eventually(() => {
      const message = releaseMessage(second.emulator, "1.5.0");
      if (!message) throw new Error("not posted again yet");
      return message;
    });
    expect(reposted.text).toContain("awaiting approval");
    expect(buttons(reposted)).toEqual(expect.arrayContaining(["release_approve"]));
    const reply = await eventually(() => {
      const text = second.emulator.ephemeralsFor(USERS.approver2, CHANNELS.general).at(-1)?.text ?? "";
      expect(text).toContain("Its message was gone, so I posted it again");
      return text;
    });
    expect(reply).toContain(`p${reposted.ts.replace(".", "")}|message>`);
    // Asking again links to the new message and posts nothing more.
    await second.emulator.command(USERS.approver2, CHANNELS.general, "release 1.5.0");
    await eventually(() => expect(second.emulator.ephemeralsFor(USERS.approver2, CHANNELS.general).at(-1)?.text).toContain("|See its message>"));
    expect(second.emulator.workspace.history(CHANNELS.releases).filter((m) => m.text.includes("1.5.0") && m.ts !== reposted.ts && (m.blocks?.length ?? 0) > 0)).toEqual([]);

    await second.emulator.click(USERS.approver1, { channel: CHANNELS.releases, ts: reposted.ts }, "release_approve");
    const row = await releaseRow(db.database.db, "1.5.0", "staging");
    if (!row) throw new Error("no release row");
    await waitForState(db.database.db, row.id, "live", 20_000);
  });

  it("keeps an unreadable workspace file aside and starts with an empty workspace", async () => {
    await sandbox?.stop();
    sandbox = undefined;
    writeFileSync(join(dataDir, WORKSPACE_FILE), "{ not json");
    const fresh = await restart();
    expect(fresh.emulator.workspace.history(CHANNELS.releases)).toEqual([]);
    expect(readdirSync(dataDir).some((name) => name.startsWith(`${WORKSPACE_FILE}.unreadable-`))).toBe(true);
  });
});
