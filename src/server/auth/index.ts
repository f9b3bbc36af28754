// Peer authentication for the runtime. How to wire it in:
// - Transport: peerServerCredentials / peerChannelSecurity (tls.ts) for the peer port.
// - Shared secret (isSharedSecretCredentials, e.g. PassphraseCredentials): the Hello RPC handler answers with
//   SessionServer.hello; every other handler first calls SessionServer.verify(method path, serialized
//   request bytes, readAuthEntries(metadata, SESSION_METADATA_KEYS)) and, when refused, fails the call with
//   status UNAUTHENTICATED and trailing metadata METADATA_AUTH_FAILURE = reason. Callers send through
//   SessionClient.call, telling a lost session by isSessionLost(that trailing reason). Do not enable grpc-js
//   retry policies for signed calls: a resent call repeats its seq and is refused as a replay.
// - Other Credentials: bearerEntries / verifyBearer (bearer.ts), over TLS only.
// - Metrics: export FailureCounter.snapshot() (shared by the client and server) as a counter by reason.
export * from "./credentials.js";
export * from "./failures.js";
export * from "./metadata.js";
export * from "./replay-window.js";
export * from "./session.js";
export * from "./bearer.js";
export * from "./tls.js";
