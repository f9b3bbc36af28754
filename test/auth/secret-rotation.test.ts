// Rotating the cluster secret without splitting the ring (secret-keys.ts): three nodes move from key OLD to
// key NEW one at a time through "old, new" -> "new, old" -> "new"; at every moment every node can open a
// session to every other and have its calls verified. A node left on OLD alone is refused once the others
// retired OLD, and sessions under a retired key are dropped.
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { SharedSecretCredentials } from "../../src/server/auth/credentials.js";
import { ServerProofError } from "../../src/server/auth/session-client.js";
import { callAuthFor, type CallAuth } from "../../src/server/transport/call-auth.js";
import { Metadata } from "@grpc/grpc-js";
import { parseSecretKeys, SecretKeysError } from "../../src/server/auth/secret-keys.js";
import { testSecret } from "../helpers/secrets.js";

// Raw 32-byte keys stand in for the scrypt-derived ones, keeping scrypt out of these tests.
const OLD = createHash("sha256").update("old cluster key").digest();
const NEW = createHash("sha256").update("new cluster key").digest();
const METHOD = "/wendy.v1.PeerService/Probe";
const BODY = new TextEncoder().encode("probe");

function keys(...list: Uint8Array[]): SharedSecretCredentials {
  return {
    sharedKey: list[0]!,
    acceptedKeys: list,
    marshal: () => new Uint8Array(0),
    valid: () => false,
  };
}

/** Nodes by address, each with its CallAuth; Hellos go straight to the callee's verifier. */
function ring(addresses: readonly string[], start: SharedSecretCredentials): Map<string, CallAuth> {
  const nodes = new Map<string, CallAuth>();
  for (const address of addresses) {
    nodes.set(
      address,
      callAuthFor(
        start,
        async (to, challenge) => {
          const outcome = nodes.get(to)!.verifier.hello(challenge);
          if (!outcome.ok) throw new Error(`hello refused: ${outcome.reason}`);
          return outcome.answer;
        },
        () => 0,
      ),
    );
  }
  return nodes;
}

/** One signed call from `from` to `to`, verified there; the refusal's reason, or "ok". */
async function call(nodes: Map<string, CallAuth>, from: string, to: string): Promise<string> {
  let entries;
  try {
    entries = await nodes.get(from)!.signer.sign(to, METHOD, BODY);
  } catch (error) {
    return error instanceof ServerProofError ? "bad-server-proof" : String(error);
  }
  const metadata = new Metadata();
  for (const [k, v] of Object.entries(entries)) metadata.set(k, v);
  const verdict = nodes.get(to)!.verifier.verify(METHOD, BODY, metadata);
  return verdict.ok ? "ok" : verdict.reason;
}

/** Every ordered pair's outcome, fresh sessions each time (as after a restart of every channel). */
async function allPairs(nodes: Map<string, CallAuth>): Promise<string[]> {
  const outcomes: string[] = [];
  for (const from of nodes.keys())
    for (const to of nodes.keys())
      if (from !== to) outcomes.push(`${from}->${to} ${await call(nodes, from, to)}`);
  return outcomes;
}

const ADDRESSES = ["a", "b", "c"];
const allOk = (): string[] =>
  ADDRESSES.flatMap((from) => ADDRESSES.filter((to) => to !== from).map((to) => `${from}->${to} ok`));

describe("rotating the cluster secret node by node", () => {
  it("keeps every pair talking through old+new, new+old, new, one node at a time", async () => {
    const nodes = ring(ADDRESSES, keys(OLD));
    expect(await allPairs(nodes)).toEqual(allOk());
    for (const step of [keys(OLD, NEW), keys(NEW, OLD), keys(NEW)]) {
      for (const address of ADDRESSES) {
        nodes.get(address)!.rekey!(step);
        // Sessions already open go on, and new ones open, whoever has moved on and whoever has not.
        expect(await allPairs(nodes)).toEqual(allOk());
        for (const other of ADDRESSES)
          for (const to of ADDRESSES) if (other !== to) nodes.get(other)!.signer.forget(to);
        expect(await allPairs(nodes)).toEqual(allOk());
      }
    }
  });

  it("refuses a node still on the old key alone once the others retired it, and drops its old sessions", async () => {
    const nodes = ring(ADDRESSES, keys(OLD));
    expect(await call(nodes, "a", "b")).toBe("ok");
    // b and c retire OLD at once (skipping the window); a stays on OLD.
    nodes.get("b")!.rekey!(keys(NEW));
    nodes.get("c")!.rekey!(keys(NEW));
    // a's session with b was opened under OLD, which b no longer holds: b forgot it.
    expect(await call(nodes, "a", "b")).toBe("unknown-session");
    nodes.get("a")!.signer.forget("b");
    expect(await call(nodes, "a", "b")).toBe("bad-server-proof");
    expect(await call(nodes, "b", "a")).toBe("bad-server-proof");
    expect(await call(nodes, "b", "c")).toBe("ok");
  });
});

describe("the secret's text", () => {
  it("gives one key a line, this node's first, and refuses a weak or an empty one", () => {
    const [a, b] = [testSecret("rotation a"), testSecret("rotation b")];
    expect(parseSecretKeys(`${a}\n`)).toEqual([a]);
    expect(parseSecretKeys(`\n ${b} \r\n${a}\n\n`)).toEqual([b, a]);
    expect(() => parseSecretKeys(`${a}\npassword123\n`)).toThrow(SecretKeysError);
    expect(() => parseSecretKeys("\n\n")).toThrow(/no key/);
  });
});
