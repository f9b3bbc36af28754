// grpc-js answers INTERNAL when a request does not deserialize, which blames the server for the caller's
// bytes. Services wrapped here receive raw bytes and decode them in the handler, so a malformed request is
// INVALID_ARGUMENT, as for any other bad input. Methods that stream requests are handed the raw bytes of each
// request (their handler decodes every message itself and decides what a malformed one costs).
import {
  status,
  type handleBidiStreamingCall,
  type sendUnaryData,
  type ServerDuplexStream,
  type ServerUnaryCall,
  type ServerWritableStream,
  type ServiceDefinition,
  type UntypedHandleCall,
  type UntypedServiceImplementation,
} from "@grpc/grpc-js";
import { asError } from "../../shared/as-error.js";

const identity = (b: Buffer): Buffer => b;

/** Returns a definition and implementation that decode each request inside its handler. */
export function decodeInHandlers(
  definition: ServiceDefinition,
  implementation: UntypedServiceImplementation,
): { definition: ServiceDefinition; implementation: UntypedServiceImplementation } {
  const rawDefinition: Record<string, ServiceDefinition[string]> = {};
  const wrapped: UntypedServiceImplementation = {};
  for (const [name, method] of Object.entries(definition)) {
    const handler = implementation[name];
    if (handler === undefined) continue;
    rawDefinition[name] = { ...method, requestDeserialize: identity };
    if (method.requestStream) {
      wrapped[name] = handler;
      continue;
    }
    const describe = (error: unknown): string =>
      `malformed ${method.path.split("/").pop() ?? "request"} request: ${asError(error).message}`;
    wrapped[name] = method.responseStream
      ? (call: ServerWritableStream<unknown, unknown>) => {
          try {
            call.request = method.requestDeserialize(call.request as Buffer);
          } catch (error) {
            call.emit("error", { code: status.INVALID_ARGUMENT, details: describe(error) });
            return;
          }
          (handler as (c: typeof call) => void)(call);
        }
      : (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
          try {
            call.request = method.requestDeserialize(call.request as Buffer);
          } catch (error) {
            callback({ code: status.INVALID_ARGUMENT, details: describe(error) });
            return;
          }
          (handler as (c: typeof call, cb: typeof callback) => void)(call, callback);
        };
  }
  return {
    definition: rawDefinition as ServiceDefinition,
    implementation: wrapped as Record<string, UntypedHandleCall>,
  };
}

/**
 * Types a handler that decodes its own requests (it receives each as raw bytes, as decodeInHandlers serves
 * request-streaming methods) as the generated server interface expects it.
 */
export function rawRequestStream<Req, Res>(
  handler: (call: ServerDuplexStream<Buffer, Res>) => void,
): handleBidiStreamingCall<Req, Res> {
  return handler as unknown as handleBidiStreamingCall<Req, Res>;
}
