// The baseline's gRPC service: raw bytes in and out (no protobuf work), so it measures what plain
// @grpc/grpc-js costs between two processes on this machine.
import type { ServiceDefinition } from "@grpc/grpc-js";

const identity = (b: Buffer): Buffer => b;

export const ECHO_SERVICE: ServiceDefinition = {
  echo: {
    path: "/bench.Echo/Echo",
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
  // Every message written on the stream is written back: a round trip on one long-lived stream, the shape of
  // each leg of the daemon path (the client's streams, the subscriber's, the route streams between nodes).
  ping: {
    path: "/bench.Echo/Ping",
    requestStream: true,
    responseStream: true,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
  // Request: 4 bytes, the payload size (uint32 BE). The server streams that many bytes per message until
  // the client cancels.
  stream: {
    path: "/bench.Echo/Stream",
    requestStream: false,
    responseStream: true,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};
