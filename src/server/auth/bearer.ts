// Custom (non-shared-secret) Credentials, carried the seed's way: marshal() bytes in every call's metadata,
// checked with valid(). These are bearer tokens that anyone who sees them can replay, so the runtime must
// only use this over TLS (tls.ts), which hides them from eavesdroppers and men in the middle.
import type { Credentials } from "./credentials.js";
import { FailureCounter, type AuthRejection } from "./failures.js";
import type { AuthEntries } from "./metadata.js";

export const METADATA_BEARER = "wendy-credentials";
export const BEARER_METADATA_KEYS: readonly string[] = [METADATA_BEARER];

/** Metadata entries presenting `credentials` on an outgoing call. */
export function bearerEntries(credentials: Credentials): AuthEntries {
  return { [METADATA_BEARER]: Buffer.from(credentials.marshal()).toString("base64") };
}

/** Checks the presented token with `credentials.valid()`. */
export function verifyBearer(
  credentials: Credentials,
  entries: AuthEntries,
  failures: FailureCounter,
): { readonly ok: true } | AuthRejection {
  const token = entries[METADATA_BEARER];
  if (token === undefined) {
    failures.record("missing-metadata");
    return { ok: false, code: "UNAUTHENTICATED", reason: "missing-metadata" };
  }
  if (!credentials.valid(new Uint8Array(Buffer.from(token, "base64")))) {
    failures.record("bad-bearer-token");
    return { ok: false, code: "UNAUTHENTICATED", reason: "bad-bearer-token" };
  }
  return { ok: true };
}
