// A grpc-js server is cut off on a fresh turn of the event loop, never from inside a session's input
// processing (src/server/transport/force-shutdown.ts says why: node would keep the streams it destroys
// there half torn down, which aborts the process on Node 22 and 26 when one still waits for trailers).
import type { Http2Server, Http2Session } from "node:http2";
import {
  Server,
  ServerCredentials,
  credentials,
  makeGenericClientConstructor,
  type ServiceDefinition,
  type ServiceError,
  type sendUnaryData,
  type ServerUnaryCall,
} from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { forceShutdownOutsideHttp2Input } from "../../src/server/transport/force-shutdown.js";

const identity = (b: Buffer): Buffer => b;
const definition: ServiceDefinition = {
  echo: {
    path: "/test.Shutdown/Echo",
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};
const ShutdownClient = makeGenericClientConstructor(definition, "Shutdown");
type EchoClient = InstanceType<typeof ShutdownClient> & {
  echo(request: Buffer, callback: (error: ServiceError | null) => void): void;
};

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

/** A bound server whose incoming HTTP/2 sessions are collected, and a client connected to it. */
async function serve(
  handler: (call: ServerUnaryCall<Buffer, Buffer>, reply: sendUnaryData<Buffer>) => void,
): Promise<{ server: Server; sessions: Http2Session[]; client: EchoClient }> {
  const server = new Server();
  server.addService(definition, { echo: handler });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (error, p) =>
      error ? reject(error) : resolve(p),
    ),
  );
  const sessions: Http2Session[] = [];
  const http2Servers = (server as unknown as { http2Servers: Map<Http2Server, unknown> }).http2Servers;
  for (const http2Server of http2Servers.keys())
    http2Server.on("session", (s: Http2Session) => sessions.push(s));
  const client = new ShutdownClient(`127.0.0.1:${port}`, credentials.createInsecure()) as EchoClient;
  cleanups.push(() => {
    client.close();
    server.forceShutdown();
  });
  return { server, sessions, client };
}

function echo(client: EchoClient): Promise<ServiceError | null> {
  return new Promise((resolve) => client.echo(Buffer.from("x"), resolve));
}

describe("forceShutdownOutsideHttp2Input", () => {
  it("leaves the server's connections open for the rest of the caller's turn and has closed them when it resolves", async () => {
    const { server, sessions, client } = await serve((_call, reply) => reply(null, Buffer.from("y")));
    expect(await echo(client)).toBeNull();
    expect(sessions).toHaveLength(1);
    const done = forceShutdownOutsideHttp2Input(server);
    expect(sessions[0]!.destroyed).toBe(false);
    await done;
    expect(sessions[0]!.destroyed).toBe(true);
  });

  it("called from a handler while the connection's other answers still wait for their trailers, ends every call and closes the connection", async () => {
    const calls = 20;
    let answered = 0;
    let shutdown: Promise<void> | undefined;
    const { server, sessions, client } = await serve((_call, reply) => {
      reply(null, Buffer.from("y"));
      answered += 1;
      if (answered === calls) shutdown = forceShutdownOutsideHttp2Input(server);
    });
    const results = await Promise.all(Array.from({ length: calls }, () => echo(client)));
    expect(results).toHaveLength(calls);
    expect(shutdown).toBeDefined();
    await shutdown;
    expect(sessions.length).toBeGreaterThan(0);
    expect(sessions.every((s) => s.destroyed)).toBe(true);
  });
});
