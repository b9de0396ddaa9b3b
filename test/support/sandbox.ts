import { type Browser, chromium, type Locator, type Page } from "playwright-core";
import { type Orchestrator, startOrchestrator } from "../../src/app.js";
import type { SlackEmulator } from "../../src/emulator/emulator.js";
import type { SandboxTransport } from "../../src/env.js";
import { testConfig, USERS } from "./config.js";
import type { LoadedConfig } from "../../src/config/load.js";
import { type DbKind, openTestDatabase, type TestDatabase } from "./db.js";

/** The people of the test workspace, as the sandbox's `sandbox.users` block names them. */
export const PEOPLE = {
  [USERS.approver1]: { name: "Somchai Prasert", title: "Release manager" },
  [USERS.approver2]: { name: "Niran Chaiyaporn", title: "Grid-ops lead" },
  [USERS.approver3]: { name: "Kanya Inthira", title: "QA lead" },
  [USERS.admin]: { name: "Ploy Srisuk", title: "Platform admin" },
  [USERS.engineer]: { name: "Arthit Wongsa", title: "ML engineer" },
  [USERS.stakeholder]: { name: "Wichai Thongchai", title: "PEA stakeholder" },
} as const;

const SANDBOX_YAML = `sandbox:
  users:
${Object.entries(PEOPLE)
  .map(([id, person]) => `    ${id}: { name: ${person.name}, title: ${person.title} }`)
  .join("\n")}
`;

export interface Sandbox {
  orchestrator: Orchestrator;
  emulator: SlackEmulator;
  db: TestDatabase;
  /** Where the console is served. */
  url: string;
  stop(): Promise<void>;
}

export function sandboxConfig(dir?: string): LoadedConfig {
  return testConfig({ extra: SANDBOX_YAML, ...(dir ? { dir } : {}) });
}

export interface SandboxOptions {
  kind?: DbKind;
  /** A database kept across restarts: the caller closes it. */
  db?: TestDatabase;
  loaded?: LoadedConfig;
  /** Where the sandbox keeps its workspace; none: not kept. */
  dataDir?: string;
  port?: number;
  /** SANDBOX_TRANSPORT */
  transport?: SandboxTransport;
}

/** The bot in sandbox mode, in-process, as `npm start` runs it without Slack variables (SANDBOX_TRANSPORT as `transport`). */
export async function startSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const db = options.db ?? (await openTestDatabase(options.kind ?? "pglite"));
  const loaded = options.loaded ?? sandboxConfig();
  const orchestrator = await startOrchestrator({
    env: {
      mode: { kind: "sandbox", transport: options.transport ?? "http" },
      port: options.port ?? 0,
      dataDir: options.dataDir ?? "",
      configPath: loaded.path,
      anthropic: { model: "x" },
      logLevel: "warn",
      shutdownGraceMs: 2000,
    },
    loaded,
    database: db.database,
    host: "127.0.0.1",
    postSpacingMs: 0,
    reactionSpacingMs: 0,
    slackRetries: 1,
    shutdownGraceMs: 2000,
  });
  const emulator = orchestrator.emulator;
  if (!emulator) throw new Error("sandbox mode started without its Slack emulator");
  return {
    orchestrator,
    emulator,
    db,
    url: orchestrator.url,
    stop: async () => {
      await orchestrator.stop();
      if (!options.db) await db.close();
    },
  };
}

/** The per-start token the console page carries, read from the page as a script on this machine would. */
export async function consoleToken(url: string): Promise<string> {
  const page = await (await fetch(`${url}/`)).text();
  const token = /<meta name="console-token" content="([^"]+)"/.exec(page)?.[1];
  if (!token) throw new Error("the console page carries no token");
  return token;
}

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
}

/** A fresh page (its own storage) on the console, at the size the screenshot is taken at. */
export async function openConsole(browser: Browser, url: string): Promise<Page> {
  // A browser zone far from the config's (Asia/Bangkok), so a time shown in the browser's zone would show.
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1, timezoneId: "America/New_York" });
  const page = await context.newPage();
  await page.goto(url);
  await page.locator("#person-card .person-name").waitFor();
  await page.locator("#connection:not(.down)", { hasText: "Connected" }).waitFor();
  return page;
}

/** Switches the "Acting as" picker to the person whose name contains `name`. */
export async function actAs(page: Page, name: string): Promise<void> {
  const value = await page.locator("#act-as option", { hasText: name }).first().getAttribute("value");
  if (!value) throw new Error(`no person named ${name} in the console`);
  await page.selectOption("#act-as", value);
  await page.locator("#person-card .person-name", { hasText: name }).waitFor();
}

export async function openChannel(page: Page, name: string): Promise<void> {
  await page.locator(`.channel-link[data-name="${name}"]`).click();
  await page.locator("#channel-name", { hasText: `# ${name}` }).waitFor();
  await page.locator(`.channel-link.active[data-name="${name}"]`).waitFor();
}

/** Types into the channel's composer (or the open thread's) and presses Enter, as a person would. */
export async function send(page: Page, text: string, where: "channel" | "thread" = "channel"): Promise<void> {
  const box = page.locator(where === "channel" ? "#composer textarea" : "#thread-composer textarea");
  await box.fill(text);
  await box.press("Enter");
}

/** A message (or ephemeral) in the channel's list or the thread pane, by text it contains. */
export function message(page: Page, text: string | RegExp, where: "channel" | "thread" = "channel"): Locator {
  return page.locator(where === "channel" ? "#messages .message" : "#thread-messages .message", { hasText: text });
}

export async function openThread(page: Page, parentText: string): Promise<void> {
  const parent = message(page, parentText).first();
  await parent.hover();
  const replies = parent.locator(".thread-link");
  if ((await replies.count()) > 0) await replies.click();
  else await parent.locator(".tool.reply").click();
  await page.locator("#thread:not([hidden]) .thread-parent", { hasText: parentText }).waitFor();
}

export async function replyInThread(page: Page, parentText: string, text: string): Promise<void> {
  await openThread(page, parentText);
  await send(page, text, "thread");
}

/** Clicks a Block Kit button, by its label, on the message containing `messageText`. */
export async function clickButton(page: Page, messageText: string | RegExp, label: string): Promise<void> {
  await message(page, messageText).first().locator(".bk-button", { hasText: label }).click();
}

/** Picks an item of a message's "⋯" menu (Reply in thread, Record as feedback, Edit message, Delete message). */
export async function messageMenu(page: Page, messageText: string | RegExp, item: string, where: "channel" | "thread" = "channel"): Promise<void> {
  const target = message(page, messageText, where).first();
  await target.hover();
  await target.locator(".tool[aria-label='More actions']").click();
  await page.locator("#popover .menu-item", { hasText: item }).click();
}
