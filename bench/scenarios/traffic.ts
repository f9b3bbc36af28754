// Routed traffic through the client API: `Send` to keys owned by other nodes, timed from the send to the
// owner's subscriber receiving it; `Send` waiting for the application's acknowledgement, timed from the send
// to the sender's OK (the subscriber acknowledges each delivery as it settles it); and `Call` answered by the
// owner's subscriber. Subscribers (Receive, acknowledging) live in this process, so one clock times both ends.
import { randomBytes } from "node:crypto";
import { closestTo, NodeId } from "../../src/routing/id.js";
import type { ReceivedDelivery, ReceiveStream } from "../../src/client/index.js";
import type { BenchCluster, BenchNode } from "../lib/cluster.js";
import { runLoad, sleep } from "../lib/load.js";
import { maxRssBytes as maxRssBytesOf, totalCpuSeconds } from "../lib/proc.js";
import { summarizeLatencies, type LatencySummary } from "../lib/stats.js";
import type { BenchSettings } from "../lib/settings.js";

const PURPOSE = 4242;
const KEYS_PER_ENTRY = 64;
const LOST_AFTER_MS = 10_000;
const SUBSCRIBE_TIMEOUT_MS = 20_000;

export interface TrafficRun {
  readonly perSecond: number;
  readonly latency: LatencySummary;
  /** Daemon CPU seconds (all nodes together) per message or call. */
  readonly cpuSecondsPerOp: number;
  /** The harness process's CPU seconds (client calls and subscribers) per message or call. */
  readonly clientCpuSecondsPerOp: number;
  readonly meanHops: number;
  /** Operations that failed, were lost, or reached a node other than the key's owner. */
  readonly failed: number;
  readonly misdelivered: number;
  /** Largest daemon RSS at the end of the measured window. */
  readonly maxRssBytes: number;
  readonly latenciesMs: number[];
}

interface Pending {
  readonly started: number;
  readonly owner: BenchNode;
  readonly resolve: (latencyMs: number) => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
}

/** Subscribers on every node of a cluster; they settle pending sends and answer calls. */
/** The routed loads a profile measures: Send, Send waiting for the application's ack, or Call. */
export type RoutedKind = "send" | "send-acked" | "call";

/** --kind's parser for the profiles. */
export function routedKind(value: string): RoutedKind {
  if (value !== "send" && value !== "send-acked" && value !== "call")
    throw new Error(`--kind takes send, send-acked or call, not ${value}`);
  return value;
}

/** `traffic`'s measuring method for `kind`. */
export function measureOf(
  traffic: Traffic,
  kind: RoutedKind,
): (payloadBytes: number, inFlight: number, settings: BenchSettings) => Promise<TrafficRun> {
  return { send: traffic.measureSend, "send-acked": traffic.measureAckedSend, call: traffic.measureCall }[
    kind
  ].bind(traffic);
}

/** Settings for one window of `measureMs` on a cluster of `nodes` daemons (the profiles). */
export function oneWindowSettings(
  nodes: number,
  inFlight: number,
  payloadBytes: number,
  window: { readonly warmupMs: number; readonly measureMs: number },
  runtime: BenchSettings["runtime"] = "compiled",
): BenchSettings {
  return {
    ...window,
    repeats: 1,
    clusterSizes: [nodes],
    inFlights: [inFlight],
    payloadBytes: [payloadBytes],
    joinSizes: [],
    failureSizes: [],
    embeddedSizes: [],
    idleMs: 0,
    startBatch: 4,
    runtime,
  };
}

export class Traffic {
  private readonly pending = new Map<number, Pending>();
  private readonly streams = new Map<BenchNode, ReceiveStream>();
  private readonly keysByEntry = new Map<BenchNode, NodeId[]>();
  private nextSequence = 0;
  private hopsSum = 0;
  private hopsCount = 0;
  misdelivered = 0;

  constructor(private readonly cluster: BenchCluster) {}

  async open(): Promise<void> {
    await this.reopen();
  }

  /** Subscribes on nodes that joined since, and re-chooses keys for the current membership. */
  async reopen(): Promise<void> {
    for (const [node, stream] of this.streams) {
      if (this.cluster.nodes.includes(node)) continue;
      stream.close();
      this.streams.delete(node);
    }
    for (const node of this.cluster.nodes) {
      if (this.streams.has(node)) continue;
      const stream = node.client.receive([PURPOSE], { maxUnacknowledged: 1024 });
      this.streams.set(node, stream);
      void this.consume(node, stream);
    }
    await this.waitSubscribed();
    this.chooseKeys();
  }

  close(): void {
    for (const s of this.streams.values()) s.close();
    this.streams.clear();
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(new Error("traffic closed"));
    }
    this.pending.clear();
  }

  /** Keys are re-chosen after the membership changed (a node killed or joined). */
  chooseKeys(): void {
    this.keysByEntry.clear();
    const nodes = this.cluster.nodes;
    for (const entry of nodes) {
      const keys: NodeId[] = [];
      for (let attempt = 0; keys.length < KEYS_PER_ENTRY && attempt < KEYS_PER_ENTRY * 100; attempt++) {
        const key = NodeId.fromBytes(randomBytes(16));
        if (nodes.length === 1 || closestTo(key, nodes) !== entry) keys.push(key);
      }
      this.keysByEntry.set(entry, keys);
    }
  }

  async measureSend(payloadBytes: number, inFlight: number, settings: BenchSettings): Promise<TrafficRun> {
    let op = 0;
    return this.measure(settings, inFlight, () => {
      const { entry, key } = this.pick(op++);
      return this.sendOnce(entry, key, payloadBytes);
    });
  }

  /** Sends that wait for the owner's application to acknowledge; latency to the sender's OK. */
  async measureAckedSend(
    payloadBytes: number,
    inFlight: number,
    settings: BenchSettings,
  ): Promise<TrafficRun> {
    let op = 0;
    return this.measure(settings, inFlight, () => {
      const { entry, key } = this.pick(op++);
      return this.ackedSendOnce(entry, key, payloadBytes);
    });
  }

  /** One send that waits for the owner's application to acknowledge it; resolves with its latency in ms. */
  async ackedSendOnce(entry: BenchNode, key: NodeId, payloadBytes: number): Promise<number> {
    const payload = Buffer.alloc(Math.max(payloadBytes, 4), 6);
    // Above any sequence sendOnce uses: the subscriber acknowledges these without settling anything.
    payload.writeUInt32BE(0xffffffff, 0);
    const owner = closestTo(key, this.cluster.nodes)!;
    const started = performance.now();
    const result = await entry.client.send(key, PURPOSE, payload, {
      waitForAck: true,
      deadlineMs: LOST_AFTER_MS,
    });
    if (result.deliveredBy?.id.hex !== owner.id.hex) {
      this.misdelivered++;
      throw new Error("acknowledged by a node that does not own the key");
    }
    this.countHops(result.hops ?? 0);
    return performance.now() - started;
  }

  async measureCall(payloadBytes: number, inFlight: number, settings: BenchSettings): Promise<TrafficRun> {
    let op = 0;
    return this.measure(settings, inFlight, () => {
      const { entry, key } = this.pick(op++);
      return this.callOnce(entry, key, payloadBytes);
    });
  }

  /** One call answered by the owner's subscriber; resolves with its latency in ms. */
  async callOnce(entry: BenchNode, key: NodeId, payloadBytes: number): Promise<number> {
    const started = performance.now();
    const result = await entry.client.call(key, PURPOSE, Buffer.alloc(payloadBytes, 3), {
      deadlineMs: LOST_AFTER_MS,
    });
    if (result.answeredBy.id.hex !== closestTo(key, this.cluster.nodes)!.id.hex) {
      this.misdelivered++;
      throw new Error("answered by a node that does not own the key");
    }
    this.countHops(result.hops);
    return performance.now() - started;
  }

  /** Sends one message and resolves when the owner's subscriber has it (latency in ms). */
  sendOnce(entry: BenchNode, key: NodeId, payloadBytes: number): Promise<number> {
    const sequence = this.nextSequence++;
    const payload = Buffer.alloc(Math.max(payloadBytes, 4), 5);
    payload.writeUInt32BE(sequence, 0);
    const owner = closestTo(key, this.cluster.nodes)!;
    const started = performance.now();
    const delivered = new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(sequence);
        reject(new Error(`message ${sequence} not delivered within ${LOST_AFTER_MS} ms`));
      }, LOST_AFTER_MS);
      this.pending.set(sequence, { started, owner, resolve, reject, timer });
    });
    entry.client.send(key, PURPOSE, payload).catch((error: unknown) => {
      const p = this.pending.get(sequence);
      if (p === undefined) return;
      this.pending.delete(sequence);
      clearTimeout(p.timer);
      p.reject(error instanceof Error ? error : new Error(String(error)));
    });
    return delivered;
  }

  /** One of the keys chosen for `entry` (owned by another node), picked by `i`. */
  keyFor(entry: BenchNode, i: number): NodeId {
    const keys = this.keysByEntry.get(entry)!;
    return keys[i % keys.length]!;
  }

  get meanHops(): number {
    return this.hopsCount === 0 ? Number.NaN : this.hopsSum / this.hopsCount;
  }

  private pick(op: number): { entry: BenchNode; key: NodeId } {
    const nodes = this.cluster.nodes;
    const entry = nodes[op % nodes.length]!;
    const keys = this.keysByEntry.get(entry)!;
    return { entry, key: keys[Math.floor(Math.random() * keys.length)]! };
  }

  private async measure(
    settings: BenchSettings,
    inFlight: number,
    operation: () => Promise<number>,
  ): Promise<TrafficRun> {
    const pids = this.cluster.nodes.map((n) => n.pid);
    this.hopsSum = 0;
    this.hopsCount = 0;
    const misdeliveredBefore = this.misdelivered;
    let cpuAtStart = 0;
    let cpuUsed = 0;
    let maxRssBytes = 0;
    const load = await runLoad(operation, {
      inFlight,
      warmupMs: settings.warmupMs,
      measureMs: settings.measureMs,
      onWindow: (edge) => {
        if (edge === "start") {
          cpuAtStart = totalCpuSeconds(pids);
          // Hops are counted over the measured window only.
          this.hopsSum = 0;
          this.hopsCount = 0;
          return;
        }
        cpuUsed = totalCpuSeconds(pids) - cpuAtStart;
        maxRssBytes = maxRssBytesOf(pids);
      },
    });
    return {
      perSecond: load.perSecond,
      latency: summarizeLatencies(load.latenciesMs),
      cpuSecondsPerOp: load.completed === 0 ? Number.NaN : cpuUsed / load.completed,
      clientCpuSecondsPerOp: load.completed === 0 ? Number.NaN : load.generatorCpuSeconds / load.completed,
      meanHops: this.meanHops,
      failed: load.failed,
      misdelivered: this.misdelivered - misdeliveredBefore,
      maxRssBytes,
      latenciesMs: load.latenciesMs,
    };
  }

  private async consume(node: BenchNode, stream: ReceiveStream): Promise<void> {
    try {
      for await (const delivery of stream) {
        if (delivery.callId !== undefined) {
          // Answered on the subscriber's own stream, as the issue asks of the Call path.
          delivery.reply(delivery.payload);
          continue;
        }
        this.settle(node, delivery);
        delivery.ack();
      }
    } catch {
      // The node went away (killed on purpose) or the stream was closed: nothing more to deliver.
    }
  }

  private settle(node: BenchNode, delivery: ReceivedDelivery): void {
    if (delivery.payload.byteLength < 4) return;
    const sequence = Buffer.from(delivery.payload.buffer, delivery.payload.byteOffset, 4).readUInt32BE(0);
    const p = this.pending.get(sequence);
    if (p === undefined) return;
    this.pending.delete(sequence);
    clearTimeout(p.timer);
    this.countHops(delivery.hops);
    if (p.owner !== node) {
      this.misdelivered++;
      p.reject(new Error(`delivered by ${node.name}, owner is ${p.owner.name}`));
      return;
    }
    p.resolve(performance.now() - p.started);
  }

  private countHops(hops: number): void {
    this.hopsSum += hops;
    this.hopsCount++;
  }

  private async waitSubscribed(): Promise<void> {
    const deadline = performance.now() + SUBSCRIBE_TIMEOUT_MS;
    for (const node of this.cluster.nodes) {
      while ((await node.client.status()).subscriberCount < 1) {
        if (performance.now() > deadline) throw new Error(`${node.name}: subscriber not registered`);
        await sleep(20);
      }
    }
  }
}
