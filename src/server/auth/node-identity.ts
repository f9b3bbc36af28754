// Per-node identity under mutual TLS. The operator's CA (or cert-manager) issues each node a certificate
// naming its node, beside the DNS/IP names of the addresses it is dialled at, as one URI SAN:
// - `wendy://node/<32 lowercase hex digits>`: the node ID itself;
// - `wendy://name/<node name>`: a stable node name, whose ID is SHA-256 of the name as WENDY_NODE_NAME gives
//   it (cert-manager's CSI driver can write `wendy://name/${POD_NAME}` into each pod's own certificate).
// A peer's claims about itself (its ID and addresses) must then match the certificate of the connection they
// arrive on, and an answer counts only when it came over a connection whose certificate names the node that
// was meant: no node can speak for another, nor invent IDs that anyone would talk to, because only the CA
// decides which IDs exist (Castro et al., 2002: certified node IDs).
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { checkServerIdentity, type PeerCertificate } from "node:tls";
import { NodeId } from "../../routing/id.js";
import type { NodeInfo } from "../../routing/types.js";
import type { AuthFailureReason } from "./failures.js";

/** The URI SAN that names a node by ID: this prefix and the node ID as 32 lowercase hex digits. */
export const NODE_ID_URI_PREFIX = "wendy://node/";
/** The URI SAN that names a node by name: this prefix and the name, whose SHA-256 gives the ID. */
export const NODE_NAME_URI_PREFIX = "wendy://name/";

/** The URI SAN naming node `idHex` (any case). */
export function nodeIdUri(idHex: string): string {
  return `${NODE_ID_URI_PREFIX}${idHex.toLowerCase()}`;
}

/** A certificate as Node shows it: a peer's (tls.PeerCertificate) or one read from a file. */
export interface CertificateNames {
  readonly subjectaltname?: string;
  readonly subject?: PeerCertificate["subject"];
}

const URI_ENTRY = /(?:^|,\s*)URI:("?)([^,"]*)\1/g;
const NODE_URI = /^wendy:\/\/node\/([0-9a-f]{32})$/;
const NAME_URI = /^wendy:\/\/name\/([A-Za-z0-9][A-Za-z0-9._-]{0,252})$/;

/**
 * The node ID (32 lowercase hex digits) a certificate names, or undefined when it names none, more than one
 * (a certificate that could speak for two nodes identifies neither) or a malformed one.
 */
export function nodeIdOfCertificate(cert: CertificateNames | undefined): string | undefined {
  const names = cert?.subjectaltname;
  if (typeof names !== "string") return undefined;
  const ids = new Set<string>();
  for (const match of names.matchAll(URI_ENTRY)) {
    const uri = match[2] ?? "";
    if (!uri.startsWith(NODE_ID_URI_PREFIX) && !uri.startsWith(NODE_NAME_URI_PREFIX)) continue;
    const name = NAME_URI.exec(uri)?.[1];
    const id = name === undefined ? NODE_URI.exec(uri)?.[1] : NodeId.fromString(name).hex;
    if (id === undefined) return undefined;
    ids.add(id);
  }
  return ids.size === 1 ? [...ids][0] : undefined;
}

/** The node ID named by the PEM certificate in `certFile` (the first of its chain), or undefined. */
export function nodeIdOfCertificateFile(certFile: string): string | undefined {
  const cert = new X509Certificate(readFileSync(certFile));
  return nodeIdOfCertificate({ subjectaltname: cert.subjectAltName });
}

/** Why a claim was refused: the gRPC status to answer with and the reason to count. */
export interface ClaimRefusal {
  readonly code: "UNAUTHENTICATED" | "PERMISSION_DENIED";
  readonly reason: AuthFailureReason;
  readonly details: string;
}

/**
 * Checks what a peer says about itself against the certificate of the connection it spoke on: the
 * certificate must name exactly one node, that node must be the claimed ID, and every address claimed
 * must be one the certificate names (so no node can point others at an address it does not hold).
 * Undefined: the claim holds. The incarnation is the node's own business once its ID is proven.
 */
export function checkClaim(claim: NodeInfo, cert: CertificateNames | undefined): ClaimRefusal | undefined {
  const proven = nodeIdOfCertificate(cert);
  if (cert === undefined || proven === undefined) {
    return {
      code: "UNAUTHENTICATED",
      reason: "missing-identity",
      details: `the peer's certificate names no node (a URI SAN ${NODE_ID_URI_PREFIX}<32 hex digits>)`,
    };
  }
  if (proven !== claim.id.hex) {
    return {
      code: "PERMISSION_DENIED",
      reason: "identity-mismatch",
      details: `the certificate names node ${proven}, not the claimed ${claim.id.hex}`,
    };
  }
  for (const address of new Set([claim.localAddress, claim.globalAddress])) {
    if (checkServerIdentity(hostOf(address), certificateForNameCheck(cert)) !== undefined) {
      return {
        code: "PERMISSION_DENIED",
        reason: "address-mismatch",
        details: `the certificate of node ${proven} does not name the claimed address ${address}`,
      };
    }
  }
  return undefined;
}

/**
 * Whether an answer came from the node that was meant: `expectedIdHex` undefined (a seed dialled by address
 * before its ID is known) accepts any certified node.
 */
export function answeredBy(
  expectedIdHex: string | undefined,
  cert: CertificateNames | undefined,
): ClaimRefusal | undefined {
  const proven = nodeIdOfCertificate(cert);
  if (proven === undefined) {
    return {
      code: "UNAUTHENTICATED",
      reason: "missing-identity",
      details: "the answer came over a connection whose certificate names no node",
    };
  }
  if (expectedIdHex !== undefined && proven !== expectedIdHex) {
    return {
      code: "PERMISSION_DENIED",
      reason: "wrong-peer",
      details: `answered by node ${proven}, not by ${expectedIdHex} that was meant`,
    };
  }
  return undefined;
}

/** checkServerIdentity reads `subject.CN` when there are no DNS names; give it an object that has one. */
function certificateForNameCheck(cert: CertificateNames): PeerCertificate {
  return { subject: cert.subject ?? {}, subjectaltname: cert.subjectaltname } as PeerCertificate;
}

/** The host of "host:port" or "[ipv6]:port"; an address without a port is all host. */
export function hostOf(address: string): string {
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(address);
  if (bracketed !== null) return bracketed[1]!;
  const colon = address.lastIndexOf(":");
  return colon > 0 && address.indexOf(":") === colon ? address.slice(0, colon) : address;
}
