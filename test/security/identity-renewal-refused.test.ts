// Per-node identities through a bad renewal: a certificate written over a running node's that names another
// node (or none) is refused at reload. The daemon keeps serving the certificate it had, says so in its log
// (reload_refused, with the node the refused certificate names) and counts it in
// wendy_certificate_reloads_refused_total by reason; peers keep talking to it, and a node that joins
// through it afterwards finds it under its own ID. A good renewal after that is taken up as usual.
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { NodeId } from "../../src/routing/id.js";
import { LOG_STARTED } from "../../src/server/daemon/daemon.js";
import type { LogLine } from "../../src/server/daemon/demo/daemon-process.js";
import { LOG_CERTIFICATE_REFUSED } from "../../src/server/cluster/renewal-refusals.js";
import { httpGet, eventually } from "../daemon/probes.js";
import { testSecret } from "../helpers/secrets.js";
import { joinedLeafSet, RenewedCertificates } from "./lib/renewed-certificates.js";

const renewal = new RenewedCertificates("renewal-refused");
const { certs, live } = renewal;
afterAll(() => renewal.remove());

const NAMES = ["renew-0", "renew-1", "renew-2"];

/** The value of wendy_certificate_reloads_refused_total{reason} in a scrape. */
function refusedCount(scrape: string, reason: string): number {
  const prefix = `wendy_certificate_reloads_refused_total{reason="${reason}"} `;
  const line = scrape.split("\n").find((l) => l.startsWith(prefix));
  if (line === undefined) throw new Error(`/metrics has no ${prefix.trim()}`);
  return Number(line.slice(prefix.length));
}

it(
  "a renewal naming another node or none is refused at reload: the old certificate stays served, the " +
    "refusal is logged and counted by reason, and the ring stays whole",
  async () => {
    certs.ca("ca");
    certs.nodeLeaf("probe", "ca", "00".repeat(16));
    for (const name of NAMES) {
      certs.leaf(`${name}-old`, "ca", `URI:wendy://name/${name},IP:127.0.0.1`);
      renewal.populate(name, `${name}-old`);
    }
    // What a misconfigured issuer could write over renew-0's files: another node's name, or no node at all.
    certs.leaf("other-node", "ca", `URI:wendy://name/${NAMES[1]},IP:127.0.0.1`);
    certs.leaf("no-node", "ca", "IP:127.0.0.1");
    certs.leaf("good", "ca", `URI:wendy://name/${NAMES[0]},IP:127.0.0.1`);

    const { ports, first, start } = await renewal.startRing({
      names: NAMES,
      secret: testSecret("renewal-refused"),
      folderPerNode: true,
      nodeIdentity: true,
    });
    const node0 = first[0]!;
    const metricsUrl = String(
      (await node0.waitForLine((l) => l.msg === LOG_STARTED, 1000, "started")).metricsUrl,
    );
    const scrape = async () => (await httpGet(`${metricsUrl}/metrics`)).body;
    expect(refusedCount(await scrape(), "identity_mismatch")).toBe(0);
    expect(refusedCount(await scrape(), "missing_identity")).toBe(0);
    const refusals = (): LogLine[] => node0.lines.filter((l) => l.msg === LOG_CERTIFICATE_REFUSED);

    // Another node's certificate: refused, logged with the node it names, counted.
    renewal.install("other-node", NAMES[0]!);
    const mismatch = await node0.waitForLine(
      (l) => l.msg === LOG_CERTIFICATE_REFUSED && l["reason"] === "identity-mismatch",
      20_000,
      "the refusal of another node's certificate",
    );
    expect(mismatch).toMatchObject({
      event: "reload_refused",
      file: join(live, NAMES[0]!, "tls.crt"),
      nodeId: NodeId.fromString(NAMES[0]!).hex,
      named: NodeId.fromString(NAMES[1]!).hex,
      serialNumber: renewal.serialOf("other-node"),
    });
    expect(await renewal.servedSerial(ports[0]!)).toBe(renewal.serialOf(`${NAMES[0]}-old`));
    // A certificate naming no node: refused the same way.
    renewal.install("no-node", NAMES[0]!);
    const missing = await node0.waitForLine(
      (l) => l.msg === LOG_CERTIFICATE_REFUSED && l["reason"] === "missing-identity",
      20_000,
      "the refusal of a certificate naming no node",
    );
    expect(missing["named"]).toBeNull();
    expect(await renewal.servedSerial(ports[0]!)).toBe(renewal.serialOf(`${NAMES[0]}-old`));
    // Each refused certificate is told once, however often the files are polled meanwhile (every 200 ms).
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(refusals().map((l) => l["reason"])).toEqual(["identity-mismatch", "missing-identity"]);
    const counted = await scrape();
    expect(refusedCount(counted, "identity_mismatch")).toBe(1);
    expect(refusedCount(counted, "missing_identity")).toBe(1);

    // Still itself to its peers: ready, and a node joining through it now, over new connections that are
    // shown the kept certificate, finds both nodes under their own IDs.
    expect(node0.running).toBe(true);
    expect((await httpGet(`${metricsUrl}/readyz`)).status).toBe(200);
    expect(await joinedLeafSet(start(2))).toEqual(
      new Set(NAMES.slice(0, 2).map((n) => NodeId.fromString(n).hex.slice(0, 8))),
    );

    // A good renewal (the same node) after the refused ones is served as usual.
    renewal.install("good", NAMES[0]!);
    await eventually(
      "the good renewal is served",
      async () => (await renewal.servedSerial(ports[0]!)) === renewal.serialOf("good"),
    );
  },
  120_000,
);
