// The call envelopes carried on reserved purposes, and the client port's token check.
import { Metadata, status } from "@grpc/grpc-js";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  CallEnvelopeError,
  decodeCallAnswer,
  decodeCallCancel,
  decodeCallRequest,
  encodeCallAnswer,
  encodeCallCancel,
  encodeCallRequest,
} from "../../src/server/overlay/call-envelope.js";
import { TokenCheck } from "../../src/server/overlay/auth.js";

const callId = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => Buffer.from(b).toString("hex"));

describe("call envelopes", () => {
  it("round-trip requests, answers and cancels", () => {
    fc.assert(
      fc.property(
        callId,
        fc.integer({ min: 16, max: 65535 }),
        fc.nat(),
        fc.uint8Array(),
        (id, purpose, t, p) => {
          const request = decodeCallRequest(
            encodeCallRequest({ callId: id, purpose, timeoutMs: t, payload: p }),
          );
          expect(request).toEqual({
            callId: id,
            purpose,
            timeoutMs: Math.min(t, 0xffffffff),
            payload: Buffer.from(p),
          });
          expect(decodeCallCancel(encodeCallCancel(id))).toBe(id);
        },
      ),
    );
    fc.assert(
      fc.property(
        callId,
        fc.integer({ min: 0, max: 16 }),
        fc.integer({ min: 0, max: 65535 }),
        fc.string({ maxLength: 50 }),
        fc.uint8Array(),
        (id, code, hops, details, p) => {
          const answer = decodeCallAnswer(encodeCallAnswer({ callId: id, code, hops, details, payload: p }));
          expect(answer).toEqual({ callId: id, code, hops, details, payload: Buffer.from(p) });
        },
      ),
    );
  });

  it("refuses truncated envelopes and unknown versions", () => {
    const request = encodeCallRequest({
      callId: "ab".repeat(16),
      purpose: 16,
      timeoutMs: 5,
      payload: new Uint8Array(),
    });
    expect(() => decodeCallRequest(request.subarray(0, 10))).toThrow(CallEnvelopeError);
    const wrongVersion = Buffer.from(request);
    wrongVersion[0] = 9;
    expect(() => decodeCallRequest(wrongVersion)).toThrow(/version 9/);
    const answer = Buffer.from(
      encodeCallAnswer({
        callId: "ab".repeat(16),
        code: 9,
        hops: 1,
        details: "abc",
        payload: new Uint8Array(),
      }),
    );
    expect(() => decodeCallAnswer(answer.subarray(0, answer.length - 1))).toThrow(/shorter than its details/);
  });
});

describe("the client port's bearer token", () => {
  const withAuth = (value?: string): Metadata => {
    const m = new Metadata();
    if (value !== undefined) m.set("authorization", value);
    return m;
  };

  it("allows everything when no token is configured", () => {
    expect(new TokenCheck(undefined).refuse(withAuth())).toBeUndefined();
    expect(new TokenCheck("").enabled).toBe(false);
  });

  it("accepts only the exact token as a Bearer credential", () => {
    const check = new TokenCheck("t0ken");
    expect(check.refuse(withAuth("Bearer t0ken"))).toBeUndefined();
    for (const bad of [undefined, "t0ken", "Bearer t0ke", "Bearer t0ken ", "bearer t0ken", "Basic t0ken"]) {
      expect(check.refuse(withAuth(bad))?.code).toBe(status.UNAUTHENTICATED);
    }
    const twice = withAuth("Bearer t0ken");
    twice.add("authorization", "Bearer t0ken");
    expect(check.refuse(twice)?.code).toBe(status.UNAUTHENTICATED);
  });
});
