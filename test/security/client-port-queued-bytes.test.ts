// One byte budget across all client-port streams (overlay/queued-bytes.ts): what the streams hold for clients
// that do not read, together, stays within maxQueuedBytes, even while each stream is far below its own
// bound; the stream whose message would pass it is cut off with RESOURCE_EXHAUSTED, and what a stream held
// goes back to the budget when it ends, however it ends.
import { EventEmitter } from "node:events";
import { status, type ServerWritableStream } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { BoundedStream } from "../../src/server/overlay/bounded-stream.js";
import { QueuedBytes } from "../../src/server/overlay/queued-bytes.js";

/** A server stream whose client never reads: writes stay queued until `drain` completes them. */
class StalledCall extends EventEmitter {
  readonly pending: (() => void)[] = [];
  failedWith: number | undefined;

  constructor() {
    super();
    this.on("error", (e: { code: number }) => (this.failedWith = e.code));
  }

  write(_message: unknown, done: () => void): boolean {
    this.pending.push(done);
    return false;
  }

  end(): void {}

  drain(): void {
    for (const done of this.pending.splice(0)) done();
  }
}

const KIB = 1024;
const bounds = (queuedBytes: QueuedBytes) => ({
  maxStreamBufferMessages: 1000,
  maxStreamBufferBytes: 1024 * KIB,
  queuedBytes,
});

function stream(call: StalledCall, budget: QueuedBytes, closed: status[] = []): BoundedStream<string> {
  return new BoundedStream<string>(
    call as unknown as ServerWritableStream<unknown, string>,
    bounds(budget),
    "subscriber",
    (code) => closed.push(code),
  );
}

describe("the client port's byte budget over all streams", () => {
  it("cuts off the stream whose message would pass the budget, though every stream is under its own bound", () => {
    const budget = new QueuedBytes(256 * KIB);
    const calls = Array.from({ length: 4 }, () => new StalledCall());
    const streams = calls.map((call) => stream(call, budget));
    // 64 KiB to each of four streams fills the budget; each holds a sixteenth of its own 1 MiB bound.
    for (const s of streams) expect(s.push("m", 64 * KIB)).toBe(true);
    expect(budget.bytes).toBe(256 * KIB);
    expect(streams[0]!.push("one more", 1)).toBe(false);
    expect(calls[0]!.failedWith).toBe(status.RESOURCE_EXHAUSTED);
    expect(streams[0]!.isOpen).toBe(false);
    // The cut-off stream gave back what it held; the others go on.
    expect(budget.bytes).toBe(192 * KIB);
    expect(streams[1]!.push("m", 64 * KIB)).toBe(true);
    expect(budget.bytes).toBe(256 * KIB);
  });

  it("gives bytes back as clients read them, and once per stream when it ends with writes pending", () => {
    const budget = new QueuedBytes(128 * KIB);
    const reader = new StalledCall();
    const quitter = new StalledCall();
    const closed: status[] = [];
    const a = stream(reader, budget);
    const b = stream(quitter, budget, closed);
    expect(a.push("m", 64 * KIB)).toBe(true);
    expect(b.push("m", 64 * KIB)).toBe(true);
    reader.drain();
    expect(budget.bytes).toBe(64 * KIB);
    quitter.emit("cancelled");
    expect(closed).toEqual([status.CANCELLED]);
    expect(budget.bytes).toBe(0);
    // Writes of the dead stream that complete late do not give the same bytes back twice.
    quitter.drain();
    expect(budget.bytes).toBe(0);
    expect(a.push("m", 128 * KIB)).toBe(true);
  });
});
