// Counts authentication failures by reason; the runtime exports the map as a labelled metric.

export type AuthFailureReason =
  | "missing-metadata"
  | "malformed-metadata"
  | "unknown-session"
  | "expired-session"
  | "bad-mac"
  | "replayed-seq"
  | "seq-too-old"
  | "bad-nonce"
  | "hello-rate-limited"
  | "bad-server-proof"
  | "bad-bearer-token";

/**
 * The metric label of each reason: one series per real cause, so an attack shows as what it is (a replay, a
 * Hello flood, a wrong secret) instead of "other". The names are the metrics whitelist's
 * (DEFAULT_AUTH_FAILURE_REASONS); the Record type keeps this map complete when a reason is added.
 */
export const AUTH_FAILURE_METRIC_LABELS: Readonly<Record<AuthFailureReason, string>> = {
  "missing-metadata": "missing_metadata",
  "malformed-metadata": "malformed_metadata",
  "unknown-session": "unknown_session",
  "expired-session": "expired_session",
  "bad-mac": "bad_mac",
  "replayed-seq": "replayed",
  "seq-too-old": "outside_window",
  "bad-nonce": "bad_nonce",
  "hello-rate-limited": "rate_limited",
  "bad-server-proof": "bad_proof",
  "bad-bearer-token": "invalid_credentials",
};

export class FailureCounter {
  private readonly counts = new Map<AuthFailureReason, number>();

  record(reason: AuthFailureReason): void {
    this.counts.set(reason, (this.counts.get(reason) ?? 0) + 1);
  }

  get(reason: AuthFailureReason): number {
    return this.counts.get(reason) ?? 0;
  }

  /** A snapshot: later failures do not change the returned map. */
  snapshot(): ReadonlyMap<AuthFailureReason, number> {
    return new Map(this.counts);
  }
}

/** What a callee tells the runtime when a peer is refused: map `code` to the gRPC status of that name. */
export interface AuthRejection {
  readonly ok: false;
  readonly code: "UNAUTHENTICATED";
  readonly reason: AuthFailureReason;
}
