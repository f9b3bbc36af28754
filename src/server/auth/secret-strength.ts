// Whether a shared cluster secret is strong enough to survive an offline guess. A captured Hello answer is
// an HMAC under the key derived from the secret, so anyone who records one handshake can test guesses at
// their own pace; scrypt only slows each guess. The defence is a secret nobody can enumerate: a random key
// of at least 128 bits. Strength cannot be proven from the text, so the rule accepts only the shape a
// generated key has and refuses the shapes people type (words, digits, repeats, keyboard runs).

export const MIN_SECRET_BITS = 128;

/** How to make a key that passes, for error messages. */
export const SECRET_ADVICE = "generate one with `openssl rand -hex 32` or `openssl rand -base64 32`";

const HEX = /^[0-9a-fA-F]+$/;
// Standard and URL-safe base64 (which include plain alphanumeric keys such as the chart's), padding allowed.
const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;

/**
 * Undefined when `secret` looks like a random key of at least MIN_SECRET_BITS bits; otherwise what is wrong
 * with it. Accepted: at least 32 hex digits (mixing digits and letters), or at least 22 base64 characters
 * (mixing upper and lower case). Both: no long runs or repeats, and many distinct characters, which a
 * random key has with overwhelming probability and a typed passphrase rarely does.
 */
export function secretWeakness(secret: string | Uint8Array): string | undefined {
  if (typeof secret !== "string") return bytesWeakness(secret);
  if (HEX.test(secret)) {
    if (secret.length * 4 < MIN_SECRET_BITS)
      return `a hex key needs at least ${MIN_SECRET_BITS / 4} digits (${MIN_SECRET_BITS} bits)`;
    if (!/[0-9]/.test(secret) || !/[a-fA-F]/.test(secret))
      return "a hex key of random bytes mixes digits and letters";
    return patternWeakness(secret, 16);
  }
  if (BASE64.test(secret)) {
    const symbols = secret.replace(/=+$/, "").length;
    if (symbols * 6 < MIN_SECRET_BITS)
      return `a base64 key needs at least ${Math.ceil(MIN_SECRET_BITS / 6)} characters (${MIN_SECRET_BITS} bits)`;
    if (!/[a-z]/.test(secret) || !/[A-Z]/.test(secret))
      return "a base64 key of random bytes mixes upper- and lower-case letters";
    return patternWeakness(secret, 64);
  }
  return "it is not a hex or base64 key (a passphrase can be guessed offline from one captured handshake)";
}

function bytesWeakness(secret: Uint8Array): string | undefined {
  if (secret.length * 8 < MIN_SECRET_BITS)
    return `a binary key needs at least ${MIN_SECRET_BITS / 8} bytes (${MIN_SECRET_BITS} bits)`;
  if (distinct(secret) < Math.min(secret.length / 2, 128)) return "too few distinct bytes for a random key";
  return undefined;
}

/**
 * Refuses text with few distinct symbols, or mostly steps of 0 or +-1 between neighbours (aaaa, 1234, abab).
 * Both bounds sit far in the tail for a random key, so that a generated one is never refused: below a third of
 * its length or of the alphabet in distinct symbols (a random 32-digit hex key falls there with probability
 * about 3e-13, a 48-character alphanumeric one 1e-16), more than four steps in five predictable (a random hex
 * key has about 18 % such steps: probability about 4e-16 at 32 digits). Half of either, the old bounds,
 * refused about one generated key in 100,000 (the chart's randAlphaNum 48, 32-digit hex).
 */
function patternWeakness(text: string, alphabet: number): string | undefined {
  const codes = [...text].map((c) => c.charCodeAt(0));
  if (distinct(codes) < Math.min(codes.length / 3, alphabet / 3))
    return "too few distinct characters for a random key";
  let predictable = 0;
  for (let i = 2; i < codes.length; i++) {
    const step = codes[i]! - codes[i - 1]!;
    if (Math.abs(step) <= 1 || step === codes[i - 1]! - codes[i - 2]!) predictable++;
  }
  if (predictable > (codes.length * 4) / 5) return "it repeats or counts (not a random key)";
  return undefined;
}

function distinct(values: Iterable<number>): number {
  return new Set(values).size;
}
