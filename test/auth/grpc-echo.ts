// A tiny hand-written gRPC service over raw bytes, for exercising transport and auth on a real server.
import * as grpc from "@grpc/grpc-js";

export const ECHO_PATH = "/wendy.test.Echo/Echo";
const identity = (bytes: Buffer): Buffer => bytes;

/** A unary method whose request and response are the raw bytes, so handlers see exactly what was sent. */
export function rawUnaryMethod(path: string): grpc.MethodDefinition<Buffer, Buffer> {
  return {
    path,
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  };
}

export const echoService: grpc.ServiceDefinition = { echo: rawUnaryMethod(ECHO_PATH) };

export const EchoClient = grpc.makeGenericClientConstructor(echoService, "Echo");

export type UnaryHandler = grpc.handleUnaryCall<Buffer, Buffer>;

/** Starts a server on 127.0.0.1 with an OS-chosen port; returns it and "127.0.0.1:port". */
export async function startServer(
  credentials: grpc.ServerCredentials,
  handlers: Record<string, UnaryHandler>,
  service: grpc.ServiceDefinition = echoService,
): Promise<{ server: grpc.Server; address: string }> {
  const server = new grpc.Server();
  server.addService(service, handlers);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync("127.0.0.1:0", credentials, (error, boundPort) =>
      error ? reject(error) : resolve(boundPort),
    );
  });
  return { server, address: `127.0.0.1:${port}` };
}

/** One unary call with a deadline, so a refused connection fails instead of waiting. */
export function unaryCall(
  client: grpc.Client,
  path: string,
  request: Buffer,
  metadata: grpc.Metadata = new grpc.Metadata(),
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      path,
      identity,
      identity,
      request,
      metadata,
      { deadline: Date.now() + 10_000 },
      (error: grpc.ServiceError | null, response?: Buffer) =>
        error || response === undefined ? reject(error ?? new Error("no response")) : resolve(response),
    );
  });
}
