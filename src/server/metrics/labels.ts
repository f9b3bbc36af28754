// Label values that may reach a metric. Peers and clients choose method names, status codes and failure
// reasons; every value is mapped onto a fixed whitelist so a hostile or buggy peer cannot grow the number of
// time series without bound.
import { status as GrpcStatus } from "@grpc/grpc-js";

/** Label value used for anything outside a whitelist. */
export const OTHER = "other";

export const DROP_REASONS = [
  "no_route",
  "ttl",
  "vetoed",
  "queue_full",
  "undeliverable",
  "payload_too_large",
  "duplicate",
] as const;
export type MetricsDropReason = (typeof DROP_REASONS)[number];

export const RPC_SIDES = ["server", "client"] as const;
export type RpcSide = (typeof RPC_SIDES)[number];

/** wendy.v1.PeerService methods (one per PeerMessage kind, plus streaming forwarding and the handshake). */
export const DEFAULT_PEER_METHODS: readonly string[] = [
  "Join",
  "JoinState",
  "Probe",
  "ProbeReply",
  "Announce",
  "Heartbeat",
  "LeafSetRequest",
  "LeafSet",
  "RowRequest",
  "Row",
  "Route",
  "Ack",
  "Leave",
  "RouteStream",
  "Hello",
];

/** wendy.v1.Overlay methods (the client-facing API) plus the standard health check. */
export const DEFAULT_CLIENT_METHODS: readonly string[] = [
  "Send",
  "Subscribe",
  "Call",
  "Reply",
  "Lookup",
  "Replicas",
  "Status",
  "WatchEvents",
  "DecideForward",
  "Check",
  "Watch",
];

/** Reasons a peer fails authentication (session handshake, per-call MAC, TLS, bearer credentials). */
export const DEFAULT_AUTH_FAILURE_REASONS: readonly string[] = [
  "missing_metadata",
  "malformed_metadata",
  "unknown_session",
  "expired_session",
  "bad_mac",
  "replayed",
  "outside_window",
  "bad_nonce",
  "bad_proof",
  "invalid_credentials",
  "rate_limited",
  "tls",
];

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
