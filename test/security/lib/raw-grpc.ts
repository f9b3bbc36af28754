// gRPC calls made by hand over node:http2, for attacks grpc-js clients will not make: a chosen source
// address (127.0.0.x), request messages left half-sent, connections that never finish their handshake.
import http2, { type ClientHttp2Session, type ClientHttp2Stream } from "node:http2";
import { connect } from "node:net";

/** An HTTP/2 connection to `address` ("host:port") from `localAddress`. */
export function openSession(address: string, localAddress = "127.0.0.1"): Promise<ClientHttp2Session> {
  const [host, port] = address.split(":");
  const session = http2.connect(`http://${address}`, {
    createConnection: () => connect({ host, port: Number(port), localAddress }),
  });
  return new Promise((resolve, reject) => {
    session.once("remoteSettings", () => resolve(session));
    session.once("error", reject);
    // A server that ends the connection (as some tests make it) is an outcome, not a crash.
    session.on("error", () => undefined);
  });
}

/** A gRPC message frame: flag 0, big-endian length, the bytes. */
export function frame(message: Buffer, declaredLength = message.length): Buffer {
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(declaredLength, 1);
  return Buffer.concat([prefix, message]);
}

export function openStream(session: ClientHttp2Session, path: string): ClientHttp2Stream {
  return session.request({
    ":method": "POST",
    ":path": path,
    "content-type": "application/grpc",
    te: "trailers",
  });
}

export interface RawOutcome {
  /** grpc-status from the trailers (or headers); undefined when the stream was reset without one. */
  readonly grpcStatus?: number;
  /** The RST_STREAM code when the server reset the stream. */
  readonly resetCode?: number;
  readonly body: Buffer;
}

/** Resolves when the stream ends, however it ends. */
export function outcomeOf(stream: ClientHttp2Stream): Promise<RawOutcome> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let grpcStatus: number | undefined;
    const read = (headers: http2.IncomingHttpHeaders): void => {
      const value = headers["grpc-status"];
      if (typeof value === "string") grpcStatus = Number(value);
    };
    stream.on("response", read);
    stream.on("trailers", read);
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("error", () => undefined);
    stream.on("close", () =>
      resolve({
        grpcStatus,
        resetCode: stream.rstCode === http2.constants.NGHTTP2_NO_ERROR ? undefined : stream.rstCode,
        body: Buffer.concat(chunks),
      }),
    );
  });
}

/** One complete unary call; the reply's message bytes (without framing) in `body`. */
export async function unary(session: ClientHttp2Session, path: string, request: Buffer): Promise<RawOutcome> {
  const stream = openStream(session, path);
  const outcome = outcomeOf(stream);
  stream.end(frame(request));
  const result = await outcome;
  return { ...result, body: result.body.subarray(5) };
}
