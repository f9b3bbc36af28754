// The client port's bearer token: `authorization: Bearer <token>` on every call, compared in constant time.
// Several tokens may be accepted at once (the window of a rotation), and they can be replaced while the
// node runs (a token file changed on disk).
import { createHash, timingSafeEqual } from "node:crypto";
import { status, type Metadata, type ServerErrorResponse } from "@grpc/grpc-js";

const PREFIX = "Bearer ";

/** Checks calls against the accepted tokens; with no token configured every call is allowed. */
export class TokenCheck {
  private expected: readonly Buffer[] = [];

  /** A token, or the tokens accepted during a rotation; none (or only empty ones): every call is allowed. */
  constructor(tokens: string | readonly string[] | undefined) {
    this.replace(tokens);
  }

  get enabled(): boolean {
    return this.expected.length > 0;
  }

  /** Accepts `tokens` from now on instead (a rotation); a token check never turns itself off this way. */
  replace(tokens: string | readonly string[] | undefined): void {
    const list = (typeof tokens === "string" ? [tokens] : (tokens ?? [])).filter((t) => t !== "");
    if (list.length === 0 && this.enabled) throw new RangeError("a running token check needs a token");
    this.expected = list.map(digest);
  }

  /** undefined when the call may proceed; otherwise the UNAUTHENTICATED error to answer with. */
  refuse(metadata: Metadata): ServerErrorResponse | undefined {
    if (this.expected.length === 0) return undefined;
    const values = metadata.get("authorization");
    const only = values.length === 1 ? values[0] : undefined;
    if (typeof only !== "string" || !only.startsWith(PREFIX)) {
      return unauthenticated('missing bearer token: send metadata "authorization: Bearer <token>"');
    }
    // Hashing first gives equal-length inputs, so the comparison time does not reveal the token's length.
    const presented = digest(only.slice(PREFIX.length));
    // Every accepted token is compared, so the time does not tell which one matched.
    let matched = false;
    for (const token of this.expected) matched = timingSafeEqual(presented, token) || matched;
    if (!matched) {
      return unauthenticated("wrong bearer token");
    }
    return undefined;
  }
}

function digest(text: string): Buffer {
  return createHash("sha256").update(text, "utf8").digest();
}

function unauthenticated(details: string): ServerErrorResponse {
  return { name: "Unauthenticated", message: details, code: status.UNAUTHENTICATED, details };
}
