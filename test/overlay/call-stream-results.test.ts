// When a CallStream writes its results: a fake stream and a fake call broker stand in for gRPC and the
// overlay, so the test sees each write as it happens and tells the answers itself.
import { EventEmitter } from "node:events";
import { Metadata, status, type ServerDuplexStream } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { NodeId } from "../../src/routing/id.js";
import type { NodeInfo } from "../../src/routing/types.js";
import { CallStreamRequest, type CallStreamResponse } from "../../src/gen/wendy/v1/overlay.js";
import { CallStreams } from "../../src/server/overlay/call-stream.js";
import type { CallWaiter } from "../../src/server/overlay/calls.js";
import type { OverlayContext } from "../../src/server/overlay/context.js";
import { DEFAULT_OVERLAY_LIMITS } from "../../src/server/overlay/limits.js";

/** A server-side duplex stream that records what is written to it. */
class FakeStream extends EventEmitter {
  readonly metadata = new Metadata();
  readonly written: CallStreamResponse[] = [];
  getDeadline(): number {
    return Number.POSITIVE_INFINITY;
  }
  write(response: CallStreamResponse, done?: () => void): boolean {
    this.written.push(response);
    if (done !== undefined) setImmediate(done);
    return true;
  }
  end(): void {}
}

const owner: NodeInfo = {
  id: NodeId.fromString("owner"),
  localAddress: "127.0.0.1:1",
  globalAddress: "127.0.0.1:1",
  region: "",
  incarnation: 1,
};

/** A CallStream whose calls wait in `waiters`, in the order they started, for the test to answer them. */
function openStream(): { stream: FakeStream; waiters: CallWaiter[] } {
  const waiters: CallWaiter[] = [];
  const ctx = {
    token: { refuse: () => undefined },
    limits: DEFAULT_OVERLAY_LIMITS,
    calls: {
      start: (_key: NodeId, _purpose: number, _payload: Uint8Array, _ms: number, waiter: CallWaiter) => {
        waiters.push(waiter);
        return `${waiters.length - 1}`.padStart(32, "0");
      },
      abandon: () => undefined,
    },
  } as unknown as OverlayContext;
  const stream = new FakeStream();
  new CallStreams(ctx).handler(stream as unknown as ServerDuplexStream<Buffer, CallStreamResponse>);
  return { stream, waiters };
}

function sendCalls(stream: FakeStream, count: number): void {
  const calls = Array.from({ length: count }, (_, i) => ({
    requestId: BigInt(i + 1),
    call: {
      key: { kind: { $case: "id" as const, id: Buffer.alloc(16, i) } },
      purpose: 500,
      payload: Buffer.from([i]),
      timeoutMs: 10_000,
    },
    deadlineMs: 0,
  }));
  stream.emit("data", Buffer.from(CallStreamRequest.encode({ calls, cancelRequestIds: [] }).finish()));
}

const answer = (byte: number) => ({ payload: Buffer.from([byte]), answeredBy: owner, hops: 1 });
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe("CallStream results", () => {
  it("writes the result of the only call outstanding within the call that answers it", () => {
    const { stream, waiters } = openStream();
    sendCalls(stream, 1);
    expect(waiters).toHaveLength(1);
    waiters[0]!.resolve(answer(7));
    expect(stream.written).toHaveLength(1);
    const [result] = stream.written[0]!.results;
    expect(result?.requestId).toBe(1n);
    expect(result?.code).toBe(status.OK);
    expect([...(result?.response?.payload ?? [])]).toEqual([7]);
  });

  it("writes the answers of two outstanding calls given in one turn as one stream message", async () => {
    const { stream, waiters } = openStream();
    sendCalls(stream, 2);
    expect(waiters).toHaveLength(2);
    waiters[0]!.resolve(answer(1));
    expect(stream.written).toHaveLength(0);
    waiters[1]!.resolve(answer(2));
    // The second answer completes every call outstanding: both leave together, at once.
    expect(stream.written).toHaveLength(1);
    expect(stream.written[0]!.results.map((r) => r.requestId)).toEqual([1n, 2n]);
    await nextTurn();
    expect(stream.written).toHaveLength(1);
  });

  it("writes the answer of one of two outstanding calls at the end of the turn it came in", async () => {
    const { stream, waiters } = openStream();
    sendCalls(stream, 2);
    waiters[1]!.resolve(answer(2));
    expect(stream.written).toHaveLength(0);
    await nextTurn();
    expect(stream.written).toHaveLength(1);
    expect(stream.written[0]!.results.map((r) => r.requestId)).toEqual([2n]);
  });
});
