// One stream budget for the whole client port: streaming calls beyond the limit are refused before their
// handler runs, and the budget frees up as calls end, however they end.
import http2 from "node:http2";
import { Server, ServerCredentials, type ServerWritableStream } from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { ClientPortBudget } from "../../src/server/transport/client-port-budget.js";
import { frame, openSession, openStream, outcomeOf, type RawOutcome } from "./lib/raw-grpc.js";

const PATH = "/wendy.test.Budget/Push";
const identity = (b: Buffer): Buffer => b;
let server: Server | undefined;
afterEach(() => server?.forceShutdown());

/** A server whose one method pushes `count` messages of `size` bytes (the request says how many), never waiting. */
async function start(budget: ClientPortBudget): Promise<string> {
  server = new Server({ interceptors: [budget.interceptor] });
  server.register(
    PATH,
    (call: ServerWritableStream<Buffer, Buffer>) => {
      const count = call.request.readUInt32BE(0);
      const size = call.request.readUInt32BE(4);
      for (let i = 0; i < count; i++) {
        call.write(Buffer.alloc(size, i));
      }
      call.end();
    },
    identity,
    identity,
    "serverStream",
  );
  const port = await new Promise<number>((resolve, reject) =>
    server!.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (e, p) =>
      e ? reject(e) : resolve(p),
    ),
  );
  return `127.0.0.1:${port}`;
}

function request(count: number, size: number): Buffer {
  const body = Buffer.alloc(8);
  body.writeUInt32BE(count, 0);
  body.writeUInt32BE(size, 4);
  return frame(body);
}

/** Opens a push of `count` x `size` bytes; a paused reader never lets the server send past its window. */
async function push(
  address: string,
  count: number,
  size: number,
  read: boolean,
): Promise<{ outcome: Promise<RawOutcome> }> {
  const session = await openSession(address);
  const stream = openStream(session, PATH);
  const outcome = outcomeOf(stream);
  stream.end(request(count, size));
  if (!read) stream.pause();
  void outcome.finally(() => session.close());
  return { outcome };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe("client port budget", () => {
  it("refuses streaming calls beyond the stream limit, and admits new ones once others end", async () => {
    const budget = new ClientPortBudget({ maxStreams: 3 });
    const address = await start(budget);
    const sessions = await Promise.all(Array.from({ length: 3 }, () => openSession(address)));
    // Streams that never send their request: open, waiting.
    const waiting = sessions.map((s) => openStream(s, PATH).on("error", () => undefined));
    await sleep(300);
    expect(budget.openStreams).toBe(3);
    const refused = await (await push(address, 1, 10, true)).outcome;
    expect(refused.grpcStatus).toBe(8);
    for (const s of waiting) s.close(http2.constants.NGHTTP2_CANCEL);
    await sleep(300);
    expect(budget.openStreams).toBe(0);
    expect((await (await push(address, 1, 10, true)).outcome).grpcStatus).toBe(0);
    // A stream that ended with its status gave its place back too.
    expect(budget.openStreams).toBe(0);
    for (const s of sessions) s.close();
  });
});
