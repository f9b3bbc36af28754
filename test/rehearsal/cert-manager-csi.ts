// cert-manager's csi-driver (csi.cert-manager.io) as the rehearsal stands it in: for a pod's csi volume it
// reads the volume attributes the chart rendered, substitutes the pod's variables in them as the driver
// does (${POD_NAME}, ${POD_NAMESPACE}, ${SERVICE_ACCOUNT_NAME}), and has a throwaway CA issue what they ask
// for: the DNS, IP and URI SANs, the key usages, the duration. It writes what the driver writes (ca.crt,
// tls.crt, tls.key; mode 0440, group the fs-group attribute, in a directory of mode 0550, as
// cert-manager/csi-lib's storage does). The issuer named must be the one this stand-in was made for, and an
// attribute it does not understand is an error, never silently dropped.
import { readFileSync } from "node:fs";
import { CertDir } from "../helpers/certs.js";
import type { CsiFiles, CsiVolumeRequest } from "./pod-spec.js";

export const CSI_DRIVER = "csi.cert-manager.io";
const PREFIX = `${CSI_DRIVER}/`;

/** The issuer a chart's values name: what cert-manager would look up. */
export interface IssuerRef {
  readonly name: string;
  readonly kind: string;
  readonly group: string;
}

/** cert-manager's key usage names, as openssl names them: extended ones, then plain ones. */
const EXTENDED_USAGES: Readonly<Record<string, string>> = {
  "server auth": "serverAuth",
  "client auth": "clientAuth",
};
const KEY_USAGES: Readonly<Record<string, string>> = {
  "digital signature": "digitalSignature",
  "key encipherment": "keyEncipherment",
};
const UNDERSTOOD = new Set([
  "issuer-name",
  "issuer-kind",
  "issuer-group",
  "dns-names",
  "ip-sans",
  "uri-sans",
  "key-usages",
  "duration",
  "fs-group",
]);

/** A Go duration ("720h", "1h30m", "90s") in whole seconds. */
export function goDurationSeconds(text: string): number {
  const match = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(text);
  if (match === null || text === "") throw new Error(`duration ${text} is not understood`);
  return Number(match[1] ?? 0) * 3600 + Number(match[2] ?? 0) * 60 + Number(match[3] ?? 0);
}

function list(value: string | undefined): string[] {
  return (value ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

export class CertManagerCsi {
  private readonly certs = new CertDir();
  private issued = 0;

  constructor(readonly issuer: IssuerRef) {
    this.certs.ca("issuer-ca");
  }

  /** The CA's certificate (PEM), what every pod's ca.crt holds. */
  get caCertificate(): string {
    return readFileSync(this.certs.file("issuer-ca.crt"), "utf8");
  }

  /** What the driver writes into one pod's volume. */
  publish(request: CsiVolumeRequest): CsiFiles {
    if (request.driver !== CSI_DRIVER) throw new Error(`csi driver ${request.driver} is not simulated`);
    const attributes = new Map<string, string>();
    for (const [key, raw] of Object.entries(request.attributes)) {
      const name = key.startsWith(PREFIX) ? key.slice(PREFIX.length) : key;
      if (!key.startsWith(PREFIX) || !UNDERSTOOD.has(name))
        throw new Error(`csi attribute ${key} is not simulated by this rehearsal`);
      attributes.set(name, this.substitute(raw, request));
    }
    const issuer = {
      name: attributes.get("issuer-name") ?? "",
      kind: attributes.get("issuer-kind") ?? "Issuer",
      group: attributes.get("issuer-group") ?? "cert-manager.io",
    };
    if (
      issuer.name !== this.issuer.name ||
      issuer.kind !== this.issuer.kind ||
      issuer.group !== this.issuer.group
    )
      throw new Error(
        `no issuer ${issuer.kind}/${issuer.name} (${issuer.group}): this cluster has ` +
          `${this.issuer.kind}/${this.issuer.name} (${this.issuer.group})`,
      );
    const names = [
      ...list(attributes.get("uri-sans")).map((u) => `URI:${u}`),
      ...list(attributes.get("dns-names")).map((d) => `DNS:${d}`),
      ...list(attributes.get("ip-sans")).map((ip) => `IP:${ip}`),
    ];
    if (names.length === 0) throw new Error("the csi volume asks for a certificate that names nothing");
    // cert-manager's default usages, when none are asked for: digital signature, key encipherment.
    const usages = list(attributes.get("key-usages") ?? "digital signature,key encipherment");
    const unknown = usages.filter((u) => EXTENDED_USAGES[u] === undefined && KEY_USAGES[u] === undefined);
    if (unknown.length > 0) throw new Error(`key usages ${unknown.join(", ")} are not simulated`);
    const seconds = goDurationSeconds(attributes.get("duration") ?? "2160h");
    const fsGroup = attributes.get("fs-group");
    const leaf = `pod-${this.issued++}`;
    this.certs.leaf(leaf, "issuer-ca", names.join(","), {
      extendedKeyUsage: usages.flatMap((u) => EXTENDED_USAGES[u] ?? []),
      keyUsage: usages.flatMap((u) => KEY_USAGES[u] ?? []),
      days: Math.max(1, Math.ceil(seconds / 86_400)),
    });
    const read = (file: string): string => readFileSync(this.certs.file(file), "utf8");
    return {
      group: fsGroup === undefined ? 0 : Number(fsGroup),
      dirMode: 0o550,
      files: [
        { path: "ca.crt", content: this.caCertificate, mode: 0o440 },
        { path: "tls.crt", content: read(`${leaf}.crt`), mode: 0o440 },
        { path: "tls.key", content: read(`${leaf}.key`), mode: 0o440 },
      ],
    };
  }

  remove(): void {
    this.certs.remove();
  }

  /** The driver's substitutions of the pod's own values; any other ${...} is left for the check to catch. */
  private substitute(value: string, request: CsiVolumeRequest): string {
    const pod: Readonly<Record<string, string>> = {
      POD_NAME: request.podName,
      POD_NAMESPACE: request.namespace,
      SERVICE_ACCOUNT_NAME: request.serviceAccountName,
    };
    return value.replace(/\$\{([A-Z_]+)\}/g, (whole, name: string) => {
      const found = pod[name];
      if (found === undefined) throw new Error(`csi attribute variable ${whole} is not simulated`);
      return found;
    });
  }
}
