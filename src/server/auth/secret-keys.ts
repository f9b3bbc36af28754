// The text of a cluster secret (WENDY_SECRET, or the file WENDY_SECRET_FILE names): one key per line. The
// first key is this node's own: it proves Hellos with it and keys the sessions peers open to it. Any other
// line is a key it also accepts from the peers it calls, for the window of a rotation: every node gets
// "old, new", then every node "new, old", then every node "new"; at each step any two nodes share the key
// the callee uses, so the ring never splits (docs/configuration.md, "Rotating the cluster secret").
import { SECRET_ADVICE, secretWeakness } from "./secret-strength.js";

export class SecretKeysError extends Error {
  override readonly name = "SecretKeysError";
}

/** The keys of a secret's text, this node's own first; blank lines and surrounding spaces ignored. */
export function parseSecretKeys(text: string): readonly string[] {
  const keys = text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== "");
  if (keys.length === 0) throw new SecretKeysError("it holds no key");
  // More than a rotation needs would only let more old keys in.
  if (keys.length > 4) throw new SecretKeysError(`it holds ${keys.length} keys; at most 4 (one a line)`);
  for (const [i, key] of keys.entries()) {
    const weakness = secretWeakness(key);
    if (weakness !== undefined)
      throw new SecretKeysError(
        `key ${i + 1} (of ${keys.length}) is too weak: ${weakness}; ${SECRET_ADVICE}`,
      );
  }
  return keys;
}
