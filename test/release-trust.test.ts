import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../src/config/load.js";
import { serveEmulator } from "../src/emulator/server.js";
import { eventually, startTestBot, type TestBot, testEmulator } from "./support/bot.js";
import { CHANNELS, FIXTURES, testConfigYaml, USERS, workDir } from "./support/config.js";
import { dbKinds, openTestDatabase, type TestDatabase } from "./support/db.js";
import { buttonsOf, deploysIn, lastEphemeral, releaseMessageOf, releaseRow, transitionsOf, waitForMessageState } from "./support/releases.js";

/**
 * SPEC §4: approvals count only for people who are approvers *now*, and the requester may withdraw
 * their own release. The bot is restarted with a changed config over the same database and workspace,
 * as an operator removing an approver would.
 */
describe.each(dbKinds())("approvers now, and withdrawal by the requester, on %s", (kind) => {
  let db: TestDatabase;
  let bot: TestBot;
  let served: Awaited<ReturnType<typeof serveEmulator>>;
  const emulator = testEmulator();
  const dir = workDir();
  const environments = `
  - name: production
    approvals: 2
    deploy: { run: ["${FIXTURES}/deploy.sh", "${dir}", "{environment}", "{version}"], timeout: 20s }`;

  /** The test config with `people.approvers` as given, written where the bot reads it. */
  const configWith = (approvers: string[]) => {
    const text = testConfigYaml({ dir, environments }).replace(/approvers: \[[^\]]*\]/, `approvers: [${approvers.join(", ")}]`);
    const path = join(dir, "orchestrator.yaml");
    writeFileSync(path, text);
    return { config: parseConfig(text, path, {}), dir, path, interpolated: [] };
  };
  const start = async (approvers: string[]) => {
    bot = await startTestBot({ db, loaded: configWith(approvers), emulator: { emulator, url: served.url } });
  };

  beforeAll(async () => {
    db = await openTestDatabase(kind);
    served = await serveEmulator(emulator);
    await start([USERS.approver1, USERS.approver2, USERS.approver3]);
  });

  afterAll(async () => {
    await bot?.stop();
    await served?.close();
    await db?.close();
  });

  const command = async (user: string, text: string) => {
    await emulator.command(user, CHANNELS.general, text);
    await bot.idle();
    return emulator.ephemeralsFor(user, CHANNELS.general).at(-1)?.text ?? "";
  };
  const click = async (user: string, version: string, action: string) => {
    const message = releaseMessageOf(bot, version, "production");
    if (!message) throw new Error(`no message for ${version}`);
    await emulator.click(user, { channel: CHANNELS.releases, ts: message.ts }, action);
    await bot.idle();
    return lastEphemeral(bot, user);
  };

  it("does not count an approval by someone removed from people.approvers, and says so on the message", async () => {
    await command(USERS.engineer, "release 2.0.0 to production");
    await waitForMessageState(bot, "2.0.0", "production", "awaiting approval (0/2 approvals)");
    expect(await click(USERS.approver1, "2.0.0", "release_approve")).toBe("Your approval is counted (1/2); it needs 1 more.");

    // The operator removes approver1 and restarts Orchestrator on the same database.
    await bot.stop();
    await start([USERS.approver2, USERS.approver3]);

    expect(await click(USERS.approver2, "2.0.0", "release_approve")).toBe("Your approval is counted (1/2); it needs 1 more.");
    const row = await releaseRow(db.database.db, "2.0.0", "production");
    expect(row?.state).toBe("awaiting_approval");
    expect(deploysIn(dir)).toEqual([]);
    const message = await waitForMessageState(bot, "2.0.0", "production", "awaiting approval (1/2 approvals)");
    const shown = JSON.stringify(message.blocks);
    expect(shown).toContain("*Approvals (1/2)*");
    expect(shown).toMatch(/~<@U0APPROVER1> — [^~]+~ _not counting: no longer an approver_/);
    expect(shown).toMatch(/:white_check_mark: <@U0APPROVER2> — /);
    expect(buttonsOf(message)).toEqual(["release_approve", "release_reject"]);
    expect(await command(USERS.engineer, "status")).toContain("`2.0.0` → production: :large_yellow_circle: Awaiting approval (1/2)");
    await command(USERS.engineer, "report");
    expect(JSON.stringify(emulator.ephemeralsFor(USERS.engineer, CHANNELS.general).at(-1)?.blocks)).toContain("`2.0.0` → production: 1/2 approvals");

    // A current approver's second approval completes it.
    expect(await click(USERS.approver3, "2.0.0", "release_approve")).toBe("Your approval completed the release; deploying `2.0.0` to production.");
    await waitForMessageState(bot, "2.0.0", "production", "live");
    expect(deploysIn(dir)).toEqual(["production 2.0.0"]);
    const trail = (await transitionsOf(db.database.db, row!.id)).map((t) => [t.toState, t.actor, t.detail]);
    expect(trail).toContainEqual(["deploying", USERS.approver3, "approved (2/2); deploy starts"]);
  });

  it("lets the requester withdraw their own release, recorded apart from an approver's rejection", async () => {
    await command(USERS.engineer, "release 2.1.0 to production");
    await waitForMessageState(bot, "2.1.0", "production", "awaiting approval");
    // The requester is no approver, yet their Reject opens the dialog, as a withdrawal.
    expect(await click(USERS.engineer, "2.1.0", "release_reject")).toBeUndefined();
    // The dialog opens after the click's ack.
    const view = await eventually(() => {
      const open = [...emulator.workspace.views.values()].find((v) => v.user === USERS.engineer && !v.closed);
      if (!open) throw new Error("no dialog open yet");
      return open;
    });
    expect(view.view).toMatchObject({ callback_id: "release_reject_modal", title: { text: "Withdraw release" }, submit: { text: "Withdraw" } });
    const submitted = await emulator.submitView(USERS.engineer, view.id, { reason: { reason_input: "Found a config typo; will cut 2.1.1" } });
    expect(submitted.status).toBe(200);
    await bot.idle();

    const message = await waitForMessageState(bot, "2.1.0", "production", "withdrawn by the requester");
    expect(buttonsOf(message)).toEqual([]);
    expect(JSON.stringify(message.blocks)).toContain("*Withdrawn by the requester <@U0ENGINEER>:* Found a config typo; will cut 2.1.1");
    expect(JSON.stringify(message.blocks)).not.toContain("Rejected by");
    const row = await releaseRow(db.database.db, "2.1.0", "production");
    expect(row?.state).toBe("rejected");
    expect((await transitionsOf(db.database.db, row!.id)).at(-1)).toMatchObject({
      fromState: "awaiting_approval",
      toState: "rejected",
      actor: USERS.engineer,
      detail: "withdrawn by the requester: Found a config typo; will cut 2.1.1",
    });
    const thread = emulator.workspace.thread(CHANNELS.releases, message.ts).map((m) => m.text);
    expect(thread.at(-1)).toBe("<@U0ENGINEER> withdrew the release (withdrawn by the requester): Found a config typo; will cut 2.1.1");
    expect(await command(USERS.stakeholder, "release log 2.1.0")).toContain("awaiting approval → *rejected* by <@U0ENGINEER>: withdrawn by the requester: Found a config typo");

    // Someone who is neither an approver nor the requester still cannot.
    await command(USERS.engineer, "release 2.2.0 to production");
    await waitForMessageState(bot, "2.2.0", "production", "awaiting approval");
    expect(await click(USERS.stakeholder, "2.2.0", "release_reject")).toBe("Only release approvers, or the person who requested the release, can reject it.");
    expect((await releaseRow(db.database.db, "2.2.0", "production"))?.state).toBe("awaiting_approval");
  });
});
