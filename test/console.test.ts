import { existsSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { resolve } from "node:path";
import type { Browser, Page } from "playwright-core";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { releases } from "../src/db/schema.js";
import { eventually } from "./support/bot.js";
import { CHANNELS, USERS } from "./support/config.js";
import { actAs, clickButton, launchBrowser, message, messageMenu, openChannel, openConsole, replyInThread, type Sandbox, send, startSandbox } from "./support/sandbox.js";

// A screenshot proves the page renders; the README's own picture comes from `npm run screenshot` (the shipped config).
const SCREENSHOT = resolve(tmpdir(), `orch-sandbox-${process.pid}.png`);

// CI installs Debian's Chromium and sets REQUIRE_BROWSER=1, so there this test always runs; a developer
// machine without Chromium skips it with a note (apt-get install chromium to run it).
const browserPath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const runBrowser = existsSync(browserPath) || process.env.REQUIRE_BROWSER === "1";
if (!runBrowser) process.stderr.write(`note: ${browserPath} not found, so the sandbox console's browser test is skipped\n`);

describe.runIf(runBrowser)("sandbox console in a real browser", () => {
  let sandbox: Sandbox;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    [sandbox, browser] = await Promise.all([startSandbox(), launchBrowser()]);
    page = await openConsole(browser, sandbox.url);
  });

  afterAll(async () => {
    // The browser first, so its event stream does not hold the bot's server open.
    await browser?.close();
    await sandbox?.stop();
  });

  const history = (channel: string) => sandbox.emulator.workspace.history(channel);

  it("runs /orch help from the composer and shows the answer only to the person who asked", async () => {
    await actAs(page, "Arthit Wongsa");
    await openChannel(page, "general");
    await send(page, "/orch help");
    const help = message(page, "Orchestrator commands");
    await help.waitFor();
    expect(await help.getAttribute("class")).toContain("ephemeral");
    await expect(help.locator(".only-you").textContent()).resolves.toBe("Only visible to you");
    await expect(help.locator(".bk-header").first().textContent()).resolves.toBe("Orchestrator commands");
    expect(await help.locator("code", { hasText: "/orch status" }).count()).toBeGreaterThan(0);
    expect(history(CHANNELS.general)).toHaveLength(0);

    mkdirSync(resolve(SCREENSHOT, ".."), { recursive: true });
    await page.mouse.move(0, 0);
    await page.locator("#composer textarea").blur();
    await page.screenshot({ path: SCREENSHOT });

    await actAs(page, "Wichai Thongchai");
    await help.waitFor({ state: "detached" });
    await actAs(page, "Arthit Wongsa");
    await help.waitFor();
  });

  it("posts a message and a thread reply, which appears in the thread pane", async () => {
    await send(page, "Deploy notes for 1.4.0 are in the wiki");
    await message(page, "Deploy notes for 1.4.0").waitFor();
    await replyInThread(page, "Deploy notes for 1.4.0", "Runbook updated for the feeder rollout");
    await message(page, "Runbook updated for the feeder rollout", "thread").waitFor();
    await message(page, "Deploy notes for 1.4.0").locator(".thread-link", { hasText: "1 reply" }).waitFor();
    expect(await message(page, "Runbook updated", "channel").count()).toBe(0);
    const parent = history(CHANNELS.general).find((m) => m.text.startsWith("Deploy notes"));
    // The time is the config's (Asia/Bangkok), as the bot writes its own times, whatever the browser's zone.
    const bangkok = new Date(Number(parent?.ts) * 1000).toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit", hour12: false, timeZone: "Asia/Bangkok" });
    await expect(message(page, "Deploy notes for 1.4.0").locator("time").first().textContent()).resolves.toBe(bangkok);
    expect(sandbox.emulator.workspace.thread(CHANNELS.general, parent?.ts ?? "").map((m) => m.text)).toEqual(["Deploy notes for 1.4.0 are in the wiki", "Runbook updated for the feeder rollout"]);
    await page.locator("#thread-close").click();
  });

  it("renders a message containing markup as text and runs none of it", async () => {
    const typed = `<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2"> & done`;
    await send(page, typed);
    await message(page, "window.__xss = 1").waitFor();
    await expect(message(page, "window.__xss = 1").locator(".mrkdwn").textContent()).resolves.toBe(typed);
    // As Slack's client does, the console sent the text escaped.
    expect(history(CHANNELS.general).at(-1)?.text).toBe(`&lt;script&gt;window.__xss = 1&lt;/script&gt;&lt;img src=x onerror="window.__xss = 2"&gt; &amp; done`);
    // Unescaped markup from elsewhere (a careless bot) is shown as written too.
    await sandbox.emulator.message(USERS.stakeholder, CHANNELS.general, `<img src=x onerror="window.__xss = 3">raw`);
    await message(page, "raw").waitFor();
    await expect(message(page, "raw").locator(".mrkdwn").textContent()).resolves.toBe(`<img src=x onerror="window.__xss = 3">raw`);
    expect(await page.locator("#messages img").count()).toBe(0);
    expect(await page.evaluate(() => (globalThis as unknown as { __xss?: number }).__xss)).toBeUndefined();
  });

  it("sends a mention as <@bot> and shows it as @Orchestrator", async () => {
    await send(page, "@Orchestrator what is live on staging?");
    const mention = message(page, "what is live on staging?");
    await mention.waitFor();
    await expect(mention.locator(".mention").first().textContent()).resolves.toBe("@Orchestrator");
    const sent = history(CHANNELS.general).find((m) => m.text.endsWith("what is live on staging?"));
    expect(sent?.text).toBe(`<@${sandbox.emulator.botUserId}> what is live on staging?`);
    await eventually(() => expect(sandbox.emulator.deliveries.some((d) => d.kind === "event" && d.body.includes('"type":"app_mention"'))).toBe(true));
  });

  it("renders Block Kit, sends a button click as block_actions, and re-renders chat.update in place within a second", async () => {
    const slack = sandbox.orchestrator.services.slack;
    const blocks = (state: string) => [
      { type: "header", text: { type: "plain_text", text: "Release 9.9.9 → staging <b>" } },
      {
        type: "section",
        fields: [
          { type: "mrkdwn", text: `*State*\n${state}` },
          { type: "mrkdwn", text: `*Requested by*\n<@${USERS.engineer}>` },
        ],
      },
      {
        type: "section",
        text: { type: "mrkdwn", text: "Gates: _all_ ~none~ failed, see <https://example.org/ci?a=1&amp;b=2|the CI run> in <#C0RELEASES> &lt;ok&gt;\n```npm test\n&gt; 138 passed```" },
      },
      { type: "divider" },
      {
        type: "actions",
        block_id: "console_test",
        elements: [
          { type: "button", action_id: "console_approve", text: { type: "plain_text", text: "Approve" }, style: "primary", value: "1" },
          { type: "button", action_id: "console_reject", text: { type: "plain_text", text: "Reject" }, style: "danger", value: "1" },
        ],
      },
      { type: "context", elements: [{ type: "mrkdwn", text: "Release #99" }] },
    ];
    const posted = await slack.chat.postMessage({ channel: CHANNELS.general, text: "Release 9.9.9", blocks: blocks("Awaiting approval") });
    const release = message(page, "Release 9.9.9");
    await release.waitFor();
    await expect(release.locator(".bk-header").textContent()).resolves.toBe("Release 9.9.9 → staging <b>");
    await expect(release.locator(".bk-field").nth(1).textContent()).resolves.toBe("Requested by\n@Arthit Wongsa");
    await expect(release.locator(".bk-field strong").first().textContent()).resolves.toBe("State");
    await expect(release.locator(".bk-text em").textContent()).resolves.toBe("all");
    await expect(release.locator(".bk-text del").textContent()).resolves.toBe("none");
    await expect(release.locator(".bk-text a").getAttribute("href")).resolves.toBe("https://example.org/ci?a=1&b=2");
    await expect(release.locator(".bk-text .channel-mention").textContent()).resolves.toBe("#releases");
    await expect(release.locator(".bk-text pre").textContent()).resolves.toBe("npm test\n> 138 passed");
    expect(await release.locator(".bk-text").textContent()).toContain("<ok>");
    expect(await release.locator(".bk-divider").count()).toBe(1);
    await expect(release.locator(".bk-button.primary").textContent()).resolves.toBe("Approve");
    await expect(release.locator(".bk-button.danger").textContent()).resolves.toBe("Reject");

    await release.locator(".bk-button", { hasText: "Approve" }).click();
    await eventually(() => {
      const click = sandbox.emulator.deliveries.find((d) => d.kind === "action" && decodeURIComponent(d.body).includes('"action_id":"console_approve"'));
      expect(click?.status).toBe(200);
    });

    await page.evaluate(() => {
      (globalThis as unknown as { __sameDocument?: boolean }).__sameDocument = true;
    });
    const started = Date.now();
    await slack.chat.update({ channel: CHANNELS.general, ts: posted.ts ?? "", text: "Release 9.9.9", blocks: blocks("Live").filter((b) => b.type !== "actions") });
    await release.locator(".bk-field", { hasText: "Live" }).waitFor({ timeout: 1000 });
    expect(Date.now() - started).toBeLessThan(1000);
    expect(await release.locator(".bk-button").count()).toBe(0);
    expect(await page.evaluate(() => (globalThis as unknown as { __sameDocument?: boolean }).__sameDocument)).toBe(true);
  });

  it("edits, reacts to, records as feedback and deletes your own message", async () => {
    await send(page, "Feeder 7 forecast is of by 3 V");
    await message(page, "Feeder 7 forecast").waitFor();
    await messageMenu(page, "Feeder 7 forecast", "Edit message");
    const box = page.locator("#messages .edit-box");
    await box.fill("Feeder 7 forecast is off by 3 V");
    await box.press("Enter");
    await message(page, "Feeder 7 forecast is off by 3 V").locator(".edited").waitFor();

    const target = message(page, "Feeder 7 forecast is off by 3 V");
    await target.hover();
    await target.locator(".tool.memo").click();
    await target.locator(".reaction.mine[data-reaction='memo'] .count", { hasText: "1" }).waitFor();

    await messageMenu(page, "Feeder 7 forecast is off by 3 V", "Record as feedback");
    await eventually(() => expect(sandbox.emulator.deliveries.some((d) => d.kind === "shortcut" && decodeURIComponent(d.body).includes('"callback_id":"record_feedback"'))).toBe(true));

    await messageMenu(page, "Feeder 7 forecast is off by 3 V", "Delete message");
    await page.locator(".dialog button.danger", { hasText: "Delete" }).click();
    await message(page, "Feeder 7 forecast").waitFor({ state: "detached" });
    const events = sandbox.emulator.deliveries.filter((d) => d.kind === "event").map((d) => d.body);
    expect(events.some((b) => b.includes('"subtype":"message_changed"') && b.includes("off by 3 V"))).toBe(true);
    expect(events.some((b) => b.includes('"type":"reaction_added"') && b.includes('"reaction":"memo"'))).toBe(true);
    expect(events.some((b) => b.includes('"subtype":"message_deleted"'))).toBe(true);

    // Someone else's message offers no edit or delete.
    await message(page, "raw").hover();
    await message(page, "raw").locator(".tool[aria-label='More actions']").click();
    expect(await page.locator("#popover .menu-item").allTextContents()).toEqual(["Reply in thread", "Record as feedback"]);
    await page.keyboard.press("Escape");
  });

  it("shows a modal the bot opened to its person only, and submits it as view_submission", async () => {
    const workspace = sandbox.emulator.workspace;
    const id = workspace.nextId("V");
    const view = {
      id,
      type: "modal",
      callback_id: "console_test_modal",
      title: { type: "plain_text", text: "Reject release" },
      submit: { type: "plain_text", text: "Reject" },
      close: { type: "plain_text", text: "Cancel" },
      blocks: [
        { type: "section", text: { type: "mrkdwn", text: "Reject *9.9.9*?" } },
        { type: "input", block_id: "reason", label: { type: "plain_text", text: "Reason" }, element: { type: "plain_text_input", action_id: "reason_input", multiline: true, min_length: 3 } },
      ],
    };
    // Earlier steps may have opened one (Record as feedback); this test wants its own.
    for (const open of workspace.views.values()) sandbox.emulator.closeView(open.user, open.id);
    // What views.open leaves behind for the person whose click opened it.
    workspace.views.set(id, { id, user: USERS.engineer, view, closed: false });
    workspace.emit("change", { kind: "view", user: USERS.engineer, id });
    const modal = page.locator(".modal", { hasText: "Reject release" });
    await modal.waitFor();
    await actAs(page, "Somchai Prasert");
    await modal.waitFor({ state: "detached" });
    await actAs(page, "Arthit Wongsa");
    await modal.waitFor();
    await modal.locator("button[type=submit]").click();
    await modal.locator(".bk-input-error", { hasText: "required" }).waitFor();
    await modal.locator("textarea").fill("Gate output looks stale");
    await modal.locator("button[type=submit]").click();
    await modal.waitFor({ state: "detached" });
    const submission = sandbox.emulator.deliveries.find((d) => d.kind === "view");
    const payload = JSON.parse(new URLSearchParams(submission?.body ?? "").get("payload") ?? "{}") as { type: string; view: { state: { values: unknown } } };
    expect(payload.type).toBe("view_submission");
    expect(payload.view.state.values).toEqual({ reason: { reason_input: { type: "plain_text_input", value: "Gate output looks stale" } } });
    expect(workspace.views.get(id)?.closed).toBe(true);
  });
  it("takes a real release to live: /orch release as an engineer, Approve as an approver", async () => {
    await actAs(page, "Arthit Wongsa");
    await openChannel(page, "general");
    await send(page, "/orch release 1.4.0");
    await message(page, "is running its gates").waitFor();
    await openChannel(page, "releases");
    const release = message(page, "Release 1.4.0 → staging");
    await release.locator(".bk-button", { hasText: "Approve" }).waitFor();

    // An engineer may not approve: the refusal is shown only to them.
    await clickButton(page, "Release 1.4.0 → staging", "Approve");
    await message(page, "Only release approvers can approve releases.").waitFor();

    await actAs(page, "Somchai Prasert");
    await clickButton(page, "Release 1.4.0 → staging", "Approve");
    await release.locator(".bk-field", { hasText: "Live" }).waitFor({ timeout: 15_000 });
    expect(await release.locator(".bk-button").count()).toBe(0);
    await message(page, "Your approval completed the release").waitFor();
    await expect(release.textContent()).resolves.toContain("confirmed by @Somchai Prasert");
  });

  it("clicks Roll back on a failed deploy's alert, and the rollback goes live with one approval and no gates", async () => {
    await actAs(page, "Arthit Wongsa");
    await openChannel(page, "general");
    await send(page, "/orch release 1.4.1-fail.1");
    await message(page, "is running its gates").last().waitFor();
    await openChannel(page, "releases");
    await actAs(page, "Somchai Prasert");
    await message(page, "Release 1.4.1-fail.1 → staging").locator(".bk-button", { hasText: "Approve" }).waitFor();
    await clickButton(page, "Release 1.4.1-fail.1 → staging", "Approve");
    await message(page, "Release 1.4.1-fail.1 → staging").locator(".bk-field", { hasText: "Failed" }).waitFor({ timeout: 15_000 });

    await actAs(page, "Arthit Wongsa");
    await openChannel(page, "alerts");
    const alert = message(page, "1.4.1-fail.1");
    await alert.locator(".bk-button", { hasText: "Roll back to 1.4.0" }).waitFor();
    await expect(alert.textContent()).resolves.toContain("the version live before it? It needs 1 approval, and no gates run.");
    await clickButton(page, "1.4.1-fail.1", "Roll back to 1.4.0");
    await message(page, /Rollback #\d+: rolling staging back to `?1\.4\.0/).waitFor();
    // The alert no longer offers the button and says who asked.
    await alert.locator(".bk-button").waitFor({ state: "detached" });
    await expect(alert.textContent()).resolves.toContain("@Arthit Wongsa asked to roll back to 1.4.0");

    await openChannel(page, "releases");
    const rollback = message(page, "Release 1.4.0 → staging (rollback)");
    await expect(rollback.textContent()).resolves.toContain("no gates run");
    await actAs(page, "Niran Chaiyaporn");
    await rollback.locator(".bk-button", { hasText: "Approve" }).waitFor();
    await clickButton(page, "Release 1.4.0 → staging (rollback)", "Approve");
    await rollback.locator(".bk-field", { hasText: "Live" }).waitFor({ timeout: 15_000 });
    const rows = await sandbox.db.database.db
      .select({ version: releases.version, kind: releases.kind, state: releases.state, requester: releases.requester })
      .from(releases)
      .where(eq(releases.kind, "rollback"));
    expect(rows).toEqual([{ version: "1.4.0", kind: "rollback", state: "live", requester: USERS.engineer }]);
  });

  it("says the bot is restarting when it stops answering, not a raw fetch error", async () => {
    await sandbox.stop();
    await page.locator("#connection.down", { hasText: "The bot is restarting; reconnecting…" }).waitFor();
    expect(await page.locator("body").textContent()).not.toContain("Failed to fetch");
  });
});
