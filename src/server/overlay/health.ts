// grpc.health.v1 on the client port. It reads the cluster's HealthStatus (one truth for both ports) and adds
// "wendy.v1.OverlayService", which serves exactly when the node does. Unauthenticated, like the peer port's.
import { status, type Server, type ServerWritableStream } from "@grpc/grpc-js";
import {
  HealthCheckResponse_ServingStatus as ServingStatus,
  HealthService,
  type HealthCheckRequest,
  type HealthCheckResponse,
  type HealthServer,
} from "../../gen/grpc/health/v1/health.js";
import type { HealthStatus } from "../transport/health.js";

export const OVERLAY_SERVICE_NAME = "wendy.v1.OverlayService";

/** How often Watch streams look for a change (HealthStatus has no change notification to subscribe to). */
const WATCH_POLL_MS = 250;

interface Watch {
  readonly service: string;
  readonly call: ServerWritableStream<HealthCheckRequest, HealthCheckResponse>;
  last: ServingStatus;
}

export class ClientPortHealth {
  private readonly watches = new Set<Watch>();
  private poller: NodeJS.Timeout | undefined;

  constructor(private readonly cluster: HealthStatus) {}

  /** The status of `service`; undefined for a service this node does not know. */
  get(service: string): ServingStatus | undefined {
    return this.cluster.get(service === OVERLAY_SERVICE_NAME ? "" : service);
  }

  addTo(server: Server): void {
    const implementation: HealthServer = {
      check: (call, callback) => {
        const s = this.get(call.request.service);
        if (s === undefined) {
          callback({ code: status.NOT_FOUND, details: `unknown service "${call.request.service}"` });
        } else callback(null, { status: s });
      },
      watch: (call) => {
        const watch: Watch = {
          service: call.request.service,
          call,
          last: this.get(call.request.service) ?? ServingStatus.SERVICE_UNKNOWN,
        };
        call.write({ status: watch.last });
        this.watches.add(watch);
        const remove = (): void => {
          this.watches.delete(watch);
          if (this.watches.size === 0) this.stopPolling();
        };
        call.on("cancelled", remove);
        call.on("close", remove);
        this.startPolling();
      },
    };
    server.addService(HealthService, implementation);
  }

  /** Ends every Watch stream (the service is closing). */
  close(): void {
    for (const w of this.watches) w.call.end();
    this.watches.clear();
    this.stopPolling();
  }

  private startPolling(): void {
    if (this.poller !== undefined) return;
    this.poller = setInterval(() => {
      for (const w of this.watches) {
        const now = this.get(w.service) ?? ServingStatus.SERVICE_UNKNOWN;
        if (now !== w.last) {
          w.last = now;
          w.call.write({ status: now });
        }
      }
    }, WATCH_POLL_MS);
    this.poller.unref();
  }

  private stopPolling(): void {
    if (this.poller !== undefined) clearInterval(this.poller);
    this.poller = undefined;
  }
}
