// grpc.health.v1 for the peer and client ports: NOT_SERVING until the node has joined, SERVING while it
// is part of the overlay, NOT_SERVING again while leaving. Kubernetes' native gRPC probes call Check.
import { status, type Server, type ServerWritableStream } from "@grpc/grpc-js";
import {
  HealthCheckResponse_ServingStatus as ServingStatus,
  HealthService,
  type HealthCheckRequest,
  type HealthCheckResponse,
  type HealthServer,
} from "../../gen/grpc/health/v1/health.js";

export { ServingStatus };

/** The health service name the chart's liveness probe asks for. */
export const LIVENESS_SERVICE = "liveness";

/** Serving status by service name ("" is the whole server). Shared by every port of one node. */
export class HealthStatus {
  private readonly statuses = new Map<string, ServingStatus>();
  private readonly watchers = new Set<{
    service: string;
    call: ServerWritableStream<HealthCheckRequest, HealthCheckResponse>;
  }>();

  constructor(services: readonly string[]) {
    for (const s of ["", ...services]) this.statuses.set(s, ServingStatus.NOT_SERVING);
    // Liveness: SERVING while the process works, joined or not, so a liveness probe never restarts a node
    // that is only waiting for its seeds.
    this.statuses.set(LIVENESS_SERVICE, ServingStatus.SERVING);
  }

  /** Adds a service name that follows readiness like the others. */
  addService(service: string): void {
    if (!this.statuses.has(service))
      this.statuses.set(service, this.statuses.get("") ?? ServingStatus.NOT_SERVING);
  }

  /** Sets every known service to `serving`, telling watchers of each change. */
  setAll(serving: boolean): void {
    const next = serving ? ServingStatus.SERVING : ServingStatus.NOT_SERVING;
    for (const service of this.statuses.keys()) {
      if (service === LIVENESS_SERVICE || this.statuses.get(service) === next) continue;
      this.statuses.set(service, next);
      for (const w of this.watchers) if (w.service === service) w.call.write({ status: next });
    }
  }

  get(service: string): ServingStatus | undefined {
    return this.statuses.get(service);
  }

  /** Ends all Watch streams (the server is going away). */
  endWatches(): void {
    for (const w of this.watchers) w.call.end();
    this.watchers.clear();
  }

  addTo(server: Server): void {
    const implementation: HealthServer = {
      check: (call, callback) => {
        const s = this.statuses.get(call.request.service);
        if (s === undefined)
          callback({ code: status.NOT_FOUND, details: `unknown service "${call.request.service}"` });
        else callback(null, { status: s });
      },
      watch: (call: ServerWritableStream<HealthCheckRequest, HealthCheckResponse>) => {
        const service = call.request.service;
        const watcher = { service, call };
        this.watchers.add(watcher);
        call.write({ status: this.statuses.get(service) ?? ServingStatus.SERVICE_UNKNOWN });
        call.on("cancelled", () => this.watchers.delete(watcher));
        call.on("close", () => this.watchers.delete(watcher));
      },
    };
    server.addService(HealthService, implementation);
  }
}
