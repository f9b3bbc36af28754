// Transport credentials for the peer port: plaintext, TLS, or mutual TLS (both sides show a certificate
// signed by the overlay's CA). Certificates must name the address peers dial (e.g. IP SAN 127.0.0.1).
import { readFileSync } from "node:fs";
import { credentials, ServerCredentials, type ChannelCredentials } from "@grpc/grpc-js";

export type PeerTlsConfig =
  | { readonly enabled: false }
  | {
      readonly enabled: true;
      /** PEM certificate chain this node presents (as server, and as client under mutual TLS). */
      readonly certFile: string;
      /** PEM private key of that certificate. */
      readonly keyFile: string;
      /** PEM CA bundle that peers' certificates must chain to. */
      readonly caFile: string;
      /** Require and verify client certificates on incoming connections, and present ours on outgoing. */
      readonly mutual: boolean;
    };

export class TlsConfigError extends Error {
  override readonly name = "TlsConfigError";
}

interface TlsMaterial {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca: Buffer;
}

function readPem(role: string, path: string): Buffer {
  let contents: Buffer;
  try {
    contents = readFileSync(path);
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new TlsConfigError(`cannot read the TLS ${role} file "${path}": ${detail}`);
  }
  if (!contents.includes("-----BEGIN")) {
    throw new TlsConfigError(`the TLS ${role} file "${path}" holds no PEM data`);
  }
  return contents;
}

function readMaterial(config: Extract<PeerTlsConfig, { enabled: true }>): TlsMaterial {
  return {
    cert: readPem("certificate", config.certFile),
    key: readPem("private key", config.keyFile),
    ca: readPem("CA", config.caFile),
  };
}

/** Credentials for the peer port's server; files are read now, so a bad path fails at start-up. */
export function peerServerCredentials(config: PeerTlsConfig): ServerCredentials {
  if (!config.enabled) return ServerCredentials.createInsecure();
  const material = readMaterial(config);
  return ServerCredentials.createSsl(
    material.ca,
    [{ cert_chain: material.cert, private_key: material.key }],
    config.mutual,
  );
}

/** Credentials for calls to peers, matching peerServerCredentials on their side. */
export function peerChannelCredentials(config: PeerTlsConfig): ChannelCredentials {
  if (!config.enabled) return credentials.createInsecure();
  const material = readMaterial(config);
  if (!config.mutual) return credentials.createSsl(material.ca);
  return credentials.createSsl(material.ca, material.key, material.cert);
}
