// The shared-secret session protocol (challenge/response Hello, then HMAC-signed calls), in one import.
export * from "./session-protocol.js";
export * from "./session-server.js";
export * from "./session-client.js";
