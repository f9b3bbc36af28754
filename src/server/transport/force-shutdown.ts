// Cutting a grpc-js server off at once (forceShutdown) destroys each of its HTTP/2 sessions with
// NGHTTP2_CANCEL, and with it every open stream. Run from inside a session's input processing (a handler, or
// a promise continuation that node:http2 drains there, as an `await` after a call's answer is), node keeps
// each stream's RST_STREAM pending and defers tearing the stream down: it stays known to the session, marked
// destroyed. A response stream in that state that still waits for its trailers aborts the whole process
// when nghttp2 next packs its data (Http2Stream::OnTrailers, CHECK(!is_destroyed()), seen on Node 22 and 26).
// From a fresh turn of the event loop no session is processing input: each reset goes out at once and each
// stream is gone for good.
import type { Server } from "@grpc/grpc-js";

/** `server.forceShutdown()` on the next turn of the event loop (an immediate); resolves once it has run. */
export function forceShutdownOutsideHttp2Input(server: Server): Promise<void> {
  return new Promise<void>((resolve) =>
    setImmediate(() => {
      server.forceShutdown();
      resolve();
    }),
  );
}
