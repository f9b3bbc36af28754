// Label values that may reach a metric. Peers and clients choose method names, status codes and failure
// reasons; every value is mapped onto a fixed whitelist so a hostile or buggy peer cannot grow the number of
// time series without bound.
import { status as GrpcStatus } from "@grpc/grpc-js";
import { AUTH_FAILURE_REASONS } from "../auth/failures.js";
import { HealthService } from "../../gen/grpc/health/v1/health.js";
import { KvServiceService } from "../../gen/wendy/v1/kv.js";
import { OverlayServiceService } from "../../gen/wendy/v1/overlay.js";
import { PeerServiceService } from "../../gen/wendy/v1/peer.js";

/** Label value used for anything outside a whitelist. */
export const OTHER = "other";

/**
 * Reasons a node drops a route message: the core's (a duplicate is counted apart, in
 * duplicates_suppressed_total; "unacknowledged": its live next hop never acknowledged it in time, though it
 * may have arrived) and an application's forward veto. An oversized payload is refused with an error, never
 * dropped.
 */
export const DROP_REASONS = ["ttl", "vetoed", "queue_full", "undeliverable", "unacknowledged"] as const;
export type MetricsDropReason = (typeof DROP_REASONS)[number];

export const RPC_SIDES = ["server", "client"] as const;
export type RpcSide = (typeof RPC_SIDES)[number];

/** The method names (last path segment) of a generated gRPC service definition, in proto order. */
export function methodNamesOf(service: Readonly<Record<string, { readonly path: string }>>): string[] {
  return Object.values(service).map(({ path }) => path.slice(path.lastIndexOf("/") + 1));
}

/** wendy.v1.PeerService's methods, read from the generated definition so a new RPC gets its own label. */
export const DEFAULT_PEER_METHODS: readonly string[] = methodNamesOf(PeerServiceService);

/** The client-facing API's methods (wendy.v1.OverlayService, wendy.v1.KvService) plus the health check's. */
export const DEFAULT_CLIENT_METHODS: readonly string[] = [
  ...methodNamesOf(OverlayServiceService),
  ...methodNamesOf(KvServiceService),
  ...methodNamesOf(HealthService),
];

/**
 * Reasons a peer fails authentication, as the auth module names them (session handshake, per-call MAC,
 * bearer credentials), spelt with underscores as label values.
 */
export const DEFAULT_AUTH_FAILURE_REASONS: readonly string[] = AUTH_FAILURE_REASONS.map(authFailureLabel);

/** "bad-mac" -> "bad_mac". */
export function authFailureLabel(reason: string): string {
  return reason.replaceAll("-", "_");
}

/** A closed set of label values: anything else becomes "other". */
export class LabelWhitelist {
  private readonly allowed: ReadonlySet<string>;

  constructor(values: Iterable<string>) {
    this.allowed = new Set(values);
  }

  normalise(value: string): string {
    return this.allowed.has(value) ? value : OTHER;
  }

  /** Every value this whitelist can produce, "other" included. */
  values(): string[] {
    return [...this.allowed, OTHER];
  }
}

/**
 * A gRPC method label: accepts a bare name ("Join") or a full path ("/wendy.v1.PeerService/Join") and keeps
 * only the last path segment, so both spellings count as one series.
 */
export class MethodWhitelist extends LabelWhitelist {
  override normalise(method: string): string {
    const slash = method.lastIndexOf("/");
    return super.normalise(slash >= 0 ? method.slice(slash + 1) : method);
  }
}

/** A gRPC status code (number or canonical name) as its canonical name, e.g. 16 -> "UNAUTHENTICATED". */
export function grpcCodeLabel(code: number | string): string {
  if (typeof code === "number") {
    const name = Number.isInteger(code) ? GrpcStatus[code] : undefined;
    return typeof name === "string" ? name : OTHER;
  }
  const upper = code.toUpperCase();
  const byName: Readonly<Record<string, unknown>> = GrpcStatus;
  return Object.hasOwn(byName, upper) && typeof byName[upper] === "number" ? upper : OTHER;
}
