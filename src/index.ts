// Package root: the embeddable Wendy API.
export * from "./routing/id.js";
export * from "./routing/types.js";
export { Cluster } from "./server/cluster.js";
export type { ClusterOptions, ClusterSendOptions, Logger, SendResult, StopResult } from "./server/cluster.js";
export type { ForwardInterceptor } from "./server/forwarding.js";
export { Node, nodeIdFromBytes } from "./server/node.js";
export type { NodeOptions } from "./server/node.js";
export type { Application, ForwardDecision, Message } from "./server/application.js";
export * from "./server/errors.js";
export { PassphraseCredentials } from "./server/auth/credentials.js";
export type { Credentials, SharedSecretCredentials } from "./server/auth/credentials.js";
export type { PeerTlsConfig } from "./server/auth/tls.js";
