// The key-value store of one node: its store, coordinator, re-replication and anti-entropy, wired to the
// node's Cluster (its view of the ring, peer sessions) and served to peers on the peer port.
import type { Server } from "@grpc/grpc-js";
import { status } from "@grpc/grpc-js";
import type { NodeInfo } from "../../routing/types.js";
import type {
  CoordinateRequest,
  CoordinateResponse,
  DigestRequest,
  DigestResponse,
  FetchRequest,
  FetchResponse,
  ReplicateRequest,
  ReplicateResponse,
} from "../../gen/wendy/v1/kv_peer.js";
import { Placement } from "../../kv/placement.js";
import { kvReplication, type KvReplication } from "../../kv/replica-set.js";
import type { Cluster, PeerTransport } from "../cluster.js";
import { WendyError } from "../errors.js";
import { encodeNodeInfo } from "../../wire/codec.js";
import { WireFormatError } from "../../wire/errors.js";
import { decodeId } from "../../wire/validate.js";
import { KvAntiEntropy } from "./anti-entropy.js";
import { MAX_RECORDS_PER_REQUEST, answerFetch } from "./batches.js";
import { KvCoordinator, type KvOperation, type KvResult } from "./coordinator.js";
import {
  decodeOperation,
  decodeResult,
  encodeResult,
  operationOf,
  timeoutOf,
  type KvRequest,
} from "./operations.js";
import { addressFor, clusterOverlay, type KvOverlay } from "./overlay.js";
import { KvPeerClient, type KvPeers } from "./peer-client.js";
import { addKvPeerService, type KvPeerHandlers } from "./peer-service.js";
import { KvStreamReceivers } from "./peer-stream-server.js";
import { KvReplicator } from "./replicator.js";
import { KvTombstoneCollector } from "./tombstones.js";
import { KvDataDirError, LevelKvPersistence } from "./persistence.js";
import { DEFAULT_KV_STORE_LIMITS, KvStoreFullError, MemoryKvStore } from "./store.js";
import { decodeRecord, encodeVersion } from "./wire.js";

export interface KvOptions {
  /** k; default 3 (at most half the leaf set plus one). */
  readonly replicas?: number;
  /** W; default a majority of k. */
  readonly writeQuorum?: number;
  /** R; default a majority of k. */
  readonly readQuorum?: number;
  /** Records held at most; default 100000. */
  readonly maxKeys?: number;
  /** Bytes held at most; default 256 MiB. */
  readonly maxBytes?: number;
  /** Keys re-replication checks per second at most; default 2000. */
  readonly repairKeysPerSecond?: number;
  /** Anti-entropy round interval; default 1000 ms. */
  readonly antiEntropyIntervalMs?: number;
  /** Versions listed and records moved per anti-entropy round at most; default 512. */
  readonly antiEntropyMaxRecords?: number;
  /** After R answers, how long a read waits for the other replicas; default 50 ms. */
  readonly readSettleMs?: number;
  /**
   * How long after a leaf-set change reads keep that wait; later, a read answers at R. Default
   * DEFAULT_READ_SETTLE_AFTER_CHANGE_MS, or twice the time re-replication takes to check every key held
   * at repairKeysPerSecond when that is longer.
   */
  readonly readSettleAfterChangeMs?: number;
  /** Timeout of one call to a replica; default 2000 ms. */
  readonly replicaTimeoutMs?: number;
  /** How long a deletion's tombstone is kept at least (tombstones.ts); default 3600000 ms. */
  readonly tombstoneGraceMs?: number;
  /** A directory for a persistent copy of the records (LevelDB); default none: in memory only. */
  readonly dataDir?: string | undefined;
}

/** What the store has done, for metrics and tests. */
export interface KvStats {
  readonly keys: number;
  readonly bytes: number;
  /** Keys waiting for a re-replication check: the replication lag, in keys. */
  readonly repairBacklog: number;
  readonly repairs: Readonly<Record<KvRepairKind, number>>;
  /** Tombstones held (included in keys). */
  readonly tombstones: number;
  /** Tombstones removed after their grace. */
  readonly tombstonesRemoved: number;
}

export type KvRepairKind = "read_repair" | "re_replication" | "handoff" | "anti_entropy";

/**
 * Reads wait for every replica (up to readSettleMs) this long after this node's leaf set changed: time for
 * the other nodes to notice the change too (a failure is noticed within a few seconds) and to re-replicate.
 */
export const DEFAULT_READ_SETTLE_AFTER_CHANGE_MS = 15_000;

export class KvNode {
  readonly replication: KvReplication;
  readonly store: MemoryKvStore;
  private readonly overlay: KvOverlay;
  private readonly options: KvOptions;
  private readonly repairs: Record<KvRepairKind, number> = {
    read_repair: 0,
    re_replication: 0,
    handoff: 0,
    anti_entropy: 0,
  };
  private transport: PeerTransport | undefined;
  private peers: KvPeers | undefined;
  private placement: Placement | undefined;
  private coordinator: KvCoordinator | undefined;
  private replicator: KvReplicator | undefined;
  private antiEntropy: KvAntiEntropy | undefined;
  private tombstones: KvTombstoneCollector | undefined;
  private tombstonesRemoved = 0;
  private stopped = false;
  /** Peers' incoming KvStreams, ended when the node stops. */
  private streams: KvStreamReceivers | undefined;
  /** Records read back from the data directory when the node opened. */
  private restoredCount = 0;
  /** When the replica candidates were last seen to change (or the store started): reads settle after it. */
  private changedAt = performance.now();
  private viewEpoch: number | undefined;

  /**
   * A store in memory only; KvNode.open makes one with options.dataDir (it passes `persistence`, the
   * opened directory), since opening it is asynchronous.
   */
  constructor(
    private readonly cluster: Cluster,
    options: KvOptions = {},
    private readonly persistence?: LevelKvPersistence,
  ) {
    if (options.dataDir !== undefined && persistence === undefined)
      throw new RangeError("a KvNode with a data directory is made by KvNode.open, which reads it back");
    this.options = options;
    this.overlay = clusterOverlay(cluster);
    this.replication = kvReplication(cluster.peerTransport().leafSetSize, options);
    this.store = new MemoryKvStore(
      {
        maxKeys: options.maxKeys ?? DEFAULT_KV_STORE_LIMITS.maxKeys,
        maxBytes: options.maxBytes ?? DEFAULT_KV_STORE_LIMITS.maxBytes,
      },
      persistence,
    );
  }

  /**
   * The store, with its records read back from options.dataDir when one is set (before the node serves
   * anything, so a restarted node holds what it held before any repair). A data directory that cannot be
   * opened (locked by another process, corrupt) or holds more than the bounds allow is a KvDataDirError.
   */
  static async open(cluster: Cluster, options: KvOptions = {}): Promise<KvNode> {
    if (options.dataDir === undefined) return new KvNode(cluster, options);
    const persistence = await LevelKvPersistence.open(options.dataDir);
    const kv = new KvNode(cluster, options, persistence);
    try {
      for await (const record of persistence.records(cluster.peerTransport().maxPayloadBytes)) {
        kv.store.restore(record);
        kv.restoredCount++;
      }
      kv.store.restoreVersionFloor(await persistence.versionFloor());
    } catch (error) {
      await persistence.close();
      if (error instanceof KvStoreFullError)
        throw new KvDataDirError(
          `the key-value data directory ${options.dataDir} holds more than this node's bounds allow (${error.message}); raise WENDY_KV_MAX_KEYS / WENDY_KV_MAX_BYTES`,
        );
      throw error;
    }
    return kv;
  }

  /** Records read back from the data directory at open (0 without one). */
  get restored(): number {
    return this.restoredCount;
  }

  /** Serves KvPeerService on the node's peer port (pass to ClusterOptions.configureServer). */
  addPeerServiceTo(server: Server): void {
    const transport = this.cluster.peerTransport();
    const calls = {
      verifier: transport.auth.verifier,
      ...(transport.checkSender === undefined ? {} : { checkSender: transport.checkSender }),
      handlers: () => (this.stopped ? undefined : this.handlers),
    };
    const streams = new KvStreamReceivers({
      ...calls,
      maxResponseBytes: Math.floor(transport.maxMessageBytes / 2),
    });
    this.streams = streams;
    addKvPeerService(server, { ...calls, stream: streams.handler });
  }

  /**
   * Ends peers' open KvStreams (pass to ClusterOptions.onPeerPortClosing): they never end by themselves, and
   * the peer port's graceful close waits for open calls. Also done by stop().
   */
  endPeerStreams(): void {
    this.streams?.endAll();
  }

  /** Starts the store's background work; call once the cluster listens. */
  start(): void {
    const transport = this.cluster.peerTransport();
    this.transport = transport;
    const peers = new KvPeerClient(transport, (peer) => addressFor(this.overlay.self(), peer));
    this.peers = peers;
    const placement = new Placement(() => this.overlay.replicaCandidates(), this.replication.replicas);
    this.placement = placement;
    const replicaTimeoutMs = this.options.replicaTimeoutMs ?? 2000;
    const maxBatchBytes = Math.floor(transport.maxMessageBytes / 2);
    const replicator = new KvReplicator(
      this.overlay,
      this.store,
      peers,
      placement,
      {
        keysPerSecond: this.options.repairKeysPerSecond ?? 2000,
        tickMs: 100,
        fullPassMs: 30_000,
        replicaTimeoutMs,
        maxBatchBytes,
      },
      { repaired: (kind, n) => (this.repairs[kind] += n) },
    );
    this.replicator = replicator;
    this.coordinator = new KvCoordinator(
      this.overlay,
      this.store,
      peers,
      {
        replication: this.replication,
        readSettleMs: this.options.readSettleMs ?? 50,
        neighbourhoodSettled: () => this.neighbourhoodSettled(),
        replicaTimeoutMs,
        maxBatchBytes,
      },
      {
        written: (record, set, everywhere) => replicator.written(record, set, everywhere),
        readRepaired: (n) => (this.repairs.read_repair += n),
      },
    );
    this.antiEntropy = new KvAntiEntropy(
      this.overlay,
      this.store,
      peers,
      placement,
      {
        intervalMs: this.options.antiEntropyIntervalMs ?? 1000,
        maxRecords: this.options.antiEntropyMaxRecords ?? 512,
        replicaTimeoutMs,
        maxBatchBytes,
        replicas: this.replication.replicas,
      },
      {
        repaired: (n) => (this.repairs.anti_entropy += n),
        received: (record) => replicator.received(record.key.hex),
      },
    );
    const graceMs = this.options.tombstoneGraceMs ?? 3_600_000;
    this.tombstones = new KvTombstoneCollector(
      this.overlay,
      this.store,
      peers,
      placement,
      {
        graceMs,
        intervalMs: Math.min(60_000, Math.max(100, Math.floor(graceMs / 4))),
        maxPerRound: 512,
        replicaTimeoutMs,
      },
      { removed: (n) => (this.tombstonesRemoved += n) },
    );
    replicator.start();
    this.antiEntropy.start();
    this.tombstones.start();
  }

  stop(): void {
    this.stopped = true;
    this.replicator?.stop();
    this.antiEntropy?.stop();
    this.tombstones?.stop();
    this.peers?.close();
    this.streams?.endAll();
  }

  /** Stops, then writes what is queued to the data directory and closes it. */
  async close(): Promise<void> {
    this.stop();
    await this.persistence?.close();
  }

  stats(): KvStats {
    return {
      keys: this.store.size,
      bytes: this.store.bytes,
      repairBacklog: this.replicator?.backlog ?? 0,
      repairs: { ...this.repairs },
      tombstones: this.store.tombstoneCount,
      tombstonesRemoved: this.tombstonesRemoved,
    };
  }

  /** Runs a client's request (from the client port) at the key's owner. */
  async execute(request: KvRequest, hops = 0): Promise<KvResult> {
    const op = decodeOperation(request, this.maxValueBytes());
    return this.run(op, timeoutOf(request), hops);
  }

  /** Runs an operation given in the library's own terms. */
  run(op: KvOperation, timeoutMs: number, hops = 0): Promise<KvResult> {
    const coordinator = this.coordinator;
    if (coordinator === undefined || this.stopped)
      return Promise.reject(new WendyError("the key-value store is not running", status.UNAVAILABLE));
    return coordinator.execute(op, timeoutMs, hops, (owner, nextHops, left) =>
      this.forward(op, owner, nextHops, left),
    );
  }

  /** Runs background work once now (tests): a re-replication step and an anti-entropy round. */
  async repairOnce(): Promise<void> {
    await this.replicator?.step();
    await this.antiEntropy?.round();
  }

  /** Bytes of records one answer carries at most, so that it fits a gRPC message with room to spare. */
  private maxAnswerBytes(): number {
    return Math.floor((this.transport ?? this.cluster.peerTransport()).maxMessageBytes / 2);
  }

  /** Runs a tombstone-removal round now (tests); returns the tombstones removed. */
  async collectTombstonesOnce(): Promise<number> {
    return (await this.tombstones?.round()) ?? 0;
  }

  private maxValueBytes(): number {
    return (this.transport ?? this.cluster.peerTransport()).maxPayloadBytes;
  }

  /**
   * Whether the replica candidates (leaf set, suspects) have been unchanged long enough for re-replication
   * to have brought every key to its replicas (paced at repairKeysPerSecond; twice that time, and at least
   * the window, for margin).
   */
  private neighbourhoodSettled(): boolean {
    this.noteViewChanges();
    const paced = (2000 * this.store.size) / (this.options.repairKeysPerSecond ?? 2000);
    const window = Math.max(
      this.options.readSettleAfterChangeMs ?? DEFAULT_READ_SETTLE_AFTER_CHANGE_MS,
      paced,
    );
    // This node's own re-replication checks are done too (others' are not known here: the coordinator
    // also wants the replicas' answers to agree, see KvCoordinator.read).
    return performance.now() - this.changedAt >= window && (this.replicator?.backlog ?? 1) === 0;
  }

  /**
   * Restarts the settle window when the replica candidates changed (leaf set or suspects) since last
   * asked; asked at least on every read and write, so a change is seen at the latest by the next one.
   */
  private noteViewChanges(): void {
    const epoch = this.placement?.currentEpoch;
    if (epoch === this.viewEpoch) return;
    this.viewEpoch = epoch;
    this.changedAt = performance.now();
  }

  private async forward(
    op: KvOperation,
    owner: NodeInfo,
    hops: number,
    timeoutMs: number,
  ): Promise<KvResult> {
    const peers = this.peers;
    if (peers === undefined) throw new WendyError("the key-value store is not running", status.UNAVAILABLE);
    const request: CoordinateRequest = {
      sender: encodeNodeInfo(this.overlay.self()),
      hops,
      operation: wireOperation(op, timeoutMs),
    };
    const response = await peers.coordinate(owner, request, timeoutMs + 250);
    return decodeResult(op, response);
  }

  private readonly handlers: KvPeerHandlers = {
    coordinate: async (_sender: NodeInfo, request: CoordinateRequest): Promise<CoordinateResponse> => {
      const kvRequest = operationOf(request);
      const op = decodeOperation(kvRequest, this.maxValueBytes());
      const result = await this.run(op, timeoutOf(kvRequest), request.hops);
      return encodeResult(op.kind, result);
    },
    replicate: async (_sender: NodeInfo, request: ReplicateRequest): Promise<ReplicateResponse> => {
      if (request.records.length > MAX_RECORDS_PER_REQUEST)
        throw new WireFormatError(
          "records",
          `at most ${MAX_RECORDS_PER_REQUEST}, got ${request.records.length}`,
        );
      const records = request.records.map((r, i) => decodeRecord(r, `records[${i}]`, this.maxValueBytes()));
      const held = records.map((record) => {
        const kept = this.store.apply(record);
        if (this.store.get(record.key) === record) this.replicator?.received(record.key.hex);
        return encodeVersion(kept.version);
      });
      // Acknowledged only once on disk, when the store has a persistent copy.
      await this.store.flushed();
      return { held };
    },
    fetch: (_sender: NodeInfo, request: FetchRequest): FetchResponse => {
      if (request.keys.length < 1 || request.keys.length > MAX_RECORDS_PER_REQUEST)
        throw new WireFormatError("keys", `1..${MAX_RECORDS_PER_REQUEST} keys, got ${request.keys.length}`);
      const held = request.keys
        .map((k, i) => this.store.get(decodeId(k, `keys[${i}]`)))
        .filter((r) => r !== undefined);
      return answerFetch(held, request.versionsOnly, this.maxAnswerBytes());
    },
    digest: (sender: NodeInfo, request: DigestRequest): DigestResponse => {
      const antiEntropy = this.antiEntropy;
      if (antiEntropy === undefined) throw new WendyError("not started", status.UNAVAILABLE);
      return antiEntropy.answer(sender, request);
    },
  };
}

/** The operation as the request a client would have sent, with what is left of its time. */
function wireOperation(op: KvOperation, timeoutMs: number): KvRequest {
  const key = { kind: { $case: "id" as const, id: Buffer.from(op.key.hex, "hex") } };
  const timeout = Math.max(1, Math.floor(timeoutMs));
  const precondition =
    op.kind === "get" || op.precondition === undefined
      ? undefined
      : op.precondition.kind === "absent"
        ? { kind: { $case: "ifAbsent" as const, ifAbsent: true } }
        : { kind: { $case: "ifVersion" as const, ifVersion: encodeVersion(op.precondition.version) } };
  switch (op.kind) {
    case "put":
      return {
        $case: "put",
        put: {
          key,
          value: Buffer.from(op.value.buffer, op.value.byteOffset, op.value.byteLength),
          precondition,
          timeoutMs: timeout,
        },
      };
    case "get":
      return { $case: "get", get: { key, timeoutMs: timeout } };
    case "delete":
      return { $case: "delete", delete: { key, precondition, timeoutMs: timeout } };
  }
}
