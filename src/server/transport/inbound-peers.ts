// Incoming connections as a liveness signal. A node's successor heartbeats to it over a connection the
// successor opened, so the node that watches a peer most closely often holds no connection of its own to it:
// when that peer's process dies (kill -9, OOM, a crash), the kernel closes its sockets and the only sign is
// this incoming connection ending without an HTTP/2 GOAWAY. Reported at once, the node probes the peer (a
// refused probe finds it dead within a fraction of a second) instead of waiting out the failure timeout.
// A connection that ends after a GOAWAY (a graceful stop, an idle client) is not reported; one that ends
// for any other reason costs one probe, which a live peer answers.
import type { Http2Session, Http2Server } from "node:http2";
import type { Server } from "@grpc/grpc-js";
import type { NodeInfo } from "../../routing/types.js";

/** The remote end of a connection as grpc-js reports it (`call.getPeer()`): "address:port". */
function remoteOf(session: Http2Session): string | undefined {
  const socket = session.socket as { remoteAddress?: string; remotePort?: number } | undefined;
  if (socket?.remoteAddress === undefined) return undefined;
  return `${socket.remoteAddress}:${socket.remotePort ?? 0}`;
}

/** Connections that stay open with no authenticated peer call are not remembered beyond this many. */
const MAX_CONNECTIONS = 4_096;

export class InboundPeers {
  /** Remote "address:port" of an open incoming connection -> the peer its last authenticated call came from. */
  private readonly senders = new Map<string, NodeInfo>();
  private readonly attached = new WeakSet<object>();

  constructor(private readonly onLost: (peer: NodeInfo) => void) {}

  /** An authenticated peer call from `sender` arrived over the connection whose remote end is `remote`. */
  note(remote: string, sender: NodeInfo): void {
    const known = this.senders.get(remote);
    if (known === sender) return;
    if (known === undefined && this.senders.size >= MAX_CONNECTIONS) return;
    this.senders.set(remote, sender);
  }

  /** Watches the HTTP/2 servers `server` has bound (call after bindAsync, as InboundGuard.attach). */
  attach(server: Server): void {
    const servers = (server as unknown as { http2Servers?: unknown }).http2Servers;
    if (!(servers instanceof Map))
      throw new Error(
        "cannot watch incoming connections: this grpc-js version does not expose its HTTP/2 servers",
      );
    for (const http2Server of servers.keys() as IterableIterator<Http2Server>) {
      if (this.attached.has(http2Server)) continue;
      this.attached.add(http2Server);
      http2Server.on("session", (session: Http2Session) => this.watch(session));
    }
  }

  private watch(session: Http2Session): void {
    const remote = remoteOf(session);
    if (remote === undefined) return;
    let goaway = false;
    session.once("goaway", () => (goaway = true));
    session.once("close", () => {
      const sender = this.senders.get(remote);
      this.senders.delete(remote);
      if (sender !== undefined && !goaway) this.onLost(sender);
    });
  }
}
