// Throwaway CAs and leaf certificates (for 127.0.0.1 and localhost unless told otherwise), made with Debian's
// openssl CLI in a temp dir; nodeLeaf adds a node ID as the URI SAN per-node identities need.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { PeerTlsConfig } from "../../src/server/auth/tls.js";

/** What a leaf certificate may be asked for beyond its names (openssl's names for the usages). */
export interface LeafOptions {
  /** Default serverAuth and clientAuth. */
  readonly extendedKeyUsage?: readonly string[];
  /** Default none (no keyUsage extension). */
  readonly keyUsage?: readonly string[];
  /** Default 1. */
  readonly days?: number;
}

const EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

export class CertDir {
  readonly dir = mkdtempSync(join(tmpdir(), "wendy-certs-"));

  private openssl(...args: string[]): void {
    execFileSync("openssl", args, { cwd: this.dir, stdio: "pipe" });
  }

  ca(name: string): void {
    this.openssl(
      "req",
      "-x509",
      ...EC_KEY,
      "-subj",
      `/CN=${name}`,
      "-days",
      "1",
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.crt`,
    );
  }

  /**
   * A certificate usable as server and client, signed by `ca`, naming `subjectAltName` (openssl syntax; by
   * default both 127.0.0.1 and localhost). `options` change its usages and lifetime (as an issuer asked
   * for other ones would).
   */
  leaf(
    name: string,
    ca: string,
    subjectAltName = "IP:127.0.0.1,DNS:localhost",
    options: LeafOptions = {},
  ): void {
    const extendedKeyUsage = options.extendedKeyUsage ?? ["serverAuth", "clientAuth"];
    const keyUsage = options.keyUsage ?? [];
    writeFileSync(
      join(this.dir, `${name}.ext`),
      `basicConstraints=CA:FALSE\nsubjectAltName=${subjectAltName}\n` +
        (extendedKeyUsage.length > 0 ? `extendedKeyUsage=${extendedKeyUsage.join(",")}\n` : "") +
        (keyUsage.length > 0 ? `keyUsage=critical,${keyUsage.join(",")}\n` : ""),
    );
    this.openssl(
      "req",
      "-new",
      ...EC_KEY,
      "-subj",
      `/CN=${name}`,
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.csr`,
    );
    this.openssl(
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      `${ca}.crt`,
      "-CAkey",
      `${ca}.key`,
      "-CAcreateserial",
      "-days",
      String(options.days ?? 1),
      "-extfile",
      `${name}.ext`,
      "-out",
      `${name}.crt`,
    );
  }

  /**
   * A certificate for one node under per-node identities: its node ID as the URI SAN wendy://node/<hex>
   * (src/server/auth/node-identity.ts) beside the addresses it is dialled at.
   */
  nodeLeaf(name: string, ca: string, idHex: string, addresses = "IP:127.0.0.1,DNS:localhost"): void {
    this.leaf(name, ca, `URI:wendy://node/${idHex.toLowerCase()},${addresses}`);
  }

  /** Mutual TLS with per-node identities, presenting `leaf` (made with nodeLeaf). */
  identityTls(leaf: string, ca: string): PeerTlsConfig {
    return {
      enabled: true,
      certFile: this.file(`${leaf}.crt`),
      keyFile: this.file(`${leaf}.key`),
      caFile: this.file(`${ca}.crt`),
      mutual: true,
      nodeIdentity: true,
    };
  }

  /** A path inside the directory. */
  file(name: string): string {
    return join(this.dir, name);
  }

  /** TLS settings presenting `leaf`'s certificate and trusting `ca`. */
  tls(leaf: string, ca: string, mutual: boolean): PeerTlsConfig {
    return {
      enabled: true,
      certFile: this.file(`${leaf}.crt`),
      keyFile: this.file(`${leaf}.key`),
      caFile: this.file(`${ca}.crt`),
      mutual,
    };
  }

  mutualTls(leaf: string, ca: string): PeerTlsConfig {
    return this.tls(leaf, ca, true);
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
