// Transport credentials for the peer port: plaintext, TLS, or mutual TLS (both sides show a certificate
// signed by the overlay's CA). Certificates must name the address peers dial (e.g. IP SAN 127.0.0.1).
import { readFileSync } from "node:fs";
import { credentials, experimental, ServerCredentials, type ChannelCredentials } from "@grpc/grpc-js";

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
      /**
       * Check the three files this often and use new contents for new connections (a cert-manager renewal),
       * without a restart. Undefined or 0: read once, at start.
       */
      readonly reloadIntervalMs?: number;
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

type EnabledTls = Extract<PeerTlsConfig, { enabled: true }>;

/**
 * One watcher of the three files (grpc-js polls them by stat) per config, shared by the server and every
 * channel. One provider serves both the identity and the CA: grpc-js 1.14's
 * createCertificateProviderServerCredentials passes its two providers to the constructor swapped, which
 * only a single provider for both makes harmless.
 */
const providers = new WeakMap<EnabledTls, experimental.CertificateProvider>();

function watchedMaterial(config: EnabledTls): experimental.CertificateProvider {
  let found = providers.get(config);
  if (found === undefined) {
    found = new experimental.FileWatcherCertificateProvider({
      certificateFile: config.certFile,
      privateKeyFile: config.keyFile,
      caCertificateFile: config.caFile,
      refreshIntervalMs: config.reloadIntervalMs!,
    });
    providers.set(config, found);
  }
  return found;
}

const reloads = (config: EnabledTls): boolean => (config.reloadIntervalMs ?? 0) > 0;

/** Credentials for the peer port's server; files are read now, so a bad path fails at start-up. */
export function peerServerCredentials(config: PeerTlsConfig): ServerCredentials {
  if (!config.enabled) return ServerCredentials.createInsecure();
  const material = readMaterial(config);
  if (reloads(config)) {
    const watched = watchedMaterial(config);
    return experimental.createCertificateProviderServerCredentials(watched, watched, config.mutual);
  }
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
  if (reloads(config)) {
    const watched = watchedMaterial(config);
    return experimental.createCertificateProviderChannelCredentials(watched, config.mutual ? watched : null);
  }
  if (!config.mutual) return credentials.createSsl(material.ca);
  return credentials.createSsl(material.ca, material.key, material.cert);
}
