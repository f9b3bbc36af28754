// A certificate provider that never hands on a certificate and a key that do not belong together. grpc-js's
// FileWatcherCertificateProvider reads the certificate and the key as two files; a renewal written in two
// steps (or a read that straddles a Secret's `..data` swap) can give the new certificate with the old key.
// grpc-js would then fail to build its TLS context and refuse every new connection until the next read, a
// whole reload interval later. This keeps the last matching pair (and an unreadable file changes nothing)
// until the files agree again.
import { X509Certificate, createPrivateKey } from "node:crypto";
import type { experimental } from "@grpc/grpc-js";

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

export class ConsistentCertificateProvider implements experimental.CertificateProvider {
  private readonly listeners = new Set<IdentityListener>();
  private lastGood: IdentityUpdate | undefined;
  private readonly fromInner: IdentityListener = (update) => {
    if (update === null || !isMatchingPair(update)) return;
    this.lastGood = update;
    for (const listener of this.listeners) listener(update);
  };

  constructor(private readonly inner: experimental.CertificateProvider) {}

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
