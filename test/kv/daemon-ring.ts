// Real `wendy start` daemons on 127.0.0.1 for the key-value store's tests (each start binds port 0 and reads
// the ports back from the daemon's "started" line, so no port chosen earlier can have been taken since; a
// restarted node comes back under its name and ID at new addresses), and an inspector that asks a node's KvPeerService, with the cluster's secret, which
// version of a key it holds: how the tests check every replica, not just what a quorum read answers.
import { NodeId, isCloser } from "../../src/routing/id.js";
import type { NodeInfo } from "../../src/routing/types.js";
import { PassphraseCredentials } from "../../src/server/auth/credentials.js";
import { peerChannelSecurity } from "../../src/server/auth/tls.js";
import { LOG_READY, LOG_STARTED } from "../../src/server/daemon/daemon.js";
import { DaemonProcess, type LogLine } from "../../src/server/daemon/demo/daemon-process.js";
import { KvPeerClient } from "../../src/server/kv/peer-client.js";
import { decodeRecord, idBytes } from "../../src/server/kv/wire.js";
import type { KvRecord } from "../../src/kv/record.js";
import { callAuthFor } from "../../src/server/transport/call-auth.js";
import { PeerClientPool } from "../../src/server/transport/peer-client.js";
import { encodeNodeInfo } from "../../src/wire/codec.js";

export interface RingNode {
  readonly index: number;
  readonly name: string;
  readonly id: NodeId;
  /** host:port of the current (or last) start; empty before the first. */
  peer: string;
  client: string;
  process: DaemonProcess | undefined;
}

export class DaemonRing {
  readonly nodes: RingNode[] = [];

  private constructor(
    private readonly secret: string,
    private readonly env: Readonly<Record<string, string>>,
  ) {}

  /** `size` node slots; none started yet. */
  static create(size: number, secret: string, env: Readonly<Record<string, string>> = {}): DaemonRing {
    const ring = new DaemonRing(secret, env);
    for (let i = 0; i < size; i++) {
      const name = `kv-${i}`;
      ring.nodes.push({
        index: i,
        name,
        id: NodeId.fromString(name),
        peer: "",
        client: "",
        process: undefined,
      });
    }
    return ring;
  }

  /**
   * Starts node `i` (again, after a kill or stop; `env` adds to the ring's variables for this start) and
   * resolves once it has joined, through up to three live nodes (none: it founds the ring).
   */
  async start(i: number, env: Readonly<Record<string, string>> = {}): Promise<RingNode> {
    this.spawn(i, env);
    return this.ready(i);
  }

  /** Waits for node `i`, spawned, to have bound (its addresses are then known) and joined. */
  async ready(i: number): Promise<RingNode> {
    const node = this.nodes[i]!;
    const process = node.process;
    if (process === undefined) throw new Error(`${node.name} was not spawned`);
    const started = await process.waitForLine((l) => l.msg === LOG_STARTED, 180_000, "started");
    node.peer = `127.0.0.1:${portOf(started, "peerPort")}`;
    node.client = `127.0.0.1:${portOf(started, "clientPort")}`;
    await process.waitForLine((l) => l.msg === LOG_READY, 180_000, "ready");
    return node;
  }

  /** Spawns node `i` without waiting for it (a test that expects it to fail awaits its exit). */
  spawn(i: number, env: Readonly<Record<string, string>> = {}): DaemonProcess {
    const node = this.nodes[i]!;
    const seeds = this.live()
      .filter((n) => n !== node)
      .slice(0, 3)
      .map((n) => n.peer);
    // Its addresses are known again once it has bound.
    node.peer = "";
    node.client = "";
    const process = new DaemonProcess({
      name: node.name,
      env: {
        WENDY_NODE_NAME: node.name,
        WENDY_BIND_HOST: "127.0.0.1",
        WENDY_PORT: "0",
        WENDY_CLIENT_PORT: "0",
        WENDY_METRICS_HOST: "127.0.0.1",
        WENDY_METRICS_PORT: "0",
        WENDY_JOIN: seeds.join(","),
        WENDY_SECRET: this.secret,
        WENDY_SHUTDOWN_GRACE_MS: "5000",
        ...this.env,
        ...env,
      },
    });
    node.process = process;
    return process;
  }

  /** SIGKILL: gone without a word. */
  async kill(i: number): Promise<void> {
    const p = this.nodes[i]!.process;
    if (p === undefined) return;
    p.signal("SIGKILL");
    await p.exited;
    this.nodes[i]!.process = undefined;
  }

  /** SIGTERM: a graceful leave. */
  async stop(i: number): Promise<void> {
    const p = this.nodes[i]!.process;
    if (p === undefined) return;
    p.signal("SIGTERM");
    await p.exited;
    this.nodes[i]!.process = undefined;
  }

  /** Nodes started and not killed or stopped, with their addresses known. */
  live(): RingNode[] {
    return this.nodes.filter((n) => n.process !== undefined && n.peer !== "");
  }

  /** The k live nodes closest to `key` (the replica set a settled ring must have). */
  replicasOf(key: NodeId, k: number): RingNode[] {
    return [...this.live()]
      .sort((a, b) => (isCloser(key, a.id, b.id) ? -1 : isCloser(key, b.id, a.id) ? 1 : 0))
      .slice(0, k);
  }

  async closeAll(): Promise<void> {
    for (const n of this.nodes) n.process?.signal("SIGKILL");
    await Promise.all(this.nodes.map((n) => n.process?.exited));
    for (const n of this.nodes) n.process = undefined;
  }

  /** Reads what each node holds, through its KvPeerService (authenticated with the cluster's secret). */
  inspector(): KvInspector {
    return new KvInspector(this.secret);
  }
}

export class KvInspector {
  private readonly pool: PeerClientPool;
  private readonly peers: KvPeerClient;
  private readonly self: NodeInfo = {
    id: NodeId.fromString("kv-test-inspector"),
    localAddress: "127.0.0.1:9",
    globalAddress: "127.0.0.1:9",
    region: "",
    incarnation: 1,
  };

  constructor(secret: string) {
    const channelSecurity = peerChannelSecurity({ enabled: false });
    this.pool = new PeerClientPool({
      channelSecurity,
      rpcTimeoutMs: 5000,
      maxMessageBytes: 8 * 1024 * 1024,
      maxInFlightPerPeer: 1024,
      maxConnections: 64,
      now: () => performance.now(),
    });
    const auth = callAuthFor(
      new PassphraseCredentials(secret),
      (address, challenge) => this.pool.hello(address, this.self, challenge),
      () => performance.now(),
    );
    this.pool.useSigner(auth.signer);
    this.peers = new KvPeerClient(
      {
        auth,
        channelSecurity,
        maxMessageBytes: 8 * 1024 * 1024,
        maxPayloadBytes: 4 * 1024 * 1024,
        leafSetSize: 32,
      },
      (peer) => peer.localAddress,
    );
  }

  /** The records `node` holds for `keys` (at most 512 at a time), by key hex. */
  async held(node: RingNode, keys: readonly NodeId[]): Promise<Map<string, KvRecord>> {
    const out = new Map<string, KvRecord>();
    for (let i = 0; i < keys.length; i += 512) {
      const response = await this.peers.fetch(
        { ...this.self, id: node.id, localAddress: node.peer, globalAddress: node.peer },
        { sender: encodeNodeInfo(this.self), keys: keys.slice(i, i + 512).map(idBytes), versionsOnly: false },
        10_000,
      );
      response.records.forEach((r, j) => {
        const record = decodeRecord(r, `records[${j}]`, Number.MAX_SAFE_INTEGER);
        out.set(record.key.hex, record);
      });
    }
    return out;
  }

  close(): void {
    this.peers.close();
    this.pool.close();
  }
}

/** A port the daemon logged on its "started" line. */
function portOf(line: LogLine, field: "peerPort" | "clientPort"): number {
  const port = line[field];
  if (typeof port !== "number" || port <= 0)
    throw new Error(`the started line has no ${field}: ${JSON.stringify(line)}`);
  return port;
}
