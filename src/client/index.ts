// Clients for services co-located with a Wendy node.
export { WendyClient } from "./wendy-client.js";
export type {
  CallRequestOptions,
  CallResult,
  ClientStream,
  Delivery,
  ForwardVerdict,
  NodeStatus,
  OverlayEvent,
  ReceivedDelivery,
  ReceiveOptions,
  ReceiveStream,
  RequestOptions,
  SendOptions,
  SendResult,
  WendyClientOptions,
} from "./wendy-client.js";
export type { KeyLike } from "./convert.js";
export * from "./errors.js";
