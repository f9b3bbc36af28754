// WENDY_CLIENT_SOCKET: the client services on a Unix-domain socket beside the TCP client port, for
// applications in the node's pod. What a path may be, how a socket file left behind is told from one in use,
// and real daemons serving on one (token, permissions, a subscriber there, the file's life across stops).
import { execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UnauthenticatedError, WendyClient } from "../../src/client/index.js";
import {
  clearStaleSocket,
  MAX_SOCKET_PATH_BYTES,
  SOCKET_MODE,
  socketPathProblem,
} from "../../src/server/daemon/client-socket.js";
import { LOG_STARTED } from "../../src/server/daemon/daemon.js";
import { DaemonProcess } from "../../src/server/daemon/demo/daemon-process.js";
import { REPO_ROOT } from "../helpers/node-processes.js";
import { testSecret } from "../helpers/secrets.js";
import { nextWithin, waitFor } from "../helpers/wait.js";

const TOKEN = "socket-t0ken";
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "wendy-socket-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A socket file no process serves: its server was SIGKILLed, so nothing removed the file. */
async function staleSocket(path: string): Promise<void> {
  const child = spawn(
    process.execPath,
    ["-e", `require("net").createServer().listen(${JSON.stringify(path)}, () => console.log("up"))`],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  await once(child.stdout, "data");
  child.kill("SIGKILL");
  await once(child, "exit");
  expect(statSync(path).isSocket()).toBe(true);
}

describe("socketPathProblem", () => {
  it("takes an absolute path of at most 107 bytes, and names what is wrong with any other", () => {
    expect(socketPathProblem("/var/run/wendy/client.sock")).toBeUndefined();
    expect(socketPathProblem("/" + "a".repeat(MAX_SOCKET_PATH_BYTES - 1))).toBeUndefined();
    expect(socketPathProblem("run/client.sock")).toBe("must be an absolute path");
    expect(socketPathProblem("/var/run/wendy/")).toBe("must name a file, not a directory");
    expect(socketPathProblem("/tmp/a\0b")).toBe("must not contain a NUL character");
    expect(socketPathProblem("/" + "é".repeat(60))).toBe(
      "is 121 bytes long; a Unix socket's path holds at most 107",
    );
  });
});

describe("clearStaleSocket", () => {
  it("leaves a free path alone and removes a socket file nobody serves", async () => {
    await clearStaleSocket(join(dir, "nothing-here.sock"));
    const stale = join(dir, "stale.sock");
    await staleSocket(stale);
    await clearStaleSocket(stale);
    expect(existsSync(stale)).toBe(false);
  });

  it("refuses, and keeps, a socket some process serves and a file that is not a socket", async () => {
    const live = join(dir, "live.sock");
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(live, resolve));
    try {
      await expect(clearStaleSocket(live)).rejects.toThrow(`another process is serving on ${live}`);
      expect(statSync(live).isSocket()).toBe(true);
    } finally {
      server.close();
    }
    const plain = join(dir, "plain.txt");
    writeFileSync(plain, "keep me");
    await expect(clearStaleSocket(plain)).rejects.toThrow(`${plain} exists and is not a socket`);
    expect(existsSync(plain)).toBe(true);
  });
});

function startDaemon(name: string, socket: string): DaemonProcess {
  return new DaemonProcess({
    name,
    env: {
      WENDY_NODE_NAME: name,
      WENDY_BIND_HOST: "127.0.0.1",
      WENDY_PORT: "0",
      WENDY_CLIENT_PORT: "0",
      WENDY_CLIENT_SOCKET: socket,
      WENDY_CLIENT_TOKEN: TOKEN,
      WENDY_METRICS_HOST: "127.0.0.1",
      WENDY_METRICS_PORT: "0",
      WENDY_SECRET: testSecret("client-socket"),
    },
  });
}

describe("wendy start with WENDY_CLIENT_SOCKET", () => {
  it("serves the client services on the socket (mode 0660, token required there too) beside the TCP port", async () => {
    const socket = join(dir, "node-a.sock");
    const daemon = startDaemon("socket-a", socket);
    const started = await daemon.waitForLine((l) => l.msg === LOG_STARTED, 30_000, "started");
    expect(started.clientSocket).toBe(socket);
    expect(statSync(socket).mode & 0o777).toBe(SOCKET_MODE);
    const overSocket = new WendyClient(`unix://${socket}`, { token: TOKEN });
    const overTcp = new WendyClient(`127.0.0.1:${String(started.clientPort)}`, { token: TOKEN });
    const withoutToken = new WendyClient(`unix://${socket}`);
    const deliveries = overSocket.subscribe([40]);
    try {
      await expect(withoutToken.status()).rejects.toBeInstanceOf(UnauthenticatedError);
      // A subscriber on the socket counts as beside the node (Subscribe is refused to remote clients).
      await waitFor("the subscriber on the socket", async () =>
        (await overTcp.status()).subscriberCount === 1 ? true : undefined,
      );
      await overTcp.send("to the socket", 40, "sent over TCP");
      const delivered = await nextWithin(deliveries, "the delivery on the socket");
      expect(Buffer.from(delivered.payload).toString()).toBe("sent over TCP");
      await overSocket.send("and back", 40, "sent over the socket");
      expect(Buffer.from((await nextWithin(deliveries, "the second delivery")).payload).toString()).toBe(
        "sent over the socket",
      );
      // The command-line client takes the socket as unix:/path.
      const cli = await promisify(execFile)(
        process.execPath,
        ["--import", "tsx", join(REPO_ROOT, "test", "helpers", "client-cli.ts"), "status"].concat([
          "--address",
          `unix:${socket}`,
          "--token",
          TOKEN,
        ]),
        { cwd: REPO_ROOT, timeout: 30_000 },
      );
      expect(cli.stdout).toContain("LEAF SET");
    } finally {
      deliveries.close();
      overSocket.close();
      overTcp.close();
      withoutToken.close();
      daemon.signal("SIGTERM");
    }
    expect(await daemon.exited).toEqual({ code: 0, signal: null });
    // A graceful stop removes the file.
    expect(existsSync(socket)).toBe(false);
  });

  it("replaces a socket file left by a killed daemon, and refuses one a running daemon serves", async () => {
    const socket = join(dir, "node-b.sock");
    const first = startDaemon("socket-b", socket);
    await first.waitForLine((l) => l.msg === LOG_STARTED, 30_000, "started");
    const second = startDaemon("socket-b2", socket);
    const refused = await second.exited;
    expect(refused.code).not.toBe(0);
    expect([...second.stderr, ...second.lines.map((l) => JSON.stringify(l))].join("\n")).toContain(
      `another process is serving on ${socket}`,
    );
    first.signal("SIGKILL");
    await first.exited;
    expect(statSync(socket).isSocket()).toBe(true);
    const restarted = startDaemon("socket-b", socket);
    try {
      await restarted.waitForLine((l) => l.msg === LOG_STARTED, 30_000, "started again");
      const client = new WendyClient(`unix://${socket}`, { token: TOKEN });
      try {
        expect((await client.status()).ready).toBe(true);
      } finally {
        client.close();
      }
    } finally {
      restarted.signal("SIGTERM");
      await restarted.exited;
    }
  });
});
