import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { SlackEmulator } from "./emulator.js";

/** Serves an emulator on its own port (tests, benchmarks); sandbox mode mounts it on the bot's server instead. */
export async function serveEmulator(
  emulator: SlackEmulator,
  port = 0,
  host = "127.0.0.1",
  /** Told about every request the emulator answered (benchmarks time response_url posts with it). */
  onHandled?: (pathname: string) => void,
): Promise<{ server: Server; url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const pathname = new URL(req.url ?? "/", "http://localhost").pathname;
    emulator
      .handle(req, res, pathname)
      .then((handled) => {
        if (!handled) {
          res.writeHead(404, { "content-type": "text/plain" });
          res.end("not found");
          return;
        }
        onHandled?.(pathname);
      })
      .catch((error: unknown) => {
        res.writeHead(500, { "content-type": "text/plain" });
        res.end(String(error));
      });
  });
  server.on("upgrade", (req, socket, head) => {
    if (!emulator.socketMode?.upgrade(req, socket, head)) socket.destroy();
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  const url = `http://${host}:${(server.address() as AddressInfo).port}`;
  emulator.setBaseUrl(url);
  return {
    server,
    url,
    close: () =>
      new Promise<void>((resolve) => {
        emulator.stop();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
