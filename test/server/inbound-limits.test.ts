// InboundGuard's framing count, on fake HTTP/2 streams: however the bytes of gRPC messages are cut into
// chunks, complete messages free their budget and leave no deadline behind, and only the incomplete tail is
// held.
import { EventEmitter } from "node:events";
import fc from "fast-check";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Server } from "@grpc/grpc-js";
import { InboundGuard, type InboundLimits } from "../../src/server/transport/inbound-limits.js";

const LIMITS: InboundLimits = {
  maxConcurrentStreams: 10,
  maxBufferedBytesPerConnection: 1 << 20,
  maxBufferedBytes: 1 << 21,
  incompleteRequestTimeoutMs: 1000,
  handshakeTimeoutMs: 1000,
};

class FakeStream extends EventEmitter {
  readonly session = {};
  destroyed = false;
  closedWith: number | undefined;
  close(code: number): void {
    this.closedWith = code;
    this.destroyed = true;
  }
}

/** A guard attached to one fake HTTP/2 server, and a way to open streams on it. */
function guarded(limits = LIMITS): { guard: InboundGuard; refused: string[]; open: () => FakeStream } {
  const refused: string[] = [];
  const guard = new InboundGuard(limits, { onRefused: (limit) => refused.push(limit) });
  const http2Server = new EventEmitter();
  guard.attach({ http2Servers: new Map([[http2Server, {}]]) } as unknown as Server);
  return {
    guard,
    refused,
    open: () => {
      const stream = new FakeStream();
      http2Server.emit("stream", stream);
      return stream;
    },
  };
}

/** One gRPC length-prefixed message of `length` payload bytes. */
function frame(length: number): Buffer {
  const out = Buffer.alloc(5 + length, 7);
  out[0] = 0;
  out.writeUInt32BE(length, 1);
  return out;
}

/** `bytes` cut at `cuts` (positions, any order, duplicates allowed). */
function chunked(bytes: Buffer, cuts: readonly number[]): Buffer[] {
  const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const to of [...at, bytes.length]) {
    if (to > from) chunks.push(bytes.subarray(from, to));
    from = Math.max(from, to);
  }
  return chunks;
}

afterEach(() => vi.useRealTimers());

describe("InboundGuard framing", () => {
  it("complete messages cut anywhere (prefix included) hold nothing afterwards and are never refused", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 300 }), { minLength: 1, maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        (lengths, cuts) => {
          const { guard, refused, open } = guarded();
          const stream = open();
          for (const chunk of chunked(Buffer.concat(lengths.map(frame)), cuts)) stream.emit("data", chunk);
          expect(refused).toEqual([]);
          expect(guard.bufferedBytes).toBe(0);
        },
      ),
    );
  });

  it("an incomplete tail is held byte for byte, and released when its stream closes", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 300 }),
        fc.integer({ min: 1, max: 200 }),
        fc.array(fc.nat(), { maxLength: 8 }),
        (whole, tailLength, cuts) => {
          const { guard, refused, open } = guarded();
          const stream = open();
          const tail = frame(tailLength);
          const held = 1 + ((cuts[0] ?? 0) % (tail.length - 1));
          const bytes = Buffer.concat([frame(whole), tail.subarray(0, held)]);
          for (const chunk of chunked(bytes, cuts)) stream.emit("data", chunk);
          expect(refused).toEqual([]);
          expect(guard.bufferedBytes).toBe(held);
          stream.emit("close");
          expect(guard.bufferedBytes).toBe(0);
        },
      ),
    );
  });

  it("a message left incomplete is refused at its deadline; one completed before it is not", () => {
    vi.useFakeTimers();
    const { refused, open } = guarded();
    const finished = open();
    const message = frame(50);
    finished.emit("data", message.subarray(0, 3)); // inside the prefix
    vi.advanceTimersByTime(LIMITS.incompleteRequestTimeoutMs - 1);
    finished.emit("data", message.subarray(3));
    const stalled = open();
    stalled.emit("data", frame(50).subarray(0, 20));
    vi.advanceTimersByTime(LIMITS.incompleteRequestTimeoutMs);
    expect(refused).toEqual(["incomplete-request"]);
    expect(finished.closedWith).toBeUndefined();
    expect(stalled.closedWith).toBeDefined();
  });

  it("whole messages start no deadline timer; a message left incomplete starts one", () => {
    vi.useFakeTimers();
    const { open } = guarded();
    const stream = open();
    const started = vi.spyOn(globalThis, "setTimeout");
    stream.emit("data", Buffer.concat([frame(10), frame(0), frame(100)]));
    expect(started).not.toHaveBeenCalled();
    stream.emit("data", frame(10).subarray(0, 4));
    expect(started).toHaveBeenCalledTimes(1);
    expect(vi.getTimerCount()).toBe(1);
  });
});
