// `npm run screenshot`: refreshes docs/sandbox.png, the README's picture of the console, from the sandbox
// exactly as `npm start` runs it (the shipped orchestrator.yaml), with `/orch help` run as Arthit in #general.
import { resolve } from "node:path";
import { startOrchestrator } from "../src/app.js";
import { loadConfigFile } from "../src/config/load.js";
import { openDatabase } from "../src/db/client.js";
import { createLog } from "../src/log.js";
import { actAs, launchBrowser, message, openChannel, openConsole, send } from "../test/support/sandbox.js";

const output = resolve(import.meta.dirname, "../docs/sandbox.png");
const loaded = loadConfigFile(resolve(import.meta.dirname, "../orchestrator.yaml"));
const database = await openDatabase({});
const orchestrator = await startOrchestrator({
  env: { mode: { kind: "sandbox", transport: "http" }, port: 0, dataDir: "", configPath: loaded.path, anthropic: { model: "none" }, logLevel: "warn", shutdownGraceMs: 2000 },
  loaded,
  log: createLog("warn"),
  database,
  host: "127.0.0.1",
});
const browser = await launchBrowser();
try {
  const page = await openConsole(browser, orchestrator.url);
  await actAs(page, "Arthit Wongsa");
  await openChannel(page, "general");
  await send(page, "/orch help");
  await message(page, "Orchestrator commands").waitFor();
  await page.mouse.move(0, 0);
  await page.locator("#composer textarea").blur();
  await page.screenshot({ path: output });
  process.stdout.write(`wrote ${output}\n`);
} finally {
  await browser.close();
  await orchestrator.stop();
  await database.close();
}
