// The few Overlay service calls the demo makes, as promises over the generated gRPC client.
import { credentials, Metadata, type ClientReadableStream } from "@grpc/grpc-js";
import { NodeId } from "../../../routing/id.js";
import {
  OverlayServiceClient,
  type SendResponse,
  type StatusResponse,
  type SubscribeResponse,
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

  /** Sends to the key named `name` and waits for the delivering node's acknowledgement. */
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

  /** Streams deliveries of the demo's purpose to `onMessage` until cancelled. */
  subscribe(onMessage: (m: SubscribeResponse) => void): ClientReadableStream<SubscribeResponse> {
    const stream = this.client.subscribe({ purposes: [DEMO_PURPOSE] });
    stream.on("data", onMessage);
    // Cancelling (or the node going away) ends the stream with an error; the demo expects that.
    stream.on("error", () => undefined);
    return stream;
  }

  close(): void {
    this.client.close();
  }
}

function deadline(): Date {
  return new Date(Date.now() + CALL_TIMEOUT_MS);
}
