// The daemon's health, one truth for every probe: grpc.health.v1 on the peer and client ports and the HTTP
// /healthz and /readyz. Serving ("", wendy.v1.PeerService, wendy.v1.OverlayService) means joined and not
// shutting down; "liveness" means the process works (not tied to joining, so a node waiting for its seeds
// is not restarted). The Cluster's own HealthStatus knows only its ring state, not the daemon's join
// rounds, founding decision or shutdown, so the daemon serves this one in its place on both ports.
import { status, type Server, type ServerWritableStream } from "@grpc/grpc-js";
import {
  HealthCheckResponse_ServingStatus as ServingStatus,
  HealthService,
  type HealthCheckRequest,
  type HealthCheckResponse,
  type HealthServer,
} from "../../gen/grpc/health/v1/health.js";
import type { HealthCheck, HealthSource } from "../metrics/http.js";

export { ServingStatus };

export const LIVENESS_SERVICE = "liveness";
export const READINESS_SERVICES: readonly string[] = ["", "wendy.v1.PeerService", "wendy.v1.OverlayService"];

type Phase = "starting" | "joined" | "stopping";

interface Watcher {
  readonly service: string;
  readonly call: ServerWritableStream<HealthCheckRequest, HealthCheckResponse>;
  last: ServingStatus;
}

export class DaemonHealth implements HealthSource {
  private phase: Phase = "starting";
  private broken: string | undefined;
  private readonly watchers = new Set<Watcher>();

  /** The node joined (or founded) the ring. */
  markJoined(): void {
    if (this.phase === "starting") this.phase = "joined";
    this.notify();
  }

  /** A shutdown began: not ready from now on, whatever happens next. */
  beginShutdown(): void {
    this.phase = "stopping";
    this.notify();
  }

  /** The node cannot recover by itself; liveness fails so that it gets restarted. */
  markBroken(reason: string): void {
    this.broken ??= reason;
    this.notify();
  }

  get joined(): boolean {
    return this.phase === "joined";
  }

  statusOf(service: string): ServingStatus | undefined {
    if (service === LIVENESS_SERVICE)
      return this.broken === undefined ? ServingStatus.SERVING : ServingStatus.NOT_SERVING;
    if (!READINESS_SERVICES.includes(service)) return undefined;
    return this.phase === "joined" && this.broken === undefined
      ? ServingStatus.SERVING
      : ServingStatus.NOT_SERVING;
  }

  liveness(): HealthCheck {
    return this.broken === undefined ? { ok: true } : { ok: false, reason: `node broken: ${this.broken}` };
  }

  readiness(): HealthCheck {
    if (this.broken !== undefined) return { ok: false, reason: `node broken: ${this.broken}` };
    if (this.phase === "starting") return { ok: false, reason: "not joined yet" };
    if (this.phase === "stopping") return { ok: false, reason: "shutting down" };
    return { ok: true };
  }

  /** Serves grpc.health.v1 from this object on `server`, replacing any Health service already there. */
  serveOn(server: Server): void {
    const implementation: HealthServer = {
      check: (call, callback) => {
        const s = this.statusOf(call.request.service);
        if (s === undefined)
          callback({ code: status.NOT_FOUND, details: `unknown service "${call.request.service}"` });
        else callback(null, { status: s });
      },
      watch: (call) => {
        const service = call.request.service;
        const current = this.statusOf(service) ?? ServingStatus.SERVICE_UNKNOWN;
        const watcher: Watcher = { service, call, last: current };
        this.watchers.add(watcher);
        call.write({ status: current });
        call.on("cancelled", () => this.watchers.delete(watcher));
        call.on("close", () => this.watchers.delete(watcher));
      },
    };
    server.addService(HealthService, implementation);
  }

  /** Ends every Watch stream (the servers are going away). */
  endWatches(): void {
    for (const w of this.watchers) w.call.end();
    this.watchers.clear();
  }

  private notify(): void {
    for (const w of this.watchers) {
      const next = this.statusOf(w.service) ?? ServingStatus.SERVICE_UNKNOWN;
      if (next === w.last) continue;
      w.last = next;
      w.call.write({ status: next });
    }
  }
}
