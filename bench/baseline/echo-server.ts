// Baseline server process: a plain @grpc/grpc-js server with a unary echo, a bidi echo and a server stream, on
// 127.0.0.1. Prints "port <n>" once listening; exits on SIGTERM.
import {
  Server,
  ServerCredentials,
  type sendUnaryData,
  type ServerDuplexStream,
  type ServerUnaryCall,
  type ServerWritableStream,
} from "@grpc/grpc-js";
import { ECHO_SERVICE } from "./echo-service.js";

const MAX_MESSAGE_BYTES = 8 * 1024 * 1024;

function echo(call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>): void {
  callback(null, call.request);
}

function ping(call: ServerDuplexStream<Buffer, Buffer>): void {
  call.on("data", (message: Buffer) => call.write(message));
  call.on("end", () => call.end());
  call.on("error", () => undefined); // the client cancels the stream when its window ends
}

function stream(call: ServerWritableStream<Buffer, Buffer>): void {
  const payload = Buffer.alloc(call.request.readUInt32BE(0), 7);
  let open = true;
  call.on("cancelled", () => (open = false));
  call.on("error", () => (open = false));
  // Write until the transport pushes back, then continue on 'drain'; stop once the client cancels.
  const pump = (): void => {
    while (open) {
      if (!call.write(payload)) {
        call.once("drain", pump);
        return;
      }
    }
  };
  pump();
}

const server = new Server({
  "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
  "grpc.max_send_message_length": MAX_MESSAGE_BYTES,
});
server.addService(ECHO_SERVICE, { echo, ping, stream });
server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (error, port) => {
  if (error) {
    process.stderr.write(`echo server: ${error.message}\n`);
    process.exit(1);
  }
  process.stdout.write(`port ${port}\n`);
});
process.once("SIGTERM", () => {
  server.forceShutdown();
  process.exit(0);
});
