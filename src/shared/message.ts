// An application message as the runtime's embedders and the clients see it, defined once: the routing
// core's RouteMessage without what only routing uses (its hop limit and whether the origin wants an ack).
import type { RouteMessage } from "../routing/types.js";

/** An application message. Create with `cluster.newMessage`; `id`, `origin` and `hops` are set by routing. */
export type Message = Pick<RouteMessage, "id" | "key" | "purpose" | "payload" | "origin" | "hops">;

/** A message's content as the client port reports it, where its id travels as `messageId`. */
export type MessageContent = Omit<Message, "id">;
