// The client port's bearer token: `authorization: Bearer <token>` on every call, compared in constant time.
import { createHash, timingSafeEqual } from "node:crypto";
import { status, type Metadata, type ServerErrorResponse } from "@grpc/grpc-js";

const PREFIX = "Bearer ";

/** Checks calls against `token`; with no token configured every call is allowed. */
export class TokenCheck {
  private readonly expected: Buffer | undefined;

  constructor(token: string | undefined) {
    this.expected = token ? digest(token) : undefined;
  }

  get enabled(): boolean {
    return this.expected !== undefined;
  }

  /** undefined when the call may proceed; otherwise the UNAUTHENTICATED error to answer with. */
  refuse(metadata: Metadata): ServerErrorResponse | undefined {
    if (this.expected === undefined) return undefined;
    const values = metadata.get("authorization");
    const only = values.length === 1 ? values[0] : undefined;
    if (typeof only !== "string" || !only.startsWith(PREFIX)) {
      return unauthenticated('missing bearer token: send metadata "authorization: Bearer <token>"');
    }
    // Hashing first gives equal-length inputs, so the comparison time does not reveal the token's length.
    if (!timingSafeEqual(digest(only.slice(PREFIX.length)), this.expected)) {
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
