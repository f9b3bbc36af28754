// The local node's identity and addresses, as the embedding application describes it.
import { NodeId } from "../routing/id.js";
import type { NodeInfo } from "../routing/types.js";
import { InvalidArgumentError } from "./errors.js";

export interface NodeOptions {
  /** The node's ID; see `nodeIdFromBytes`, `NodeId.fromHex`, `NodeId.fromString`. */
  readonly id: NodeId;
  /** Host or IP that peers in the same region use to reach this node. */
  readonly localAddress: string;
  /** Host or IP that peers in other regions use; defaults to the local address. */
  readonly globalAddress?: string;
  /** Region name; proximity to peers in other regions is scaled by the region multiplier. */
  readonly region?: string;
  /** TCP port for node-to-node gRPC; 0 picks a free port, readable from `port` after listen. */
  readonly port?: number;
}

/** Builds a node ID from at least 16 bytes (the first 16 are used); fewer is an `InvalidNodeIdError`. */
export function nodeIdFromBytes(bytes: Uint8Array): NodeId {
  return NodeId.fromBytes(bytes);
}

/** Joins host and port, bracketing IPv6 literals. */
export function hostPort(host: string, port: number): string {
  return host.includes(":") && !host.startsWith("[") ? `[${host}]:${port}` : `${host}:${port}`;
}

export class Node {
  readonly id: NodeId;
  readonly localAddress: string;
  readonly globalAddress: string;
  readonly region: string;
  private boundPort: number;

  constructor(options: NodeOptions) {
    const port = options.port ?? 0;
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new InvalidArgumentError(`port must be an integer in 0..65535, got ${port}`);
    }
    if (!options.localAddress) throw new InvalidArgumentError("localAddress is required");
    this.id = options.id;
    this.localAddress = options.localAddress;
    this.globalAddress = options.globalAddress || options.localAddress;
    this.region = options.region ?? "";
    this.boundPort = port;
  }

  /** The peer port: the configured one, or the one picked after `listen()` when configured as 0. */
  get port(): number {
    return this.boundPort;
  }

  /** @internal Set by the cluster once the server is bound. */
  setBoundPort(port: number): void {
    this.boundPort = port;
  }

  /** This node as the overlay sees it. */
  info(incarnation: number): NodeInfo {
    return {
      id: this.id,
      localAddress: hostPort(this.localAddress, this.boundPort),
      globalAddress: hostPort(this.globalAddress, this.boundPort),
      region: this.region,
      incarnation,
    };
  }
}
