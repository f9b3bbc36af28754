// Counts authentication failures by reason; the runtime exports the map as a labelled metric.

/** Every reason a peer can be refused, also the label values of the authentication-failure metric. */
export const AUTH_FAILURE_REASONS = [
  "missing-metadata",
  "malformed-metadata",
  "unknown-session",
  "expired-session",
  "bad-mac",
  "replayed-seq",
  "seq-too-old",
  "bad-nonce",
  "hello-rate-limited",
  "bad-server-proof",
  "bad-bearer-token",
  // An OK answer without the callee's MAC over it (shared secret): someone on the path answered.
  "bad-answer-mac",
  // Per-node identities (node-identity.ts): a certificate naming no node, a claim the certificate does not
  // back, an answer from a node other than the one meant.
  "missing-identity",
  "identity-mismatch",
  "address-mismatch",
  "wrong-peer",
] as const;

export type AuthFailureReason = (typeof AUTH_FAILURE_REASONS)[number];

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
