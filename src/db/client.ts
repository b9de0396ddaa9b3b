import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { type SQL, sql } from "drizzle-orm";
import type { PgDatabase, PgQueryResultHKT, PgTransaction } from "drizzle-orm/pg-core";
import { drizzle as drizzlePostgres } from "drizzle-orm/postgres-js";
import { migrate as migratePostgres } from "drizzle-orm/postgres-js/migrator";
import type { ExtractTablesWithRelations } from "drizzle-orm/relations";
import postgres from "postgres";
import { MIGRATIONS_FOLDER } from "../paths.js";
import * as schema from "./schema.js";

export type Schema = typeof schema;
/** The one database handle of the app: the same drizzle API over postgres.js or embedded PGlite. */
export type Db = PgDatabase<PgQueryResultHKT, Schema>;
export type Tx = PgTransaction<PgQueryResultHKT, Schema, ExtractTablesWithRelations<Schema>>;
/** Anything that runs queries: the handle itself or an open transaction. */
export type Executor = Db | Tx;

export interface Database {
  db: Db;
  /**
   * The same database through a small pool of its own, for the one write on the acknowledgement path
   * (the replay guard's signature insert): it never queues behind the background work's queries, and
   * its commits do not wait for the WAL flush (a crash forgets at most the last moment's signatures).
   * Embedded PGlite has one connection: there it is `db`.
   */
  urgent: Db;
  kind: "postgres" | "pglite";
  /** Where it lives, without credentials, for logs and the start-up line. */
  location: string;
  ping(timeoutMs?: number): Promise<boolean>;
  close(): Promise<void>;
}

// An arbitrary constant: every replica takes this lock before migrating, so only one migrates at a time.
const MIGRATION_LOCK = 4_242_001;

export interface OpenOptions {
  databaseUrl?: string;
  /** Folder for embedded PGlite; omitted: in memory (tests). */
  dataDir?: string;
  onDatabaseError?: (error: unknown) => void;
  poolSize?: number;
}

export async function openDatabase(options: OpenOptions): Promise<Database> {
  return options.databaseUrl ? openPostgres(options.databaseUrl, options) : openPglite(options.dataDir);
}

async function openPostgres(url: string, options: OpenOptions): Promise<Database> {
  const client = postgres(url, {
    max: options.poolSize ?? 10,
    onnotice: () => {},
    connect_timeout: 5,
    // postgres.js waits up to 20 s between reconnect attempts by default; queued queries wait with it.
    // A short, capped backoff makes an outage fail fast (Slack redelivers) and recovery prompt.
    backoff: (attempt: number) => Math.min(0.05 * 2 ** attempt, 0.5),
    idle_timeout: 60,
    connection: { application_name: "orchestrator" },
  });
  const db = drizzlePostgres({ client, schema }) as unknown as Db;
  const urgentClient = postgres(url, {
    max: 2,
    onnotice: () => {},
    connect_timeout: 5,
    backoff: (attempt: number) => Math.min(0.05 * 2 ** attempt, 0.5),
    idle_timeout: 60,
    connection: { application_name: "orchestrator-ack", synchronous_commit: "off" },
  });
  const urgent = drizzlePostgres({ client: urgentClient, schema }) as unknown as Db;
  const lock = await client.reserve();
  try {
    await lock`select pg_advisory_lock(${MIGRATION_LOCK})`;
    await migratePostgres(drizzlePostgres({ client, schema }), { migrationsFolder: MIGRATIONS_FOLDER });
  } finally {
    await lock`select pg_advisory_unlock(${MIGRATION_LOCK})`.catch(() => undefined);
    lock.release();
  }
  const parsed = new URL(url);
  return {
    db,
    urgent,
    kind: "postgres",
    location: `postgres://${parsed.host}${parsed.pathname}`,
    ping: (timeoutMs = 2000) => pingWith(db, timeoutMs),
    close: async () => {
      await Promise.all([client.end({ timeout: 5 }), urgentClient.end({ timeout: 5 })]);
    },
  };
}

async function openPglite(dataDir: string | undefined): Promise<Database> {
  let folder: string | undefined;
  if (dataDir !== undefined) {
    folder = join(resolve(dataDir), "pgdata");
    mkdirSync(folder, { recursive: true });
  }
  // Loaded only when used: a deployment on PostgreSQL does not carry PGlite's WebAssembly in memory.
  const [{ PGlite }, { drizzle: drizzlePglite }, { migrate: migratePglite }] = await Promise.all([
    import("@electric-sql/pglite"),
    import("drizzle-orm/pglite"),
    import("drizzle-orm/pglite/migrator"),
  ]);
  const client = folder ? new PGlite(folder) : new PGlite();
  await client.waitReady;
  const pgliteDb = drizzlePglite({ client, schema });
  await migratePglite(pgliteDb, { migrationsFolder: MIGRATIONS_FOLDER });
  const db = pgliteDb as unknown as Db;
  let closed = false;
  return {
    db,
    urgent: db,
    kind: "pglite",
    location: folder ?? "memory",
    ping: (timeoutMs = 2000) => (closed ? Promise.resolve(false) : pingWith(db, timeoutMs)),
    close: async () => {
      if (closed) return;
      closed = true;
      await client.close();
    },
  };
}

async function pingWith(db: Db, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      db.execute(sql`select 1`).then(() => true),
      new Promise<boolean>((resolvePing) => {
        timer = setTimeout(() => resolvePing(false), timeoutMs);
      }),
    ]);
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

/** Rows of a raw query, whichever driver ran it (postgres.js returns an array, PGlite `{ rows }`). */
export async function queryRows<T>(executor: Executor, query: SQL): Promise<T[]> {
  const result: unknown = await executor.execute(query);
  if (Array.isArray(result)) return result as T[];
  return ((result as { rows?: T[] }).rows ?? []) as T[];
}

/** The one transaction helper: all of fn or none of it. */
export function inTransaction<T>(db: Db, fn: (tx: Tx) => Promise<T>): Promise<T> {
  return db.transaction(fn);
}

/** The driver's error under drizzle's wrapper: SQLSTATE code and constraint name, whichever driver raised it. */
export function pgError(error: unknown): { code?: string; constraint?: string; message: string } {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current; depth += 1) {
    const candidate = current as { code?: unknown; constraint?: string; constraint_name?: string; message?: string; cause?: unknown };
    if (typeof candidate.code === "string" && /^[0-9A-Z]{5}$/.test(candidate.code)) {
      return { code: candidate.code, constraint: candidate.constraint_name ?? candidate.constraint, message: candidate.message ?? String(current) };
    }
    current = candidate.cause;
  }
  return { message: error instanceof Error ? error.message : String(error) };
}

/** True when the database could not be reached at all (as opposed to refusing a query). */
export function isConnectionError(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current; depth += 1) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string" && (/^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|CONNECTION_|CONNECT_TIMEOUT)/.test(code) || /^(08|57P)/.test(code))) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/** Any failure that came from the database: a refused query or a lost connection. */
export function isDatabaseError(error: unknown): boolean {
  return pgError(error).code !== undefined || isConnectionError(error) || (error instanceof Error && error.message.startsWith("Failed query:"));
}
