/**
 * The embedded database's own process (started by embedded.ts, never by hand): PGlite serving the
 * PostgreSQL wire protocol on a Unix socket in a folder only this user may enter, so the bot reaches
 * it with postgres.js like any PostgreSQL while PGlite's WebAssembly runs off the bot's event loop
 * and outside its heap. Its lifetime is the bot's: it stops when told to over IPC or when the IPC
 * channel closes (the bot exited, even by kill -9), closing PGlite cleanly in both cases.
 */
import { rmSync } from "node:fs";
import { dirname } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { PGLiteSocketServer } from "@electric-sql/pglite-socket";
import { z } from "zod";
import { ControlMessage, type ServerMessage, StartRequest } from "./embedded-protocol.js";

function send(message: ServerMessage): void {
  process.send?.(message);
}

async function serve(request: z.infer<typeof StartRequest>): Promise<void> {
  const db = request.dataDir ? new PGlite(request.dataDir) : new PGlite();
  let server: PGLiteSocketServer | undefined;
  let stopping: Promise<void> | undefined;
  const stop = (code: number, options: { removeFolder: boolean }) => {
    stopping ??= (async () => {
      try {
        await server?.stop();
        if (!db.closed) await db.close();
      } catch (error) {
        code = 1;
        process.stderr.write(`embedded database: could not close cleanly: ${error instanceof Error ? error.message : String(error)}\n`);
      }
      // The bot removes the socket's folder when it stops us; when it is gone, nobody else will.
      if (options.removeFolder) rmSync(dirname(request.socketPath), { recursive: true, force: true });
      process.exit(code);
    })();
    return stopping;
  };
  process.on("disconnect", () => void stop(0, { removeFolder: true }));
  process.on("message", (raw) => {
    const control = ControlMessage.safeParse(raw);
    if (!control.success) return;
    if (control.data.type === "stop") void stop(0, { removeFolder: false });
    else {
      const cpu = process.cpuUsage();
      send({ type: "usage", id: control.data.id, rss: process.memoryUsage.rss(), cpuMs: (cpu.user + cpu.system) / 1000 });
    }
  });
  try {
    await db.waitReady;
    // A predecessor killed with -9 leaves its socket file behind.
    rmSync(request.socketPath, { force: true });
    // One connection, the bot's: its postgres.js pool has exactly one. PGlite is one session, and
    // pglite-socket interleaves the messages of concurrent connections outside transactions, which
    // the extended query protocol does not survive.
    server = new PGLiteSocketServer({ db, path: request.socketPath, maxConnections: 1 });
    await server.start();
    send({ type: "listening", pid: process.pid });
  } catch (error) {
    send({ type: "failed", message: error instanceof Error ? error.message : String(error) });
    await stop(1, { removeFolder: false });
  }
}

// The bot governs this process's lifetime: a terminal's Ctrl-C or a service manager's SIGTERM to the
// whole group must not close the database under the bot while it is still finishing its work.
process.on("SIGINT", () => {});
process.on("SIGTERM", () => {});
process.once("message", (raw) => {
  const request = StartRequest.safeParse(raw);
  if (!request.success) {
    send({ type: "failed", message: `bad start request: ${z.prettifyError(request.error)}` });
    process.exit(1);
  }
  void serve(request.data);
});
