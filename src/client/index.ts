// Clients for services co-located with a Wendy node.
export { WendyClient } from "./wendy-client.js";
export type {
  CallRequestOptions,
  CallResult,
  ClientStream,
  Delivery,
  ForwardVerdict,
  OverlayEvent,
  OwnershipMove,
  OwnershipUpdate,
  ReceivedDelivery,
  ReceiveOptions,
  ReceiveStream,
  RequestOptions,
  SendRequestOptions,
  SendResult,
  StatusResult,
  WendyClientOptions,
} from "./client-types.js";
export type { KeyLike } from "./convert.js";
export type {
  KvCallOptions,
  KvClient,
  KvDeleteOptions,
  KvPutOptions,
  KvValue,
  KvVersion,
  KvWriteResult,
} from "./kv-client.js";
export * from "./errors.js";
