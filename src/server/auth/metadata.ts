// Auth data travels as plain ASCII call metadata. The auth code works on simple key/value records so it
// stays independent of the transport; these helpers move the records on and off grpc-js `Metadata`.
import { Metadata } from "@grpc/grpc-js";

/** Metadata keys (lowercase, as HTTP/2 requires) mapped to ASCII values. */
export type AuthEntries = Readonly<Record<string, string>>;

/** Copies `entries` onto `metadata` (a new one when omitted), replacing any value under the same key. */
export function writeAuthEntries(entries: AuthEntries, metadata: Metadata = new Metadata()): Metadata {
  for (const [key, value] of Object.entries(entries)) metadata.set(key, value);
  return metadata;
}

/**
 * Reads the given keys from `metadata`. A key that is absent, repeated or not a string is left out, so
 * the verifier sees it as missing rather than guessing which of several values counts.
 */
export function readAuthEntries(metadata: Metadata, keys: readonly string[]): AuthEntries {
  const entries: Record<string, string> = {};
  for (const key of keys) {
    const values = metadata.get(key);
    const only = values.length === 1 ? values[0] : undefined;
    if (typeof only === "string") entries[key] = only;
  }
  return entries;
}
