// The few Overlay service calls the demo makes, as promises over the generated gRPC client.
import { credentials, Metadata } from "@grpc/grpc-js";
import { NodeId } from "../../../routing/id.js";
import {
  OverlayServiceClient,
  type ReceiveResponse,
  type SendResponse,
  type StatusResponse,
} from "../../../gen/wendy/v1/overlay.js";
import type { NodeInfo } from "../../../gen/wendy/v1/types.js";

export const DEMO_PURPOSE = 16;
const CALL_TIMEOUT_MS = 10_000;

export function idOf(node: NodeInfo | undefined): string {
  return node === undefined ? "?" : NodeId.fromBytes(node.id).hex;
}

export class OverlayCalls {
  private readonly client: OverlayServiceClient;

  constructor(address: string) {
    this.client = new OverlayServiceClient(address, credentials.createInsecure());
  }

  status(): Promise<StatusResponse> {
    return new Promise((resolve, reject) =>
      this.client.status({}, new Metadata(), { deadline: deadline() }, (error, response) =>
        error ? reject(error) : resolve(response),
      ),
    );
  }

  /** Sends to the key named `name` and waits for the owner's application to acknowledge it. */
  sendAcked(name: string, payload: string): Promise<SendResponse> {
    return new Promise((resolve, reject) =>
      this.client.send(
        {
          key: { kind: { $case: "name", name } },
          purpose: DEMO_PURPOSE,
          payload: Buffer.from(payload),
          waitForAck: true,
          timeoutMs: CALL_TIMEOUT_MS - 1000,
        },
        new Metadata(),
        { deadline: deadline() },
        (error, response) => (error ? reject(error) : resolve(response)),
      ),
    );
  }

  /**
   * The demo's application at this node: receives the demo's purpose and acknowledges every delivery.
   * Resolves once the subscription is live.
   */
  acknowledgeAll(): Promise<void> {
    const stream = this.client.receive(new Metadata());
    const live = new Promise<void>((resolve, reject) => {
      stream.on("data", (response: ReceiveResponse) => {
        const kind = response.kind;
        if (kind?.$case === "ready") resolve();
        if (kind?.$case === "delivery") {
          stream.write({ kind: { $case: "ack", ack: { messageIds: [kind.delivery.messageId] } } });
        }
      });
      // Closing (or the node going away) ends the stream with an error; the demo expects that.
      stream.on("error", reject);
    });
    stream.write({
      kind: {
        $case: "start",
        start: {
          purposes: [DEMO_PURPOSE],
          group: "",
          copyAll: false,
          maxUnacknowledged: 0,
          batchDeliveries: false,
        },
      },
    });
    live.catch(() => undefined);
    return live;
  }

  close(): void {
    this.client.close();
  }
}

function deadline(): Date {
  return new Date(Date.now() + CALL_TIMEOUT_MS);
}
