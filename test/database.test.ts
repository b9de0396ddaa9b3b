import { mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { openDatabase, queryRows } from "../src/db/client.js";
import { MIGRATIONS_FOLDER } from "../src/paths.js";
import { feedback } from "../src/db/schema.js";
import { createPostgresDatabase, dbKinds, dropPostgresDatabase, openTestDatabase } from "./support/db.js";

const EXPECTED_TABLES = [
  "ai_calls",
  "approvals",
  "backfill_cursors",
  "feedback",
  "feedback_events",
  "fix_notices",
  "freezes",
  "health_checks",
  "health_state",
  "job_runs",
  "release_transitions",
  "releases",
  "scheduler_heartbeats",
  "slack_events",
  "slack_signatures",
  "voided_approvals",
];

describe.each(dbKinds())("migrations on %s", (kind) => {
  it("creates every table from an empty database, and running them again changes nothing", async () => {
    // PGlite in memory: empty at every start (the test databases of other files start from a migrated copy).
    const test = kind === "pglite" ? await openDatabase({}).then((database) => ({ database, close: () => database.close() })) : await openTestDatabase(kind);
    try {
      const tables = await queryRows<{ table_name: string }>(test.database.db, sql`select table_name from information_schema.tables where table_schema = 'public' order by table_name`);
      expect(tables.map((t) => t.table_name)).toEqual(EXPECTED_TABLES);
      const applied = await queryRows<{ n: number }>(test.database.db, sql`select count(*)::int as n from drizzle.__drizzle_migrations`);
      expect(applied[0]?.n).toBe(readdirSync(MIGRATIONS_FOLDER).filter((f) => f.endsWith(".sql")).length);
    } finally {
      await test.close();
    }
  });
});

describe("migrations racing on one PostgreSQL", () => {
  it.runIf(process.env.TEST_DATABASE_URL)("lets three replicas start at once and migrates once", async () => {
    const url = await createPostgresDatabase();
    try {
      const opened = await Promise.all([1, 2, 3].map(() => openDatabase({ databaseUrl: url, poolSize: 2 })));
      const rows = await queryRows<{ n: number }>(opened[0]!.db, sql`select count(*)::int as n from drizzle.__drizzle_migrations`);
      expect(rows[0]?.n).toBe(readdirSync(MIGRATIONS_FOLDER).filter((f) => f.endsWith(".sql")).length);
      await Promise.all(opened.map((d) => d.close()));
    } finally {
      await dropPostgresDatabase(url);
    }
  });
});

describe("embedded PGlite in DATA_DIR", () => {
  it("keeps its data across a restart", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "orch-pglite-"));
    const first = await openDatabase({ dataDir });
    await first.db.insert(feedback).values({ channel: "C0HELPDESK", ts: "1.000001", author: "U1", text: "kept", source: "PEA Help Desk", kind: "bug", priority: "high", capturedBy: "message" });
    await first.close();
    const second = await openDatabase({ dataDir });
    try {
      const rows = await second.db.select({ text: feedback.text }).from(feedback);
      expect(rows).toEqual([{ text: "kept" }]);
    } finally {
      await second.close();
    }
  });
});
