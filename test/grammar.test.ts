import { describe, expect, it } from "vitest";
import { z } from "zod";
import { compilePattern, matchArguments, tokenize } from "../src/core/commands/grammar.js";
import { CommandRouter, defineCommand } from "../src/core/commands/router.js";

const match = (usage: string, text: string) => matchArguments(compilePattern(usage), text, tokenize(text));

describe("command grammar", () => {
  it("tokenizes with straight and curly quotes", () => {
    expect(tokenize(`feedback add "map is slow" --kind bug`).map((t) => t.value)).toEqual(["feedback", "add", "map is slow", "--kind", "bug"]);
    expect(tokenize("ask swe “why is it slow?”").map((t) => t.value)).toEqual(["ask", "swe", "why is it slow?"]);
    expect(tokenize('  unclosed "quote here ').map((t) => t.value)).toEqual(["unclosed", '"quote', "here"]);
  });

  it("compiles usage lines", () => {
    expect(compilePattern("release <version> [to <env>]")).toMatchObject({
      words: ["release"],
      args: [
        { name: "version", optional: false },
        { name: "env", optional: true, keyword: "to" },
      ],
    });
    expect(compilePattern("feedback status <id> <status:open|in-progress|closed>").args[1]?.choices).toEqual(["open", "in-progress", "closed"]);
    expect(() => compilePattern("release <version> now")).toThrow(/literal word after arguments/);
  });

  it("matches required, optional and keyword arguments", () => {
    expect(match("release <version> [to <env>]", "release 1.4.0")).toEqual({ ok: true, values: { version: "1.4.0" } });
    expect(match("release <version> [to <env>]", "release 1.4.0 to production")).toEqual({ ok: true, values: { version: "1.4.0", env: "production" } });
    expect(match("release <version> [to <env>]", "release")).toEqual({ ok: false, reason: "Missing a version." });
    expect(match("release <version> [to <env>]", "release 1.4.0 to")).toEqual({ ok: false, reason: "`to` needs an env." });
    expect(match("release <version> [to <env>]", "release 1.4.0 production")).toEqual({ ok: false, reason: "Unexpected `production`." });
  });

  it("matches choices, options and the rest of the text", () => {
    const usage = "feedback add <text...> [--kind <kind>] [--priority <priority:low|medium|high|critical>]";
    expect(match(usage, "feedback add The map\nis slow --priority high")).toEqual({ ok: true, values: { text: "The map\nis slow", priority: "high" } });
    expect(match(usage, "feedback add --kind bug  login fails  ")).toEqual({ ok: true, values: { text: "login fails", kind: "bug" } });
    expect(match(usage, "feedback add x --priority urgent")).toEqual({ ok: false, reason: "`urgent` is not a valid priority: use one of `low`, `medium`, `high`, `critical`." });
    expect(match(usage, "feedback add x --kind")).toEqual({ ok: false, reason: "`--kind` needs a value." });
    expect(match(usage, "feedback add x --kind a --kind b")).toEqual({ ok: false, reason: "`--kind` is given twice." });
    expect(match(usage, "feedback add --kind bug")).toEqual({ ok: false, reason: "Missing a text." });
    expect(match("feedback list [<status:open|in-progress|closed>]", "feedback list done")).toEqual({
      ok: false,
      reason: "`done` is not a valid status: use one of `open`, `in-progress`, `closed`.",
    });
  });
});

describe("command router", () => {
  const ran: unknown[] = [];
  const router = new CommandRouter(
    "/orch",
    (u) => u === "UADMIN",
    () => "Admins: <@UADMIN>.",
  );
  router.add(
    defineCommand({ usage: "release <version> [to <env>]", summary: "s", example: "release 1.4.0", group: "Releases", run: async (_c, a) => void ran.push(a) }),
    defineCommand({ usage: "release log <version>", summary: "s", example: "release log 1.4.0", group: "Releases", run: async () => {} }),
    defineCommand({
      usage: "jobs run <name>",
      summary: "s",
      example: "jobs run weekly-digest",
      group: "Jobs and reports",
      access: "admins",
      args: z.object({ name: z.enum(["weekly-digest"], { error: (iss) => `\`${String(iss.input)}\` is not a job` }) }),
      run: async () => {},
    }),
  );

  it("prefers the longer literal prefix", () => {
    const resolved = router.resolve("release log 1.4.0", "U1");
    expect(resolved.ok && resolved.command.pattern.usage).toBe("release log <version>");
    const plain = router.resolve("release 1.4.0", "U1");
    expect(plain.ok && plain.args).toEqual({ version: "1.4.0" });
  });

  it("refuses a forbidden command before looking at its arguments' meaning", () => {
    expect(router.resolve("jobs run weekly-digest", "U1")).toEqual({ ok: false, reason: "Only admins can use `/orch jobs run <name>`. Admins: <@UADMIN>." });
    expect(router.resolve("jobs run weekly-digest", "UADMIN").ok).toBe(true);
  });

  it("shows the schema's message with the right form", () => {
    expect(router.resolve("jobs run nightly", "UADMIN")).toEqual({
      ok: false,
      reason: "`nightly` is not a job.\nUsage: `/orch jobs run <name>`, for example `/orch jobs run weekly-digest`",
    });
  });

  it("lists a family's commands when the second word is unknown", () => {
    const resolved = router.resolve("jobs list", "U1");
    expect(resolved).toEqual({ ok: false, reason: "`jobs list` is not a command I know. The `jobs` commands are:\n• `/orch jobs run <name>`" });
  });

  it("asks for something when the text is empty", () => {
    expect(router.resolve("   ", "U1")).toEqual({ ok: false, reason: "Tell me what to do, e.g. `/orch status`. `/orch help` lists every command." });
  });

  it("refuses an unknown command with the nearest one and a pointer to help", () => {
    expect(router.resolve("relase 1.4.0", "U1")).toEqual({ ok: false, reason: "I don't know the command `relase`. Did you mean `/orch release`? See `/orch help` for every command." });
    expect(router.resolve("deploy everything", "U1")).toEqual({ ok: false, reason: "I don't know the command `deploy`. See `/orch help` for every command." });
  });

  it("shows the grammar's first mistake with the form it was matched against", () => {
    expect(router.resolve("jobs run", "UADMIN")).toEqual({ ok: false, reason: "Missing a name.\nUsage: `/orch jobs run <name>`, for example `/orch jobs run weekly-digest`" });
    expect(router.resolve("release 1.4.0 production", "U1")).toEqual({ ok: false, reason: "Unexpected `production`.\nUsage: `/orch release <version> [to <env>]`, for example `/orch release 1.4.0`" });
    expect(router.resolve("jobs", "U1")).toEqual({ ok: false, reason: "`jobs` needs more. The `jobs` commands are:\n• `/orch jobs run <name>`" });
  });
});
