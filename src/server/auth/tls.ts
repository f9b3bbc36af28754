// Transport credentials for the peer port: plaintext, TLS, or mutual TLS (both sides show a certificate
// signed by the overlay's CA). Certificates must name the address peers dial (e.g. IP SAN 127.0.0.1).
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { checkServerIdentity, createSecureContext, type PeerCertificate, type SecureContext } from "node:tls";
import {
  credentials,
  experimental,
  ServerCredentials,
  type ChannelCredentials,
  type ChannelOptions,
  type VerifyOptions,
} from "@grpc/grpc-js";
import { asError } from "../../shared/as-error.js";
import { ConsistentCertificateProvider, type RenewalRefusalListener } from "./consistent-certificates.js";
import { answeredBy, hostOf, nodeIdOfCertificate, type ClaimRefusal } from "./node-identity.js";

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
      /**
       * Per-node identities (node-identity.ts, mutual TLS only): every certificate names its node
       * (URI SAN wendy://node/<hex>); a peer's claims about itself must match the certificate it spoke
       * with, and an answer counts only from the node that was meant.
       */
      readonly nodeIdentity?: boolean;
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
    const detail = asError(error).message;
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
const providers = new WeakMap<EnabledTls, ConsistentCertificateProvider>();

/**
 * The config's provider, made on first use from `material` (the files as read now). Under per-node
 * identities every renewal must name the node the certificate read at start names (daemon/config.ts makes
 * that this node's ID, and refuses to start on a certificate naming none): another node, or none, is
 * refused and the certificate in use stays.
 */
function watchedMaterial(config: EnabledTls, material: TlsMaterial): ConsistentCertificateProvider {
  let found = providers.get(config);
  if (found === undefined) {
    const nodeId = identityRequired(config) ? certifiedNode(material.cert) : undefined;
    found = new ConsistentCertificateProvider(
      new experimental.FileWatcherCertificateProvider({
        certificateFile: config.certFile,
        privateKeyFile: config.keyFile,
        caCertificateFile: config.caFile,
        refreshIntervalMs: config.reloadIntervalMs!,
      }),
      nodeId,
    );
    providers.set(config, found);
  }
  return found;
}

/** The node the certificate names, if it parses and names one (a daemon refuses to start otherwise). */
function certifiedNode(cert: Buffer): string | undefined {
  try {
    return nodeIdOfCertificate({ subjectaltname: new X509Certificate(cert).subjectAltName });
  } catch {
    return undefined;
  }
}

/**
 * With per-node identities and reloading: `listener` hears of every renewed certificate refused because it
 * names another node, or none (the daemon logs and counts them). Otherwise there is nothing to hear of.
 */
export function onRenewalRefused(config: PeerTlsConfig, listener: RenewalRefusalListener): void {
  if (!config.enabled || !reloads(config) || !identityRequired(config)) return;
  watchedMaterial(config, readMaterial(config)).onRenewalRefused(listener);
}

const reloads = (config: EnabledTls): boolean => (config.reloadIntervalMs ?? 0) > 0;

/** Whether peers must prove per-node identities; only meaningful (and only allowed) under mutual TLS. */
export function identityRequired(config: PeerTlsConfig): boolean {
  if (!config.enabled || config.nodeIdentity !== true) return false;
  if (!config.mutual) throw new TlsConfigError("per-node identities need mutual TLS (mutual: true)");
  return true;
}

/** Credentials for the peer port's server; files are read now, so a bad path fails at start-up. */
export function peerServerCredentials(config: PeerTlsConfig): ServerCredentials {
  if (!config.enabled) return ServerCredentials.createInsecure();
  const material = readMaterial(config);
  if (reloads(config)) {
    const watched = watchedMaterial(config, material);
    return experimental.createCertificateProviderServerCredentials(watched, watched, config.mutual);
  }
  return ServerCredentials.createSsl(
    material.ca,
    [{ cert_chain: material.cert, private_key: material.key }],
    config.mutual,
  );
}

/** What a channel to one peer address is opened with. */
export interface PeerChannelSecurity {
  readonly credentials: ChannelCredentials;
  readonly options: ChannelOptions;
  /**
   * With per-node identities: whether an answer, which came over a connection showing `certificate`, is
   * from the node meant (undefined: a seed dialled by address, any certified node); undefined: it is.
   */
  readonly checkAnswer?: (
    expectedIdHex: string | undefined,
    certificate: PeerCertificate | undefined,
  ) => ClaimRefusal | undefined;
}

/**
 * The TLS server name sent when the peer is dialled by IP address. RFC 6066 forbids an IP there and Node 26
 * refuses one, yet grpc-js always sends a name; this reserved, unresolvable one (RFC 2606) stands in. Peers
 * never choose a certificate by it: the IP itself is what the certificate is checked against.
 */
export const IP_PEER_SERVER_NAME = "ip-address.wendy.invalid";

/**
 * The security of calls to peers, matching peerServerCredentials on their side: for each address, credentials
 * that check the peer's certificate names the host dialled (a DNS name or an IP address) and the channel
 * options that make grpc-js send a valid TLS server name for it. Files are read now, so a bad one fails here.
 */
export function peerChannelSecurity(config: PeerTlsConfig): (address: string) => PeerChannelSecurity {
  if (!config.enabled) {
    const plaintext: PeerChannelSecurity = { credentials: credentials.createInsecure(), options: {} };
    return () => plaintext;
  }
  const secured = tlsChannelCredentials(config);
  const checkAnswer = identityRequired(config) ? answeredBy : undefined;
  return (address) => {
    const host = hostOf(address);
    return {
      // The name is checked here, by us, rather than by grpc-js against the server name it sends.
      credentials: secured({
        checkServerIdentity: (_serverName, certificate) => checkServerIdentity(host, certificate),
      }),
      options: { "grpc.ssl_target_name_override": isIP(host) === 0 ? host : IP_PEER_SERVER_NAME },
      ...(checkAnswer === undefined ? {} : { checkAnswer }),
    };
  };
}

/**
 * Channel credentials with the given verification: from a provider that re-reads the files when they change
 * (WENDY_TLS_RELOAD_INTERVAL_MS), or from one context read now. Either way a bad file fails here, at start-up.
 */
function tlsChannelCredentials(config: EnabledTls): (verify: VerifyOptions) => ChannelCredentials {
  if (reloads(config)) {
    const watched = watchedMaterial(config, readMaterial(config));
    return (verify) =>
      experimental.createCertificateProviderChannelCredentials(
        watched,
        config.mutual ? watched : null,
        verify,
      );
  }
  const context = secureContext(config);
  return (verify) => credentials.createFromSecureContext(context, verify);
}

/** The CA to trust and, under mutual TLS, the certificate to show; one context shared by every channel. */
function secureContext(config: Extract<PeerTlsConfig, { enabled: true }>): SecureContext {
  const material = readMaterial(config);
  try {
    return createSecureContext({
      ca: material.ca,
      ...(config.mutual ? { key: material.key, cert: material.cert } : {}),
    });
  } catch (error) {
    const detail = asError(error).message;
    throw new TlsConfigError(
      `the TLS files "${config.certFile}", "${config.keyFile}" and "${config.caFile}" are unusable: ${detail}`,
    );
  }
}

/**
 * Server credentials of the client port (TLS, no client certificates): with `reloadIntervalMs` > 0 the two
 * files are re-read that often and new connections get what they hold (a renewed certificate, without a
 * restart). Files are read now, so a bad one fails at start-up.
 */
export function clientPortServerCredentials(
  certFile: string,
  keyFile: string,
  reloadIntervalMs: number,
): ServerCredentials {
  const cert = readPem("certificate", certFile);
  const key = readPem("private key", keyFile);
  if (reloadIntervalMs <= 0)
    return ServerCredentials.createSsl(null, [{ cert_chain: cert, private_key: key }], false);
  const watched = new ConsistentCertificateProvider(
    new experimental.FileWatcherCertificateProvider({
      certificateFile: certFile,
      privateKeyFile: keyFile,
      refreshIntervalMs: reloadIntervalMs,
    }),
  );
  // grpc-js 1.14 passes this function's first two arguments to the constructor swapped (see above): the
  // first is the identity here, and no CA (no client certificates asked for).
  return experimental.createCertificateProviderServerCredentials(watched, null, false);
}
