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

/**
 * The grpc.health.v1 service over any source of truth: Check answers `statusOf`, Watch streams its changes.
 * The owner calls `notify()` whenever what `statusOf` answers may have changed.
 */
export class HealthServiceServer {
  private readonly watchers = new Set<{
    readonly service: string;
    readonly call: ServerWritableStream<HealthCheckRequest, HealthCheckResponse>;
    last: ServingStatus;
  }>();

  constructor(private readonly statusOf: (service: string) => ServingStatus | undefined) {}

  addTo(server: Server): void {
    const implementation: HealthServer = {
      check: (call, callback) => {
        const s = this.statusOf(call.request.service);
        if (s === undefined)
          callback({ code: status.NOT_FOUND, details: `unknown service "${call.request.service}"` });
        else callback(null, { status: s });
      },
      watch: (call) => {
        const service = call.request.service;
        const watcher = { service, call, last: this.statusOf(service) ?? ServingStatus.SERVICE_UNKNOWN };
        this.watchers.add(watcher);
        call.write({ status: watcher.last });
        call.on("cancelled", () => this.watchers.delete(watcher));
        call.on("close", () => this.watchers.delete(watcher));
      },
    };
    server.addService(HealthService, implementation);
  }

  /** Tells every watcher whose service changed. */
  notify(): void {
    for (const w of this.watchers) {
      const next = this.statusOf(w.service) ?? ServingStatus.SERVICE_UNKNOWN;
      if (next === w.last) continue;
      w.last = next;
      w.call.write({ status: next });
    }
  }

  /** Ends all Watch streams (the server is going away). */
  endWatches(): void {
    for (const w of this.watchers) w.call.end();
    this.watchers.clear();
  }
}

/** Serving status by service name ("" is the whole server). Shared by every port of one node. */
export class HealthStatus {
  private readonly statuses = new Map<string, ServingStatus>();
  private readonly service = new HealthServiceServer((name) => this.statuses.get(name));

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

  /** Sets every known service but liveness to `serving`, telling watchers of each change. */
  setAll(serving: boolean): void {
    const next = serving ? ServingStatus.SERVING : ServingStatus.NOT_SERVING;
    for (const service of this.statuses.keys())
      if (service !== LIVENESS_SERVICE) this.statuses.set(service, next);
    this.service.notify();
  }

  get(service: string): ServingStatus | undefined {
    return this.statuses.get(service);
  }

  /** Ends all Watch streams (the server is going away). */
  endWatches(): void {
    this.service.endWatches();
  }

  addTo(server: Server): void {
    this.service.addTo(server);
  }
}
