// The daemon's health, one truth for every probe: grpc.health.v1 on the peer and client ports and the HTTP
// /healthz and /readyz. Serving ("", wendy.v1.PeerService, wendy.v1.OverlayService) means joined and not
// shutting down; "liveness" means the process works (not tied to joining, so a node waiting for its seeds
// is not restarted). The Cluster's own HealthStatus knows only its ring state, not the daemon's join
// rounds, founding decision or shutdown, so the daemon serves this one in its place on both ports.
import type { Server } from "@grpc/grpc-js";
import type { HealthCheck, HealthSource } from "../metrics/http.js";
import { HealthServiceServer, LIVENESS_SERVICE, ServingStatus } from "../transport/health.js";

export { LIVENESS_SERVICE, ServingStatus };
export const READINESS_SERVICES: readonly string[] = ["", "wendy.v1.PeerService", "wendy.v1.OverlayService"];

type Phase = "starting" | "joined" | "stopping";

export class DaemonHealth implements HealthSource {
  private phase: Phase = "starting";
  private broken: string | undefined;
  private readonly service = new HealthServiceServer((name) => this.statusOf(name));

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

  /** Serves grpc.health.v1 from this object on `server`. */
  serveOn(server: Server): void {
    this.service.addTo(server);
  }

  /** Ends every Watch stream (the servers are going away). */
  endWatches(): void {
    this.service.endWatches();
  }

  private notify(): void {
    this.service.notify();
  }
}
