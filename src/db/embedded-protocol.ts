import { z } from "zod";

/** The messages between the bot and its embedded database process (IPC), parsed on arrival. */
export const StartRequest = z.object({
  type: z.literal("start"),
  /** PGlite's data folder; omitted: in memory. */
  dataDir: z.string().min(1).optional(),
  /** Where to listen: inside a folder the bot made for it, only this user may enter. */
  socketPath: z.string().min(1),
});

export const ServerMessage = z.discriminatedUnion("type", [
  z.object({ type: z.literal("listening"), pid: z.number().int() }),
  z.object({ type: z.literal("failed"), message: z.string() }),
  z.object({ type: z.literal("usage"), id: z.number().int(), rss: z.number(), cpuMs: z.number() }),
]);
export type ServerMessage = z.infer<typeof ServerMessage>;

export const ControlMessage = z.discriminatedUnion("type", [z.object({ type: z.literal("stop") }), z.object({ type: z.literal("usage"), id: z.number().int() })]);

/** PostgreSQL's own name for a server socket, so clients that take a folder find it there. */
export const EMBEDDED_SOCKET_NAME = ".s.PGSQL.5432";
