// A certificate provider that never hands on a certificate and a key that do not belong together. grpc-js's
// FileWatcherCertificateProvider reads the certificate and the key as two files; a renewal written in two
// steps (or a read that straddles a Secret's `..data` swap) can give the new certificate with the old key.
// grpc-js would then fail to build its TLS context and refuse every new connection until the next read, a
// whole reload interval later. This keeps the last matching pair (and an unreadable file changes nothing)
// until the files agree again.
//
// Under per-node identities it also holds back a renewal that names another node, or none: the certificate
// is the node's identity, and serving one for another ID would have every peer refuse this node's calls
// (and a renewal naming none would make it unable to prove who it is). The certificate in use stays, and
// the refusal is told once per refused certificate (grpc-js hands the files on at every poll).
import { X509Certificate, createPrivateKey } from "node:crypto";
import type { experimental } from "@grpc/grpc-js";
import { nodeIdOfCertificate } from "./node-identity.js";

type IdentityUpdate = experimental.IdentityCertificateUpdate;
type IdentityListener = experimental.IdentityCertificateUpdateListener;
type CaListener = experimental.CaCertificateUpdateListener;

/** Whether `update`'s certificate (the first of its chain) is the one `update`'s private key signs for. */
export function isMatchingPair(update: IdentityUpdate): boolean {
  try {
    return new X509Certificate(update.certificate).checkPrivateKey(createPrivateKey(update.privateKey));
  } catch {
    return false;
  }
}

/** A renewed certificate refused because it does not name the node whose certificate it replaces. */
export interface RenewalRefusal {
  /** "missing-identity": it names no node; "identity-mismatch": it names another (auth failure reasons). */
  readonly reason: "missing-identity" | "identity-mismatch";
  /** The node the certificate in use names (this node). */
  readonly nodeId: string;
  /** The node the refused certificate names, if any. */
  readonly named: string | undefined;
  /** The refused certificate's serial number, to find it among the issuer's. */
  readonly serialNumber: string;
}

export type RenewalRefusalListener = (refusal: RenewalRefusal) => void;

/** Why a certificate that should name node `nodeId` may not be used, or undefined when it names that node. */
export function renewalRefusal(certificate: Buffer, nodeId: string): RenewalRefusal | undefined {
  const cert = new X509Certificate(certificate);
  const named = nodeIdOfCertificate({ subjectaltname: cert.subjectAltName });
  if (named === nodeId) return undefined;
  return {
    reason: named === undefined ? "missing-identity" : "identity-mismatch",
    nodeId,
    named,
    serialNumber: cert.serialNumber,
  };
}

export class ConsistentCertificateProvider implements experimental.CertificateProvider {
  private readonly listeners = new Set<IdentityListener>();
  private readonly refusalListeners = new Set<RenewalRefusalListener>();
  private lastGood: IdentityUpdate | undefined;
  /** The last certificate refused, so that one refusal is told once however often the files are read. */
  private lastRefused: Buffer | undefined;
  private readonly fromInner: IdentityListener = (update) => {
    if (update === null || !isMatchingPair(update)) return;
    if (this.nodeId !== undefined) {
      const refusal = renewalRefusal(update.certificate, this.nodeId);
      if (refusal !== undefined) {
        if (this.lastRefused?.equals(update.certificate) !== true) {
          this.lastRefused = update.certificate;
          for (const listener of this.refusalListeners) listener(refusal);
        }
        return;
      }
    }
    this.lastRefused = undefined;
    this.lastGood = update;
    for (const listener of this.listeners) listener(update);
  };

  /**
   * `nodeId`: under per-node identities, the node (32 hex digits) every certificate handed on must name;
   * others are refused and told to the listeners of onRenewalRefused.
   */
  constructor(
    private readonly inner: experimental.CertificateProvider,
    private readonly nodeId?: string,
  ) {}

  /** `listener` hears of each renewed certificate refused for naming another node or none. */
  onRenewalRefused(listener: RenewalRefusalListener): void {
    this.refusalListeners.add(listener);
  }

  addIdentityCertificateListener(listener: IdentityListener): void {
    this.listeners.add(listener);
    if (this.listeners.size === 1) this.inner.addIdentityCertificateListener(this.fromInner);
    const known = this.lastGood;
    if (known !== undefined) process.nextTick(listener, known);
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.listeners.delete(listener);
    if (this.listeners.size === 0) this.inner.removeIdentityCertificateListener(this.fromInner);
  }

  addCaCertificateListener(listener: CaListener): void {
    this.inner.addCaCertificateListener(listener);
  }

  removeCaCertificateListener(listener: CaListener): void {
    this.inner.removeCaCertificateListener(listener);
  }
}
