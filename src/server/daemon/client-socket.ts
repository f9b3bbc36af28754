// The client services on a Unix-domain socket (WENDY_CLIENT_SOCKET), beside the TCP client port. An
// application in the node's pod (or on its machine) reaches the node through a file instead of the loopback
// TCP stack: no TCP segments, acknowledgements or checksums per message. The kernel's TCP work on the client
// legs is charged to the daemon that sends and receives, so the daemon saves too: 7 % of its CPU per message
// at 1,500 Sends/s on a quiet machine, 17 % on a busy one, nothing near saturation, where messages already
// share segments (bench/ab.ts --head-client-socket). Who may connect is decided by the file's permissions
// (SOCKET_MODE: owner and group), as for any local socket.
import { chmod, lstat, unlink } from "node:fs/promises";
import { connect } from "node:net";
import { isAbsolute } from "node:path";
import { ServerCredentials, type Server } from "@grpc/grpc-js";
import { asError } from "../../shared/as-error.js";

/** Linux keeps a socket's path in 108 bytes, the last one a NUL (macOS: 104). */
export const MAX_SOCKET_PATH_BYTES = 107;
/** Read and write (which connecting needs) for the owner and the group: a pod's containers share a group. */
export const SOCKET_MODE = 0o660;
/** How long a connection to an existing socket file may take before it counts as served by someone. */
const PROBE_TIMEOUT_MS = 1000;

/** Why `path` cannot name the socket, or undefined when it can. */
export function socketPathProblem(path: string): string | undefined {
  if (!isAbsolute(path)) return "must be an absolute path";
  if (path.includes("\0")) return "must not contain a NUL character";
  if (path.endsWith("/")) return "must name a file, not a directory";
  const bytes = Buffer.byteLength(path, "utf8");
  if (bytes > MAX_SOCKET_PATH_BYTES)
    return `is ${bytes} bytes long; a Unix socket's path holds at most ${MAX_SOCKET_PATH_BYTES}`;
  return undefined;
}

/**
 * Makes `path` free for a new socket: nothing there, or a socket file nobody serves any more (left by a
 * process that was killed: a stopped daemon removes its own) is removed. A socket someone still serves, or
 * a file that is not a socket, is an error naming the path: never removed.
 */
export async function clearStaleSocket(path: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = (await lstat(path)).isSocket();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
    throw new Error(`cannot use ${path}: ${asError(error).message}`, { cause: error });
  }
  if (!isSocket) throw new Error(`${path} exists and is not a socket: remove it or choose another path`);
  if (await isServed(path)) throw new Error(`another process is serving on ${path}`);
  await unlink(path).catch((error: unknown) => {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  });
}

/** Whether a connection to the socket at `path` is accepted (within PROBE_TIMEOUT_MS). */
function isServed(path: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const socket = connect({ path });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(true);
    }, PROBE_TIMEOUT_MS);
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(true);
    });
    socket.once("error", (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (error.code === "ECONNREFUSED" || error.code === "ENOENT") resolve(false);
      else reject(new Error(`cannot use ${path}: ${error.message}`));
    });
  });
}

/**
 * Serves `server`'s services on a Unix socket at `path` as well (after clearing a stale one), readable and
 * writable by the owner and the group. grpc-js removes the file when the server shuts down.
 */
export async function listenOnSocket(server: Server, path: string): Promise<void> {
  await clearStaleSocket(path);
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(`unix://${path}`, ServerCredentials.createInsecure(), (error) =>
      error ? reject(new Error(`cannot listen on ${path}: ${error.message}`)) : resolve(),
    ),
  );
  await chmod(path, SOCKET_MODE);
}
