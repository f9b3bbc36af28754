// Incoming connections as a liveness signal: a connection that ends without a GOAWAY (the peer's process
// died) reports the peer whose calls came over it; one closed gracefully does not.
import { spawn, type ChildProcess } from "node:child_process";
import { connect, type ClientHttp2Session } from "node:http2";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { Server, ServerCredentials } from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { NodeId } from "../../src/routing/id.js";
import type { NodeInfo } from "../../src/routing/types.js";
import { InboundPeers } from "../../src/server/transport/inbound-peers.js";

const PEER: NodeInfo = {
  id: NodeId.fromString("peer"),
  localAddress: "127.0.0.1:1",
  globalAddress: "127.0.0.1:1",
  region: "default",
  incarnation: 1,
};

async function listening(peers: InboundPeers): Promise<{ server: Server; port: number }> {
  const server = new Server();
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (error, p) =>
      error ? reject(error) : resolve(p),
    ),
  );
  peers.attach(server);
  return { server, port };
}

/** An HTTP/2 connection to the server, and its remote end as the server sees it ("address:port"). */
async function connection(port: number): Promise<{ session: ClientHttp2Session; remote: string }> {
  const session = connect(`http://127.0.0.1:${port}`);
  await once(session, "connect");
  const socket = session.socket;
  return { session, remote: `${socket.localAddress ?? ""}:${socket.localPort ?? 0}` };
}

/** A process holding an HTTP/2 connection to the server; resolves with it and the connection's remote end. */
async function connectedProcess(port: number): Promise<{ child: ChildProcess; remote: string }> {
  const program = `
    const session = require("node:http2").connect("http://127.0.0.1:${port}");
    session.on("connect", () => console.log(session.socket.localAddress + ":" + session.socket.localPort));
    setInterval(() => {}, 1000);
  `;
  const child = spawn(process.execPath, ["-e", program], { stdio: ["ignore", "pipe", "inherit"] });
  children.push(child);
  const [remote] = (await once(createInterface({ input: child.stdout! }), "line")) as [string];
  return { child, remote };
}

const servers: Server[] = [];
const children: ChildProcess[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.forceShutdown();
  for (const c of children.splice(0)) c.kill("SIGKILL");
});

describe("InboundPeers", () => {
  it("reports the peer whose calls came over a connection that ends without a GOAWAY", async () => {
    const lost: NodeInfo[] = [];
    const peers = new InboundPeers((peer) => lost.push(peer));
    const { server, port } = await listening(peers);
    servers.push(server);
    const { child, remote } = await connectedProcess(port);
    peers.note(remote, PEER);
    // The peer's process is killed: its kernel closes the socket, no GOAWAY is sent.
    child.kill("SIGKILL");
    await expect.poll(() => lost, { timeout: 5000 }).toEqual([PEER]);
  });

  it("does not report a connection closed gracefully (GOAWAY), nor one no peer call came over", async () => {
    const lost: NodeInfo[] = [];
    const peers = new InboundPeers((peer) => lost.push(peer));
    const { server, port } = await listening(peers);
    servers.push(server);
    const graceful = await connection(port);
    peers.note(graceful.remote, PEER);
    const gracefulClosed = once(graceful.session, "close");
    graceful.session.close();
    const anonymous = await connectedProcess(port);
    const anonymousExited = once(anonymous.child, "exit");
    anonymous.child.kill("SIGKILL");
    await Promise.all([gracefulClosed, anonymousExited]);
    // The server's side of each connection has closed too before the verdict is read.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(lost).toEqual([]);
  });
});
