// An insider for attack tests: a process holding the cluster secret and a valid certificate of its own,
// running Wendy's own transport (sessions, signed calls, mutual TLS) but saying what it likes: it sends
// whatever claims it chooses, and its peer server answers every call with OK and swallows what it gets.
import { Server } from "@grpc/grpc-js";
import type { NodeInfo, Outbound, PeerMessage } from "../../../src/routing/types.js";
import { PassphraseCredentials } from "../../../src/server/auth/credentials.js";
import {
  peerChannelSecurity,
  peerServerCredentials,
  type PeerTlsConfig,
} from "../../../src/server/auth/tls.js";
import { callAuthFor } from "../../../src/server/transport/call-auth.js";
import { PeerClientPool } from "../../../src/server/transport/peer-client.js";
import { addPeerService } from "../../../src/server/transport/peer-server.js";
import { DEFAULT_WIRE_LIMITS } from "../../../src/wire/limits.js";

const now = (): number => performance.now();

export interface InsiderOptions {
  readonly secret: string;
  /** Its own certificate: mutual TLS, but no identity checks of its own (it checks nobody). */
  readonly tls: PeerTlsConfig;
  /** Called with every message its server accepted (after answering OK). */
  readonly onMessage?: (sender: NodeInfo, message: PeerMessage) => void;
}

export class Insider {
  private readonly pool: PeerClientPool;
  private readonly server = new Server();
  /** The port its peer server listens on (127.0.0.1), after start. */
  port = 0;
  self: NodeInfo | undefined;

  constructor(private readonly options: InsiderOptions) {
    const credentials = new PassphraseCredentials(options.secret, { N: 1024, r: 8, p: 1 });
    this.pool = new PeerClientPool({
      channelSecurity: peerChannelSecurity(options.tls),
      rpcTimeoutMs: 5000,
      maxMessageBytes: 8 * 1024 * 1024,
      maxInFlightPerPeer: 100,
      maxConnections: 20,
      now,
      routeStreaming: false,
    });
    const auth = callAuthFor(
      credentials,
      (address, challenge) => this.pool.hello(address, this.claim(), challenge),
      now,
    );
    this.pool.useSigner(auth.signer);
    addPeerService(this.server, {
      verifier: auth.verifier,
      limits: DEFAULT_WIRE_LIMITS,
      sink: (sender, message) => this.options.onMessage?.(sender, message),
    });
  }

  /** Listens on 127.0.0.1; `self` is the honest claim for the node its certificate names. */
  async start(self: (port: number) => NodeInfo): Promise<void> {
    this.port = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync("127.0.0.1:0", peerServerCredentials(this.options.tls), (e, p) =>
        e ? reject(e) : resolve(p),
      ),
    );
    this.self = self(this.port);
  }

  /** Sends `message` to `address` claiming to be `as` (by default, itself). */
  send(address: string, message: PeerMessage, as: NodeInfo = this.claim()): Promise<number> {
    const out: Outbound = { to: undefined, address, message };
    return this.pool.send(as, out);
  }

  close(): void {
    this.pool.close();
    this.server.forceShutdown();
  }

  private claim(): NodeInfo {
    if (this.self === undefined) throw new Error("Insider used before start");
    return this.self;
  }
}
