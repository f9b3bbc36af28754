// What the key-value layer's messages cost in the simulator: each request and each answer is one message
// (a gRPC unary call is two), and its size is estimated from the protobuf fields it carries
// (proto/wendy/v1/kv_peer.proto): the sender's NodeInfo and framing, 16-byte keys and writer IDs, 8-byte
// counters, values. Counted per kind of work and per phase of a run.

/** Sender NodeInfo (ID, two addresses, region, incarnation), call metadata and framing, per message. */
export const MESSAGE_OVERHEAD_BYTES = 96;
/** A key in a Fetch request. */
export const KEY_BYTES = 18;
/** A version as a Replicate answer lists it: counter and writer. */
export const VERSION_BYTES = 28;
/** A record without its value: key, version, tombstone flag, framing. */
export const RECORD_HEADER_BYTES = 50;
/** One bucket hash of a digest. */
export const BUCKET_HASH_BYTES = 9;

export type KvWork = "write" | "re_replication" | "anti_entropy";

export interface TrafficCount {
  messages: number;
  bytes: number;
}

export class KvTraffic {
  private readonly byPhase = new Map<string, Map<KvWork, TrafficCount>>();
  private readonly nodeMs = new Map<string, number>();
  private current = "setup";

  get phase(): string {
    return this.current;
  }

  /** Counts from now on go to `phase`. */
  enter(phase: string): void {
    this.current = phase;
  }

  count(work: KvWork, bytes: number): void {
    let phase = this.byPhase.get(this.current);
    if (phase === undefined) this.byPhase.set(this.current, (phase = new Map()));
    let c = phase.get(work);
    if (c === undefined) phase.set(work, (c = { messages: 0, bytes: 0 }));
    c.messages++;
    c.bytes += bytes;
  }

  /** A ready node was up for `ms` of the current phase (the denominator of per-node rates). */
  nodeUp(ms: number): void {
    this.nodeMs.set(this.current, (this.nodeMs.get(this.current) ?? 0) + ms);
  }

  /** Messages and bytes per ready node per second in `phase`, by kind of work. */
  perNodePerSecond(phase: string): Record<KvWork | "total", TrafficCount> {
    const seconds = (this.nodeMs.get(phase) ?? 0) / 1000;
    const out: Record<KvWork | "total", TrafficCount> = {
      write: { messages: 0, bytes: 0 },
      re_replication: { messages: 0, bytes: 0 },
      anti_entropy: { messages: 0, bytes: 0 },
      total: { messages: 0, bytes: 0 },
    };
    if (seconds === 0) return out;
    for (const [work, c] of this.byPhase.get(phase) ?? []) {
      out[work] = { messages: c.messages / seconds, bytes: c.bytes / seconds };
      out.total.messages += c.messages / seconds;
      out.total.bytes += c.bytes / seconds;
    }
    return out;
  }
}
