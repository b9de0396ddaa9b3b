import { existsSync, mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { type SQL, sql } from "drizzle-orm";
import type { PgTransaction } from "drizzle-orm/pg-core";
import { drizzle, type PostgresJsDatabase, type PostgresJsQueryResultHKT } from "drizzle-orm/postgres-js";
import { migrate } from "drizzle-orm/postgres-js/migrator";
import type { ExtractTablesWithRelations } from "drizzle-orm/relations";
import postgres from "postgres";
import { MIGRATIONS_FOLDER } from "../paths.js";
import { lockDataDir } from "./lock.js";
import { type EmbeddedServer, startEmbeddedServer } from "./embedded.js";
import * as schema from "./schema.js";

type Schema = typeof schema;
/** The one database handle of the app: drizzle over postgres.js, on PostgreSQL and embedded PGlite alike. */
export type Db = PostgresJsDatabase<Schema>;
export type Tx = PgTransaction<PostgresJsQueryResultHKT, Schema, ExtractTablesWithRelations<Schema>>;
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
  /** Where it lives, without credentials, for logs. */
  location: string;
  /** The same for people: "PostgreSQL at …" or "embedded PGlite in …". */
  description: string;
  /** The embedded database's own process, when there is one (its memory is reported beside the bot's). */
  embedded?: EmbeddedServer;
  ping(timeoutMs?: number): Promise<boolean>;
  close(): Promise<void>;
}

// An arbitrary constant: every replica takes this lock before migrating, so only one migrates at a time.
const MIGRATION_LOCK = 4_242_001;

interface OpenOptions {
  databaseUrl?: string;
  /** Folder for embedded PGlite; omitted: in memory (tests). */
  dataDir?: string;
  /** Hears of failures outside any query, such as the embedded database's process ending. */
  onDatabaseError?: (error: Error) => void;
  /** Connections to PostgreSQL (embedded PGlite always gets one: it is a single session). */
  poolSize?: number;
  /** Told each start-up step as a sentence (creating the database, migrating), for the person starting the bot. */
  progress?: (line: string) => void;
}

/**
 * Opens and migrates the database: PostgreSQL at `databaseUrl`, else embedded PGlite started in a
 * process of its own and reached over its Unix socket, through the same driver and code from here on.
 */
export async function openDatabase(options: OpenOptions): Promise<Database> {
  if (options.databaseUrl) {
    const parsed = new URL(options.databaseUrl);
    const location = `postgres://${parsed.host}${parsed.pathname}`;
    options.progress?.(`Connecting to PostgreSQL at ${location}…`);
    return connect({
      kind: "postgres",
      location,
      description: `PostgreSQL at ${location}`,
      target: options.databaseUrl,
      poolSize: options.poolSize ?? 10,
      ...(options.progress ? { progress: options.progress } : {}),
    });
  }
  // One process per folder; released by close() or, if the process dies, taken over by the next start.
  const folderLock = options.dataDir !== undefined ? lockDataDir(options.dataDir) : undefined;
  try {
    let folder: string | undefined;
    if (options.dataDir !== undefined) {
      const fresh = !existsSync(join(resolve(options.dataDir), "pgdata"));
      folder = embeddedDataFolder(options.dataDir);
      options.progress?.(`${fresh ? "Creating" : "Opening"} the embedded database in ${join(options.dataDir, "pgdata")}…`);
    }
    const embedded = await startEmbeddedServer({
      ...(folder ? { dataDir: folder } : {}),
      onExit: (detail, restarting) =>
        options.onDatabaseError?.(new Error(`the embedded database process ended unexpectedly (${detail}); ${restarting ? "starting it again" : "not starting it again: restart the bot"}`)),
    });
    try {
      return await connect({
        kind: "pglite",
        location: folder ?? "memory",
        description: `embedded PGlite ${folder ? `in ${folder}` : "in memory"} (process ${embedded.pid})`,
        // PGlite is one session: one connection, so a transaction, its advisory locks and the extended
        // protocol's message sequences never interleave with another connection's (postgres.js pipelines on it).
        target: { path: embedded.socketPath, user: "postgres", database: "postgres" },
        poolSize: 1,
        embedded,
        ...(options.progress ? { progress: options.progress } : {}),
        ...(folderLock ? { onClosed: () => folderLock.release() } : {}),
      });
    } catch (error) {
      await embedded.stop();
      throw error;
    }
  } catch (error) {
    folderLock?.release();
    throw error;
  }
}

/** PGlite's folder inside DATA_DIR, created if missing. */
function embeddedDataFolder(dataDir: string): string {
  const folder = join(resolve(dataDir), "pgdata");
  mkdirSync(folder, { recursive: true });
  return folder;
}

interface Target {
  kind: Database["kind"];
  location: string;
  description: string;
  target: string | { path: string; user: string; database: string };
  poolSize: number;
  embedded?: EmbeddedServer;
  progress?: (line: string) => void;
  /** After the database is closed (the data-folder lock is released). */
  onClosed?: () => void;
}

async function connect({ kind, location, description, target, poolSize, embedded, progress, onClosed }: Target): Promise<Database> {
  const settings = {
    onnotice: () => {},
    connect_timeout: 5,
    // postgres.js waits up to 20 s between reconnect attempts by default; queued queries wait with it.
    // A short, capped backoff makes an outage fail fast (Slack redelivers) and recovery prompt.
    backoff: (attempt: number) => Math.min(0.05 * 2 ** attempt, 0.5),
    connection: { application_name: "orchestrator" },
  };
  const open = (max: number, extra: postgres.Options<Record<string, never>> = {}) =>
    typeof target === "string" ? postgres(target, { ...settings, ...extra, max }) : postgres({ ...settings, ...extra, ...target, max });
  // The embedded socket is local and ours: its one connection is kept, never recycled.
  const client = open(poolSize, embedded ? { idle_timeout: 0, max_lifetime: 0 } : { idle_timeout: 60 });
  // PostgreSQL: a small pool of its own for the write on the acknowledgement path (see Database.urgent).
  // The embedded server takes one connection only: there it is the same pool.
  const urgentClient = embedded ? undefined : open(2, { idle_timeout: 60, connection: { application_name: "orchestrator-ack", synchronous_commit: "off" } });
  // Migrations run on one connection that holds the migration lock throughout, so replicas starting
  // together on one PostgreSQL migrate one after another: a pool of one is that connection (the embedded
  // server takes no second one), a larger pool gets a connection of its own for them.
  const migrator = poolSize === 1 ? client : open(1);
  try {
    await migrator`select pg_advisory_lock(${MIGRATION_LOCK})`;
    progress?.("Migrating the database schema…");
    await migrate(drizzle({ client: migrator, schema }), { migrationsFolder: MIGRATIONS_FOLDER });
    await migrator`select pg_advisory_unlock(${MIGRATION_LOCK})`;
  } catch (error) {
    await Promise.all([client.end({ timeout: 5 }), urgentClient?.end({ timeout: 5 })]);
    throw error;
  } finally {
    if (migrator !== client) await migrator.end({ timeout: 5 });
  }
  const db = drizzle({ client, schema });
  const urgent = urgentClient ? drizzle({ client: urgentClient, schema }) : db;
  let closed = false;
  return {
    db,
    urgent,
    kind,
    location,
    description,
    ...(embedded ? { embedded } : {}),
    ping: (timeoutMs = 2000) => (closed ? Promise.resolve(false) : pingWith(db, timeoutMs)),
    close: async () => {
      if (closed) return;
      closed = true;
      await Promise.all([client.end({ timeout: 5 }), urgentClient?.end({ timeout: 5 })]);
      await embedded?.stop();
      onClosed?.();
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

/** Rows of a raw query. */
export async function queryRows<T>(executor: Executor, query: SQL): Promise<T[]> {
  return (await executor.execute(query)) as unknown as T[];
}

/** The one transaction helper: all of fn or none of it. */
export function inTransaction<T>(db: Db, fn: (tx: Tx) => Promise<T>): Promise<T> {
  return db.transaction(fn);
}

/** postgres.js's error under drizzle's wrapper: SQLSTATE code and constraint name. */
export function pgError(error: unknown): { code?: string; constraint?: string; message: string } {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current; depth += 1) {
    const candidate = current as { code?: unknown; constraint_name?: string; message?: string; cause?: unknown };
    if (typeof candidate.code === "string" && /^[0-9A-Z]{5}$/.test(candidate.code)) {
      return { code: candidate.code, ...(candidate.constraint_name ? { constraint: candidate.constraint_name } : {}), message: candidate.message ?? String(current) };
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
    if (typeof code === "string" && (/^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|ENOENT|CONNECTION_|CONNECT_TIMEOUT)/.test(code) || /^(08|57P)/.test(code))) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/** Any failure that came from the database: a refused query or a lost connection. */
export function isDatabaseError(error: unknown): boolean {
  return pgError(error).code !== undefined || isConnectionError(error) || (error instanceof Error && error.message.startsWith("Failed query:"));
}
