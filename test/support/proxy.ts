import { createServer, type Server, type Socket, connect } from "node:net";
import type { AddressInfo } from "node:net";
import { openDatabase } from "../../src/db/client.js";
import { serveEmulator } from "../../src/emulator/server.js";
import { startTestBot, testEmulator, type Transport } from "./bot.js";
import { testConfig } from "./config.js";
import { createPostgresDatabase, dropPostgresDatabase } from "./db.js";

/** A TCP proxy in front of PostgreSQL that a test can cut and restore, to make the database drop. */
export class TcpProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private cut = false;
  port = 0;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  async start(port = 0): Promise<void> {
    const server = createServer((client) => {
      if (this.cut) {
        client.destroy();
        return;
      }
      const upstream = connect(this.targetPort, this.targetHost);
      this.sockets.add(client);
      this.sockets.add(upstream);
      const drop = () => {
        client.destroy();
        upstream.destroy();
        this.sockets.delete(client);
        this.sockets.delete(upstream);
      };
      client.on("error", drop).on("close", drop);
      upstream.on("error", drop).on("close", drop);
      client.pipe(upstream);
      upstream.pipe(client);
    });
    this.server = server;
    await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
    this.port = (server.address() as AddressInfo).port;
  }

  /** Drops every connection and stops listening, so new connections are refused as by a server that is down. */
  async drop(): Promise<void> {
    this.cut = true;
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** Listens again on the same port. */
  async restore(): Promise<void> {
    this.cut = false;
    await this.start(this.port);
  }

  /** The same database URL, through the proxy. */
  urlFor(databaseUrl: string): string {
    const url = new URL(databaseUrl);
    url.hostname = "127.0.0.1";
    url.port = String(this.port);
    return url.toString();
  }

  async stop(): Promise<void> {
    if (!this.cut) await this.drop();
  }
}

/**
 * A bot on a fresh PostgreSQL database reached through a TcpProxy (so the test can cut the database),
 * with its own Slack emulator. `stop` tears everything down and drops the database.
 */
export async function startBotBehindProxy(poolSize: number, transport: Transport = "http") {
  const url = await createPostgresDatabase();
  const proxy = new TcpProxy("127.0.0.1", Number(new URL(url).port || 5432));
  await proxy.start();
  const database = await openDatabase({ databaseUrl: proxy.urlFor(url), poolSize });
  const emulator = testEmulator(transport);
  const served = await serveEmulator(emulator);
  const bot = await startTestBot({ db: { database, close: async () => {} }, loaded: testConfig(), emulator: { emulator, url: served.url }, transport });
  return {
    bot,
    emulator,
    database,
    proxy,
    stop: async () => {
      await bot.stop();
      await served.close();
      await database.close();
      await proxy.stop();
      await dropPostgresDatabase(url);
    },
  };
}
