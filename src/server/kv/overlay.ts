// What the key-value store needs of its node: who it is, whether it has joined, and its view of the ring.
import type { NodeId } from "../../routing/id.js";
import type { NodeInfo } from "../../routing/types.js";
import type { Cluster } from "../cluster.js";

export interface KvOverlay {
  self(): NodeInfo;
  /** Joined with a confirmed leaf set. */
  ready(): boolean;
  /** The node this node believes closest to the key (itself included). */
  owner(key: NodeId): NodeInfo;
  /** The k live nodes closest to the key among this node and its leaf set, closest first. */
  replicas(key: NodeId, k: number): NodeInfo[];
  /** What replica sets are chosen from: this node and its live leaf set; a new array when they change. */
  replicaCandidates(): readonly NodeInfo[];
  /** Leaf-set members, nearest first on each side. */
  leafSet(): { left: NodeInfo[]; right: NodeInfo[] };
}

export function clusterOverlay(cluster: Cluster): KvOverlay {
  return {
    self: () => cluster.info(),
    ready: () => cluster.ready,
    owner: (key) => cluster.owner(key),
    replicas: (key, k) => cluster.replicas(key, k),
    replicaCandidates: () => cluster.replicaCandidates(),
    leafSet: () => cluster.leafSet(),
  };
}

/** The address to dial: the local one in the same region, the global one elsewhere (as routing does). */
export function addressFor(self: NodeInfo, peer: NodeInfo): string {
  return peer.region === self.region ? peer.localAddress : peer.globalAddress;
}
