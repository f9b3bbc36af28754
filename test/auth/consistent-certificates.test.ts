// A renewal read half-way (the new certificate with the old key, or a file missing for a moment) is never
// handed to grpc-js, which would otherwise refuse every new connection until the next read: the last
// matching pair stays in use, and a listener that comes later gets it.
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import type { experimental } from "@grpc/grpc-js";
import { afterAll, describe, expect, it } from "vitest";
import {
  ConsistentCertificateProvider,
  isMatchingPair,
  type RenewalRefusal,
} from "../../src/server/auth/consistent-certificates.js";
import { NodeId } from "../../src/routing/id.js";
import { CertDir } from "../helpers/certs.js";

const certs = new CertDir();
afterAll(() => certs.remove());
certs.ca("ca");
certs.leaf("old", "ca");
certs.leaf("new", "ca");
// Per-node identities: node-a's certificate and its renewal, one naming node-b, one naming no node.
const NODE_A = NodeId.fromString("node-a").hex;
certs.leaf("a-old", "ca", "URI:wendy://name/node-a,IP:127.0.0.1");
certs.leaf("a-new", "ca", `URI:wendy://node/${NODE_A},IP:127.0.0.1`);
certs.leaf("b", "ca", "URI:wendy://name/node-b,IP:127.0.0.1");
certs.leaf("none", "ca", "IP:127.0.0.1");
const pair = (cert: string, key: string): experimental.IdentityCertificateUpdate => ({
  certificate: readFileSync(certs.file(`${cert}.crt`)),
  privateKey: readFileSync(certs.file(`${key}.key`)),
});

/** A provider whose identity updates the test pushes by hand. */
class ManualProvider implements experimental.CertificateProvider {
  readonly identity = new Set<experimental.IdentityCertificateUpdateListener>();
  push(update: experimental.IdentityCertificateUpdate | null): void {
    for (const l of this.identity) l(update);
  }
  addIdentityCertificateListener(l: experimental.IdentityCertificateUpdateListener): void {
    this.identity.add(l);
  }
  removeIdentityCertificateListener(l: experimental.IdentityCertificateUpdateListener): void {
    this.identity.delete(l);
  }
  addCaCertificateListener(): void {}
  removeCaCertificateListener(): void {}
}

describe("certificates handed to grpc-js", () => {
  it("a certificate matches only its own key", () => {
    expect(isMatchingPair(pair("old", "old"))).toBe(true);
    expect(isMatchingPair(pair("new", "old"))).toBe(false);
    expect(isMatchingPair({ certificate: Buffer.from("junk"), privateKey: Buffer.from("junk") })).toBe(false);
  });

  it("passes matching pairs on, holds back a half-read renewal and a missing file, and tells late listeners", async () => {
    const inner = new ManualProvider();
    const provider = new ConsistentCertificateProvider(inner);
    const seen: (string | null)[] = [];
    const serial = (u: experimental.IdentityCertificateUpdate | null): string | null =>
      u === null ? null : new X509Certificate(u.certificate).serialNumber;
    provider.addIdentityCertificateListener((u) => seen.push(serial(u)));
    inner.push(pair("old", "old"));
    inner.push(pair("new", "old"));
    inner.push(null);
    inner.push(pair("new", "new"));
    const oldSerial = serial(pair("old", "old"));
    const newSerial = serial(pair("new", "new"));
    expect(seen).toEqual([oldSerial, newSerial]);
    const late: (string | null)[] = [];
    provider.addIdentityCertificateListener((u) => late.push(serial(u)));
    await new Promise((r) => process.nextTick(r));
    expect(late).toEqual([newSerial]);
  });

  it(
    "under per-node identities, holds back a renewal naming another node or none, tells each refusal once, " +
      "and still passes on a renewal naming the same node",
    () => {
      const inner = new ManualProvider();
      const provider = new ConsistentCertificateProvider(inner, NODE_A);
      const seen: string[] = [];
      const refused: RenewalRefusal[] = [];
      const serial = (u: experimental.IdentityCertificateUpdate | null): string =>
        u === null ? "null" : new X509Certificate(u.certificate).serialNumber;
      provider.onRenewalRefused((r) => refused.push(r));
      provider.addIdentityCertificateListener((u) => seen.push(serial(u)));
      inner.push(pair("a-old", "a-old"));
      // grpc-js hands the files on at every poll: the same refused certificate twice is told once.
      inner.push(pair("b", "b"));
      inner.push(pair("b", "b"));
      inner.push(pair("none", "none"));
      inner.push(pair("a-new", "a-new"));
      expect(seen).toEqual([serial(pair("a-old", "a-old")), serial(pair("a-new", "a-new"))]);
      expect(refused).toEqual([
        {
          reason: "identity-mismatch",
          nodeId: NODE_A,
          named: NodeId.fromString("node-b").hex,
          serialNumber: serial(pair("b", "b")),
        },
        {
          reason: "missing-identity",
          nodeId: NODE_A,
          named: undefined,
          serialNumber: serial(pair("none", "none")),
        },
      ]);
    },
  );
});
