// What an embedding application sees: messages and the callbacks it may register.
import type { NodeInfo } from "../routing/types.js";
import type { Message } from "../shared/message.js";

export type { Message };

/** What an `onForward` callback decides: undefined or true continue, false vetoes, a Message replaces. */
export type ForwardDecision = boolean | undefined | Message;

/**
 * Callbacks an application registers with `cluster.registerApplication`. All are optional; several
 * applications may be registered and each sees every event. Callbacks run on the event loop: keep them short.
 */
export interface Application {
  onError?(error: Error): void;
  /**
   * This node is the live node numerically closest to the message's key. When the sender waits for the
   * acknowledgement, it comes once every application's onDeliver returned, or the Promise it returned
   * resolved; a rejection (or a throw) refuses the message instead, and the sender's send rejects with the
   * error's gRPC `code` (if it has one in 1..16, else UNKNOWN) and message. Nobody else waits: return the
   * Promise only once the message is safe.
   */
  onDeliver?(message: Message): void | Promise<void>;
  /** This node is about to forward `message` to `next`; may veto (false) or change it (return a Message). */
  onForward?(message: Message, next: NodeInfo): ForwardDecision;
  /** The leaf set changed; `leaves` is the new leaf set (both sides). */
  onNewLeaves?(leaves: readonly NodeInfo[]): void;
  onNodeJoin?(node: NodeInfo): void;
  /** A node left: `graceful` when it announced its leave, false when it was found dead. */
  onNodeExit?(node: NodeInfo, graceful: boolean): void;
  onHeartbeat?(node: NodeInfo): void;
}
