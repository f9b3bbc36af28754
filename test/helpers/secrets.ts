// Cluster secrets for tests: each one a 256-bit hex key, as the daemon requires (weak secrets are refused).
// Derived from a label so a test reads as "the secret of X" and two labels never collide; only tests may
// derive keys this way, since anyone who knows the label knows the key.
import { createHash } from "node:crypto";

export function testSecret(label: string): string {
  return createHash("sha256").update(`wendy test secret: ${label}`).digest("hex");
}
