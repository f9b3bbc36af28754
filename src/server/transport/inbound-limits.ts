// Limits on what a connection can make a gRPC server hold before any handler (and so any authentication)
// has run. grpc-js buffers a request message until its last byte arrives and bounds neither the bytes nor
// the time, so half-sent large requests from a client without credentials could fill the heap. This module
// watches the HTTP/2 streams of a grpc-js server and resets any that would take the buffered bytes of one
// connection, or of the whole server, past a budget, or that leave a message incomplete for too long; and
// closes connections that do not finish their TLS and HTTP/2 handshake in time. Streams per connection are
// bounded by grpc-js itself (grpc.max_concurrent_streams, sent to clients in the HTTP/2 SETTINGS).
import http2, { type Http2Session, type ServerHttp2Stream } from "node:http2";
import type { Socket } from "node:net";
import type { Server } from "@grpc/grpc-js";

export interface InboundLimits {
  /** Concurrent streams (calls) one connection may open. */
  readonly maxConcurrentStreams: number;
  /** Bytes of not yet complete request messages one connection may have buffered. */
  readonly maxBufferedBytesPerConnection: number;
  /** Bytes of not yet complete request messages all connections together may have buffered. */
  readonly maxBufferedBytes: number;
  /** A request message started but not complete after this long is reset. */
  readonly incompleteRequestTimeoutMs: number;
  /** A connection that has not finished its TLS and HTTP/2 handshake after this long is closed. */
  readonly handshakeTimeoutMs: number;
}

const MIB = 1024 * 1024;

/**
 * Defaults for a server whose largest accepted message is `maxMessageBytes`: room for a few at once. The
 * process holds about three times the counted bytes at the worst (node:http2 chunk buffers, garbage not yet
 * collected), so 32 MiB keeps a node under attack within the chart's 256 MiB memory limit.
 */
export function defaultInboundLimits(maxMessageBytes: number): InboundLimits {
  const perConnection = Math.max(16 * MIB, 2 * maxMessageBytes);
  return {
    maxConcurrentStreams: 1000,
    maxBufferedBytesPerConnection: perConnection,
    maxBufferedBytes: Math.max(32 * MIB, 2 * perConnection),
    incompleteRequestTimeoutMs: 10_000,
    handshakeTimeoutMs: 5_000,
  };
}

/** Throws a RangeError naming the limit that cannot work with messages of `maxMessageBytes`. */
export function checkInboundLimits(limits: InboundLimits, maxMessageBytes: number): void {
  const positive = [
    "maxConcurrentStreams",
    "maxBufferedBytesPerConnection",
    "maxBufferedBytes",
    "incompleteRequestTimeoutMs",
    "handshakeTimeoutMs",
  ] as const;
  for (const name of positive) {
    if (!Number.isSafeInteger(limits[name]) || limits[name] < 1)
      throw new RangeError(`${name} must be a positive integer`);
  }
  if (limits.maxBufferedBytesPerConnection < maxMessageBytes)
    throw new RangeError(
      `maxBufferedBytesPerConnection (${limits.maxBufferedBytesPerConnection}) must hold one whole message ` +
        `(${maxMessageBytes} bytes)`,
    );
  if (limits.maxBufferedBytes < limits.maxBufferedBytesPerConnection)
    throw new RangeError("maxBufferedBytes must be at least maxBufferedBytesPerConnection");
}

/** The grpc-js Server options that carry part of these limits. */
export function inboundServerOptions(limits: InboundLimits): Record<string, number> {
  return { "grpc.max_concurrent_streams": limits.maxConcurrentStreams };
}

export interface InboundGuardHooks {
  /** A stream was reset or a connection closed for breaking a limit. */
  onRefused?(limit: "buffered-bytes" | "incomplete-request" | "handshake"): void;
}

/** gRPC's length-prefixed message framing: 1 flag byte and a 4-byte big-endian length before each message. */
const PREFIX_BYTES = 5;

interface ConnectionUsage {
  buffered: number;
}

/**
 * Watches every HTTP/2 server a grpc-js Server has bound. Call `attach` after each bindAsync completes.
 * grpc-js keeps its HTTP/2 servers private; when a release changes that, attach throws rather than run
 * without the limits.
 */
export class InboundGuard {
  private buffered = 0;
  private readonly attached = new WeakSet<object>();
  private readonly connections = new WeakMap<Http2Session, ConnectionUsage>();

  constructor(
    private readonly limits: InboundLimits,
    private readonly hooks: InboundGuardHooks = {},
  ) {}

  /** Bytes of incomplete request messages held across all connections now. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  attach(server: Server): void {
    const servers = (server as unknown as { http2Servers?: unknown }).http2Servers;
    if (!(servers instanceof Map))
      throw new Error(
        "cannot enforce inbound limits: this grpc-js version does not expose its HTTP/2 servers",
      );
    for (const http2Server of servers.keys() as IterableIterator<http2.Http2Server>) {
      if (this.attached.has(http2Server)) continue;
      this.attached.add(http2Server);
      // Before node:http2's own listener, which creates the session (and emits "session") right away.
      http2Server.prependListener("connection", (socket: Socket) => this.watchHandshake(http2Server, socket));
      http2Server.on("stream", (stream: ServerHttp2Stream) => this.watchStream(stream));
    }
  }

  /**
   * The raw socket must reach an HTTP/2 session whose peer has sent its SETTINGS (TLS done, preface read)
   * within the deadline. TLS wraps the socket, so the session is matched by the remote address and port.
   */
  private watchHandshake(server: http2.Http2Server, socket: Socket): void {
    const key = `${socket.remoteAddress ?? ""}|${socket.remotePort ?? 0}`;
    // Once a session owns the socket, only destroying the session closes the connection.
    let session: Http2Session | undefined;
    const timer = setTimeout(() => {
      this.hooks.onRefused?.("handshake");
      if (session !== undefined) session.destroy();
      else socket.destroy();
    }, this.limits.handshakeTimeoutMs);
    timer.unref();
    const onSession = (created: Http2Session): void => {
      const s = created.socket;
      if (`${s.remoteAddress ?? ""}|${s.remotePort ?? 0}` !== key) return;
      server.off("session", onSession);
      session = created;
      created.once("remoteSettings", () => clearTimeout(timer));
    };
    server.on("session", onSession);
    socket.once("close", () => {
      clearTimeout(timer);
      server.off("session", onSession);
    });
  }

  private usageOf(session: Http2Session | undefined): ConnectionUsage {
    if (session === undefined) return { buffered: 0 };
    let usage = this.connections.get(session);
    if (usage === undefined) {
      usage = { buffered: 0 };
      this.connections.set(session, usage);
    }
    return usage;
  }

  private watchStream(stream: ServerHttp2Stream): void {
    const usage = this.usageOf(stream.session);
    // Bytes of the current message seen so far (prefix included) and its total size once the prefix is in.
    let seen = 0;
    const prefix = Buffer.alloc(PREFIX_BYTES);
    let messageBytes: number | undefined;
    let charged = 0;
    let timer: NodeJS.Timeout | undefined;

    const release = (): void => {
      this.buffered -= charged;
      usage.buffered -= charged;
      charged = 0;
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
    };
    const refuse = (limit: "buffered-bytes" | "incomplete-request"): void => {
      release();
      stream.off("data", onData);
      this.hooks.onRefused?.(limit);
      if (!stream.destroyed) stream.close(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
    };
    const onData = (chunk: Buffer): void => {
      let offset = 0;
      while (offset < chunk.length) {
        if (messageBytes === undefined) {
          // Until the prefix is in, `seen` counts its bytes.
          const take = Math.min(PREFIX_BYTES - seen, chunk.length - offset);
          chunk.copy(prefix, seen, offset, offset + take);
          offset += take;
          seen += take;
          if (seen === PREFIX_BYTES) messageBytes = PREFIX_BYTES + prefix.readUInt32BE(1);
        } else {
          const take = Math.min(messageBytes - seen, chunk.length - offset);
          offset += take;
          seen += take;
        }
        if (messageBytes !== undefined && seen >= messageBytes) {
          // Complete: grpc-js hands it to the handler now; the budget is free again.
          release();
          seen = 0;
          messageBytes = undefined;
        }
      }
      // Nothing incomplete: nothing held and no deadline. Most chunks end here, so a message that arrives
      // whole costs no timer.
      if (seen === 0) return;
      if (timer === undefined) {
        // The message's first bytes came in this chunk: its deadline counts from now.
        timer = setTimeout(() => refuse("incomplete-request"), this.limits.incompleteRequestTimeoutMs);
        timer.unref();
      }
      const more = seen - charged;
      if (more <= 0) return;
      if (
        usage.buffered + more > this.limits.maxBufferedBytesPerConnection ||
        this.buffered + more > this.limits.maxBufferedBytes
      )
        return refuse("buffered-bytes");
      charged += more;
      usage.buffered += more;
      this.buffered += more;
    };
    stream.on("data", onData);
    stream.once("close", release);
  }
}
