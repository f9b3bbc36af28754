// Encoding with one reused protobuf writer. A generated encode() starts a fresh BinaryWriter, whose buffer
// grows from 128 bytes by doubling (a new zeroed buffer and a copy at each step) before finish() copies the
// bytes out, and the generated gRPC serializers copy them once more into a Buffer. On the route and
// client-port streams that is every batch and every result. The writer here keeps its grown buffer, so an
// encode costs one copy (finish). Encodes are synchronous and never call one another through here, so one
// writer serves the whole process; a writer left mid-message by a throw is replaced, and one grown by a large
// message is let go, so it holds no more than RETAINED_BYTES at rest.
import { BinaryWriter } from "@bufbuild/protobuf/wire";
import type { MethodDefinition, ServiceDefinition } from "@grpc/grpc-js";

/** A generated message's encoder (ts-proto's MessageFns). */
export interface Encoder<T> {
  encode(message: T, writer?: BinaryWriter): BinaryWriter;
}

/** At most this much buffer stays with the writer between encodes (it grows in powers of two). */
export const RETAINED_BYTES = 64 * 1024;

let shared = new BinaryWriter();

/** `message` encoded by `codec` on the shared writer, as a Buffer over its own copy of the bytes. */
export function encodeToBuffer<T>(codec: Encoder<T>, message: T): Buffer {
  let bytes: Uint8Array;
  try {
    bytes = codec.encode(message, shared).finish();
  } catch (error) {
    shared = new BinaryWriter();
    throw error;
  }
  // A buffer that had to grow past RETAINED_BYTES to hold this message is let go with its writer.
  if (bytes.byteLength > RETAINED_BYTES / 2) shared = new BinaryWriter();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

type MethodOf<S extends ServiceDefinition, K extends keyof S> = S[K];
type RequestOf<S extends ServiceDefinition, K extends keyof S> =
  MethodOf<S, K> extends { requestSerialize: (value: infer T) => Buffer } ? T : never;
type ResponseOf<S extends ServiceDefinition, K extends keyof S> =
  MethodOf<S, K> extends { responseSerialize: (value: infer T) => Buffer } ? T : never;

/** For some methods of a service: the encoders of their requests and responses. */
export type MethodEncoders<S extends ServiceDefinition> = {
  readonly [K in keyof S]?: {
    readonly request: Encoder<RequestOf<S, K>>;
    readonly response: Encoder<ResponseOf<S, K>>;
  };
};

/** `definition` with the named methods' serializers encoding on the shared writer (the rest as they were). */
export function withSharedWriter<S extends ServiceDefinition>(definition: S, encoders: MethodEncoders<S>): S {
  const out: Record<string, MethodDefinition<unknown, unknown>> = { ...definition };
  for (const name of Object.keys(encoders) as (keyof S & string)[]) {
    const codecs = encoders[name];
    const method: MethodDefinition<unknown, unknown> | undefined = definition[name];
    if (codecs === undefined || method === undefined) continue;
    out[name] = {
      ...method,
      requestSerialize: (value) => encodeToBuffer(codecs.request, value as RequestOf<S, typeof name>),
      responseSerialize: (value) => encodeToBuffer(codecs.response, value as ResponseOf<S, typeof name>),
    };
  }
  return out as S;
}

/** The size of the buffer the shared writer keeps between encodes (what it holds at rest). */
export function retainedBufferBytes(): number {
  // BinaryWriter's buffer is private to its type, not to JavaScript; read only to report it.
  return (shared as unknown as { readonly buffer: Uint8Array }).buffer.byteLength;
}
