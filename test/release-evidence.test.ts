import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { approvals, releases, voidedApprovals } from "../src/db/schema.js";
import { childEnvironment } from "../src/exec/run.js";
import { commitSummary, readCommitRange } from "../src/features/releases/commits.js";
import { describeRangeChange, digestOf, evidenceOf } from "../src/features/releases/evidence.js";
import { replaceEvidence } from "../src/features/releases/evidence-store.js";
import { labelOf, measuredLine, measuredValues } from "../src/features/releases/measured.js";
import { ConfigError, parseConfig } from "../src/config/load.js";
import { escapeMrkdwn } from "../src/slack/text.js";
import { startTestBot, type TestBot } from "./support/bot.js";
import { CHANNELS, FIXTURES, testConfig, testConfigYaml, USERS, workDir } from "./support/config.js";
import { dbKinds, openTestDatabase, type TestDatabase } from "./support/db.js";
import { TestRepo } from "./support/git.js";
import { buttonsOf, deploysIn, lastEphemeral, releaseMessageOf, releaseRow, transitionsOf, waitForMessageState } from "./support/releases.js";

describe("measured values and evidence (pure)", () => {
  it("names values from their keys and shows them against their thresholds", () => {
    expect(labelOf("mape", { max: 10 })).toEqual({ label: "MAPE" });
    expect(labelOf("mae_volts", { max: 2 })).toEqual({ label: "MAE", unit: "V" });
    expect(labelOf("model.accuracy", { min: 0.9, label: "Accuracy", unit: "%" })).toEqual({ label: "Accuracy", unit: "%" });
    const measured = measuredValues({ mape: 7.2, mae_volts: 2.4 }, { mape: { max: 10 }, mae_volts: { max: 2 } });
    expect(measuredLine(measured)).toBe("MAPE 7.2 (max 10) · :warning: MAE 2.4 V (max 2)");
    expect(measuredLine(measuredValues({}, { mape: { max: 10 } }))).toBe(":warning: MAPE missing (max 10)");
  });

  it("gives equal evidence an equal digest and a moved tag another one", () => {
    const gates = [{ name: "Tests pass", kind: "run" as const, status: "passed" as const, detail: "412 passed", durationMs: 10 }];
    const range = { status: "ok" as const, tag: "v1.5.0", sha: "a".repeat(40), fromTag: "v1.4.0", fromSha: "b".repeat(40), total: 2, authors: [], commits: [] };
    const one = digestOf(evidenceOf({ semver: "1.5.0", gates, commits: range }));
    expect(digestOf(evidenceOf({ semver: "1.5.0", gates: [{ ...gates[0]!, durationMs: 99 }], commits: { ...range } }))).toBe(one);
    const moved = { ...range, sha: "c".repeat(40) };
    expect(digestOf(evidenceOf({ semver: "1.5.0", gates, commits: moved }))).not.toBe(one);
    expect(digestOf(evidenceOf({ semver: "1.5.1", gates, commits: range }))).not.toBe(one);
    expect(describeRangeChange(range, moved)).toBe("tag v1.5.0 moved from aaaaaaa to ccccccc");
  });
});

describe("the repository key", () => {
  const problems = (extra: string) => {
    try {
      parseConfig(testConfigYaml({ extra }), "orchestrator.yaml", {});
      return [];
    } catch (error) {
      return error instanceof ConfigError ? error.problems : [String(error)];
    }
  };
  it("needs a path and a tag naming {version}; url is an http(s) URL", () => {
    expect(problems(`repository: { path: ../forecast, tag: "v{version}", url: "https://git.example.org/pea/forecast" }`)).toEqual([]);
    expect(problems(`repository: { path: ../forecast, tag: "release", url: "ftp://x" }`)).toEqual([
      "repository.tag: expected a tag name containing {version}, e.g. v{version}",
      "repository.url: expected an http(s) URL",
    ]);
    expect(problems(`repository: { tag: "v{version}", branch: main }`)).toEqual(["repository.path: is required", "repository.branch: unknown key"]);
  });
});

describe("commit ranges from a real git repository", () => {
  const repo = new TestRepo();
  const shas: string[] = [];
  beforeAll(() => {
    shas.push(repo.commit("Initial forecast service"));
    repo.tag("v1.0.0");
    for (let i = 1; i <= 18; i += 1) shas.push(repo.commit(i === 3 ? "Fix voltage bounds (#123)" : `Change ${i}`, i % 3 === 0 ? "Niran Chaiyaporn" : "Arthit Wongsa"));
    repo.tag("v1.1.0");
  });
  // git runs as every configured command does: with the explicit child environment.
  const context = (path = repo.path) => ({ repository: { path, tag: "v{version}" }, exec: { cwd: "/", env: childEnvironment([], "UTC"), redact: (text: string) => text } });

  it("lists the commits between the live tag and this one, newest first, with authors", async () => {
    const range = await readCommitRange(context(), { semver: "1.1.0", fromSemver: "1.0.0" });
    expect(range).toMatchObject({ status: "ok", tag: "v1.1.0", fromTag: "v1.0.0", sha: shas[18], fromSha: shas[0], total: 18 });
    expect(range.authors).toEqual([
      { name: "Arthit Wongsa", commits: 12 },
      { name: "Niran Chaiyaporn", commits: 6 },
    ]);
    expect(range.commits).toHaveLength(15);
    expect(range.commits[0]?.subject).toBe("Change 18");
    expect(range.oldestAt).toBe("2026-11-01T05:00:00.000Z");
    const summary = commitSummary(range, "https://git.example.org/pea/forecast/", escapeMrkdwn);
    expect(summary.heading).toBe("*Commits* (v1.0.0..v1.1.0) — 18 commits by Arthit Wongsa (12), Niran Chaiyaporn (6)");
    expect(summary.lines).toHaveLength(15);
    expect(summary.more).toBe(3);
    const withoutUrl = commitSummary({ ...range, commits: [{ sha: shas[3] as string, author: "Niran", subject: "Fix voltage bounds (#123)" }] }, undefined, escapeMrkdwn);
    expect(withoutUrl.lines[0]).toBe(`• \`${shas[3]?.slice(0, 7)}\` Fix voltage bounds (#123)`);
    const linked = commitSummary(
      { ...range, total: 1, commits: [{ sha: shas[3] as string, author: "Niran", subject: "Fix voltage bounds (#123)" }] },
      "https://git.example.org/pea/forecast",
      escapeMrkdwn,
    );
    expect(linked.lines).toEqual([`• <https://git.example.org/pea/forecast/commit/${shas[3]}|\`${shas[3]?.slice(0, 7)}\`> Fix voltage bounds (<https://git.example.org/pea/forecast/pull/123|#123>)`]);
  });

  it("says so when a tag or the repository is missing", async () => {
    expect(await readCommitRange(context(), { semver: "2.0.0", fromSemver: "1.1.0" })).toMatchObject({ status: "missing_tag", note: `tag v2.0.0 not found in ${repo.path}` });
    expect(await readCommitRange(context(), { semver: "1.1.0", fromSemver: "0.9.0" })).toMatchObject({ status: "missing_tag", sha: shas[18] });
    expect(await readCommitRange(context(join(repo.path, "nope")), { semver: "1.1.0" })).toMatchObject({ status: "missing_repository" });
    expect(await readCommitRange(context(workDir()), { semver: "1.1.0" })).toMatchObject({ status: "missing_repository", note: expect.stringContaining("is not a git repository") });
    const first = await readCommitRange(context(), { semver: "1.0.0" });
    expect(first).toMatchObject({ status: "ok", total: 1 });
    expect(first.oldestAt).toBeUndefined();
  });
});

describe.each(dbKinds())("approvals bound to evidence on %s", (kind) => {
  let db: TestDatabase;
  let bot: TestBot;
  let dir: string;
  let server: Server;
  const repo = new TestRepo();

  beforeAll(async () => {
    repo.commit("Initial forecast service");
    repo.commit("Solar forecast API");
    repo.tag("v1.4.0");
    repo.commit("Fix voltage bounds (#12)", "Niran Chaiyaporn");
    repo.commit("Retrain LSTM on 2026 data (#14)");
    repo.tag("v1.5.0");
    server = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ mape: 7.2, mae_volts: 1.4 }));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as AddressInfo).port;
    db = await openTestDatabase(kind);
    dir = workDir();
    bot = await startTestBot({
      db,
      loaded: testConfig({
        dir,
        gates: `
  - name: Tests pass
    run: ["${FIXTURES}/gate.sh", "pass"]
  - name: ML model accuracy
    http: { url: "http://127.0.0.1:${port}/model.json", expect: { mape: { max: 10 }, mae_volts: { max: 2 } } }
  - name: Runbooks updated
    manual: true`,
        extra: `repository: { path: ${JSON.stringify(repo.path)}, tag: "v{version}", url: "https://git.example.org/pea/forecast" }`,
      }),
    });
  });

  afterAll(async () => {
    await bot?.stop();
    await db?.close();
    server?.close();
  });

  const command = async (user: string, text: string) => {
    await bot.emulator.command(user, CHANNELS.general, text);
    await bot.idle();
    return bot.emulator.ephemeralsFor(user, CHANNELS.general).at(-1)?.text ?? "";
  };
  const click = async (user: string, version: string, env: string, action: string) => {
    const message = releaseMessageOf(bot, version, env);
    if (!message) throw new Error(`no message for ${version} → ${env}`);
    await bot.emulator.click(user, { channel: CHANNELS.releases, ts: message.ts }, action);
    await bot.idle();
    return lastEphemeral(bot, user);
  };

  it("shows the commits since the live version and the measured gate values", async () => {
    await command(USERS.engineer, "release 1.4.0");
    const first = JSON.stringify((await waitForMessageState(bot, "1.4.0", "staging", "awaiting approval")).blocks);
    expect(first).toContain("*Commits* (up to v1.4.0 (first release here)) — 2 commits by Arthit Wongsa (2)");
    await click(USERS.approver1, "1.4.0", "staging", "release_approve");
    await waitForMessageState(bot, "1.4.0", "staging", "live");

    await command(USERS.engineer, "release 1.5.0");
    const message = await waitForMessageState(bot, "1.5.0", "staging", "awaiting approval");
    const shown = JSON.stringify(message.blocks);
    expect(shown).toContain("*Commits* (v1.4.0..v1.5.0) — 2 commits by Arthit Wongsa (1), Niran Chaiyaporn (1)");
    expect(shown).toContain("Fix voltage bounds (<https://git.example.org/pea/forecast/pull/12|#12>)");
    expect(shown).toContain("Retrain LSTM on 2026 data (<https://git.example.org/pea/forecast/pull/14|#14>)");
    expect(shown).toContain(":white_check_mark: *ML model accuracy* — MAPE 7.2 (max 10) · MAE 1.4 V (max 2)");
    expect(shown).toMatch(/:white_check_mark: \*Tests pass\* — 412 passed, 0 failed \(exit 0 · \d+\.\d s\)/);
    const row = await releaseRow(db.database.db, "1.5.0", "staging");
    expect(row?.commits?.total).toBe(2);
    expect(row?.oldestCommitAt?.toISOString()).toBe("2026-11-01T06:00:00.000Z");
    expect(shown).toContain(`evidence ${row?.evidenceDigest?.slice(0, 12)}`);
    await click(USERS.approver1, "1.5.0", "staging", "release_approve");
    await waitForMessageState(bot, "1.5.0", "staging", "live");
  });

  it("says so on the message when a tag is missing, without blocking the release", async () => {
    await command(USERS.engineer, "release 1.6.0");
    const message = await waitForMessageState(bot, "1.6.0", "staging", "awaiting approval");
    expect(JSON.stringify(message.blocks)).toContain(`*Commits* — :warning: tag v1.6.0 not found in ${repo.path}; the release is not blocked`);
    expect(buttonsOf(message)).toEqual(["release_approve", "release_reject"]);
  });

  it("voids approvals when the gates are re-run or the tag moves, and the audit trail shows what each covered", async () => {
    await command(USERS.engineer, "release 1.5.0 to production");
    await waitForMessageState(bot, "1.5.0", "production", "awaiting approval (0/2 approvals)");
    expect(await click(USERS.approver1, "1.5.0", "production", "release_approve")).toBe("Your approval is counted (1/2); it needs 1 more.");
    const production = (await releaseRow(db.database.db, "1.5.0", "production"))!;
    const [counted] = await db.database.db.select().from(approvals).where(eq(approvals.releaseId, production.id));
    expect(counted?.evidenceDigest).toBe(production.evidenceDigest);
    // Nothing is live on production yet: the range is everything up to the tag.
    expect(counted?.evidence?.range).toEqual({ from: null, to: production.commits?.sha });

    // Regate: the approval is void, the gates run again.
    expect(await command(USERS.engineer, "release 1.5.0 regate")).toMatch(/^Release #\d+: re-running the gates of `1.5.0` to production; earlier approvals are void/);
    const regated = await waitForMessageState(bot, "1.5.0", "production", "awaiting approval (0/2 approvals)");
    expect(JSON.stringify(regated.blocks)).toContain("~<@U0APPROVER1>");
    expect(JSON.stringify(regated.blocks)).toContain("void (gates re-run with regate); must approve again");
    expect(await db.database.db.select().from(approvals).where(eq(approvals.releaseId, production.id))).toEqual([]);

    // Approve again, then the tag moves to another commit before the second approval.
    expect(await click(USERS.approver1, "1.5.0", "production", "release_approve")).toBe("Your approval is counted (1/2); it needs 1 more.");
    const before = (await releaseRow(db.database.db, "1.5.0", "production"))!;
    const movedTo = repo.commit("Hotfix slipped in after approval");
    repo.tag("v1.5.0", true);
    const refused = await click(USERS.approver2, "1.5.0", "production", "release_approve");
    expect(refused).toBe(
      `The evidence changed since the approval request (tag v1.5.0 moved from ${before.commits?.sha?.slice(0, 7)} to ${movedTo.slice(0, 7)}), so earlier approvals are void and your click was not counted. Review the updated message and approve again.`,
    );
    const after = (await releaseRow(db.database.db, "1.5.0", "production"))!;
    expect(after.state).toBe("awaiting_approval");
    expect(after.commits?.sha).toBe(movedTo);
    expect(after.commits?.total).toBe(5);
    expect(after.evidenceDigest).not.toBe(before.evidenceDigest);
    expect(await db.database.db.select().from(approvals).where(eq(approvals.releaseId, production.id))).toEqual([]);
    const voided = await db.database.db.select().from(voidedApprovals).where(eq(voidedApprovals.releaseId, production.id));
    expect(voided.map((v) => [v.approver, v.evidenceDigest])).toEqual([
      [USERS.approver1, production.evidenceDigest],
      [USERS.approver1, before.evidenceDigest],
    ]);
    const message = releaseMessageOf(bot, "1.5.0", "production");
    expect(message?.text).toContain("awaiting approval (0/2 approvals)");
    expect(JSON.stringify(message?.blocks)).toContain("Hotfix slipped in after approval");
    const thread = bot.emulator.workspace.thread(CHANNELS.releases, message!.ts).map((m) => m.text);
    expect(thread).toContain(`:warning: The evidence changed: tag v1.5.0 moved from ${before.commits?.sha?.slice(0, 7)} to ${movedTo.slice(0, 7)}. 1 approval is void; approvals must be given again.`);
    expect(deploysIn(dir)).not.toContain("production 1.5.0");

    // Approvals of the new evidence count and deploy.
    await click(USERS.approver1, "1.5.0", "production", "release_approve");
    expect(await click(USERS.approver2, "1.5.0", "production", "release_approve")).toBe("Your approval completed the release; deploying `1.5.0` to production.");
    await waitForMessageState(bot, "1.5.0", "production", "live");
    expect(deploysIn(dir)).toContain("production 1.5.0");

    const log = await command(USERS.stakeholder, "release log 1.5.0");
    expect(log).toContain(`approved by <@U0APPROVER2> (evidence ${after.evidenceDigest?.slice(0, 12)}: 1.5.0 · commits up to ${movedTo.slice(0, 7)} · 2/2 gates passed)`);
    expect(log).toContain(`(evidence ${before.evidenceDigest?.slice(0, 12)}: 1.5.0 · commits up to ${before.commits?.sha?.slice(0, 7)} · 2/2 gates passed) — *void* since`);
    expect(log).toContain("evidence changed: tag v1.5.0 moved");
    const [final] = await db.database.db.select().from(releases).where(eq(releases.id, production.id));
    expect(final?.state).toBe("live");
  });

  it("sends a release whose evidence changed right before its deploy back to awaiting approval, approvals void", async () => {
    const d = db.database.db;
    const [row] = await d
      .insert(releases)
      .values({ version: "3.0.0", semver: "3.0.0", environment: "qa", state: "deploying", requester: USERS.engineer, requiredApprovals: 1, evidenceDigest: "old-digest", owner: "replica-a" })
      .returning();
    await d.insert(approvals).values({ releaseId: row!.id, approver: USERS.approver1, evidenceDigest: "old-digest" });
    expect(await replaceEvidence(d, { id: row!.id, state: "deploying", evidenceDigest: "stale" }, { commits: null, digest: "new-digest" }, "tag v3.0.0 moved")).toBeUndefined();
    const replaced = await replaceEvidence(d, row!, { commits: null, digest: "new-digest" }, "tag v3.0.0 moved");
    expect(replaced).toMatchObject({ voided: 1, release: { state: "awaiting_approval", evidenceDigest: "new-digest", owner: null } });
    expect(replaced?.release.awaitingSince).toBeInstanceOf(Date);
    expect(await d.select().from(approvals).where(eq(approvals.releaseId, row!.id))).toEqual([]);
    const [voided] = await d.select().from(voidedApprovals).where(eq(voidedApprovals.releaseId, row!.id));
    expect(voided).toMatchObject({ approver: USERS.approver1, evidenceDigest: "old-digest", reason: "tag v3.0.0 moved" });
    const trail = await transitionsOf(d, row!.id);
    expect(trail.map((t) => [t.fromState, t.toState, t.detail])).toEqual([["deploying", "awaiting_approval", "evidence changed: tag v3.0.0 moved"]]);
  });

  it("refuses a regate of a version that is not awaiting approval", async () => {
    expect(await command(USERS.engineer, "release 9.9.9 regate")).toBe(
      "No release of `9.9.9` is awaiting approval, so there are no gates to re-run. `/orch release log 9.9.9` shows what happened to it.",
    );
    expect(await command(USERS.engineer, "release 1.5.0 regrate")).toContain("Unexpected `regrate`");
  });
});
