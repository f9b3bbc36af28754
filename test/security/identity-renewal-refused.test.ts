// Per-node identities through a bad renewal: a certificate written over a running node's that names another
// node (or none) is refused at reload. The daemon keeps serving the certificate it had, says so in its log
// (reload_refused, with the node the refused certificate names) and counts it in
// wendy_certificate_reloads_refused_total by reason; peers keep talking to it, and a node that joins
// through it afterwards finds it under its own ID. A good renewal after that is taken up as usual.
import { X509Certificate } from "node:crypto";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "node:tls";
import { afterAll, expect, it } from "vitest";
import { NodeId } from "../../src/routing/id.js";
import { LOG_READY, LOG_STARTED } from "../../src/server/daemon/daemon.js";
import { DaemonProcess, type LogLine } from "../../src/server/daemon/demo/daemon-process.js";
import { freePorts } from "../../src/server/daemon/demo/free-ports.js";
import { LOG_CERTIFICATE_REFUSED } from "../../src/server/cluster/renewal-refusals.js";
import { httpGet, eventually } from "../daemon/probes.js";
import { CertDir } from "../helpers/certs.js";
import { testSecret } from "../helpers/secrets.js";

const certs = new CertDir();
const live = mkdtempSync(join(tmpdir(), "wendy-renewal-refused-"));
const processes: DaemonProcess[] = [];
afterAll(async () => {
  for (const p of processes) p.signal("SIGKILL");
  await Promise.all(processes.map((p) => p.exited));
  certs.remove();
  rmSync(live, { recursive: true, force: true });
});

const NAMES = ["renew-0", "renew-1", "renew-2"];

/** Puts `leaf`'s certificate and key where node `name` reads them, each file replaced in one rename. */
function install(name: string, leaf: string): void {
  for (const [from, to] of [
    [`${leaf}.crt`, "tls.crt"],
    [`${leaf}.key`, "tls.key"],
  ]) {
    copyFileSync(certs.file(from!), join(live, name, `${to}.new`));
    renameSync(join(live, name, `${to}.new`), join(live, name, to!));
  }
}

/** The serial number of the certificate a new TLS connection to `port` is shown. */
function servedSerial(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: "127.0.0.1",
      port,
      ca: readFileSync(certs.file("ca.crt")),
      cert: readFileSync(certs.file("probe.crt")),
      key: readFileSync(certs.file("probe.key")),
      ALPNProtocols: ["h2"],
    });
    socket.once("secureConnect", () => {
      resolve(socket.getPeerCertificate().serialNumber);
      socket.destroy();
    });
    socket.once("error", reject);
  });
}

function serialOf(leaf: string): string {
  return new X509Certificate(readFileSync(certs.file(`${leaf}.crt`))).serialNumber;
}

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
      mkdirSync(join(live, name));
      copyFileSync(certs.file("ca.crt"), join(live, name, "ca.crt"));
      install(name, `${name}-old`);
    }
    // What a misconfigured issuer could write over renew-0's files: another node's name, or no node at all.
    certs.leaf("other-node", "ca", `URI:wendy://name/${NAMES[1]},IP:127.0.0.1`);
    certs.leaf("no-node", "ca", "IP:127.0.0.1");
    certs.leaf("good", "ca", `URI:wendy://name/${NAMES[0]},IP:127.0.0.1`);

    const ports = await freePorts(3);
    const seeds = ports
      .slice(0, 2)
      .map((p) => `127.0.0.1:${p}`)
      .join(",");
    const start = (i: number): DaemonProcess => {
      const name = NAMES[i]!;
      const p = new DaemonProcess({
        name,
        env: {
          WENDY_NODE_NAME: name,
          WENDY_BIND_HOST: "127.0.0.1",
          WENDY_PORT: String(ports[i]),
          WENDY_CLIENT_PORT: "0",
          WENDY_METRICS_HOST: "127.0.0.1",
          WENDY_METRICS_PORT: "0",
          WENDY_JOIN: seeds,
          WENDY_SECRET: testSecret("renewal-refused"),
          WENDY_TLS_CERT_FILE: join(live, name, "tls.crt"),
          WENDY_TLS_KEY_FILE: join(live, name, "tls.key"),
          WENDY_TLS_CA_FILE: join(live, name, "ca.crt"),
          WENDY_TLS_MUTUAL: "true",
          WENDY_TLS_NODE_IDENTITY: "true",
          WENDY_TLS_RELOAD_INTERVAL_MS: "200",
        },
      });
      processes.push(p);
      return p;
    };
    const first = [start(0), start(1)];
    await Promise.all(first.map((p) => p.waitForLine((l) => l.msg === LOG_READY, 40_000, "ready")));
    const node0 = first[0]!;
    const metricsUrl = String(
      (await node0.waitForLine((l) => l.msg === LOG_STARTED, 1000, "started")).metricsUrl,
    );
    const scrape = async () => (await httpGet(`${metricsUrl}/metrics`)).body;
    expect(refusedCount(await scrape(), "identity_mismatch")).toBe(0);
    expect(refusedCount(await scrape(), "missing_identity")).toBe(0);
    const refusals = (): LogLine[] => node0.lines.filter((l) => l.msg === LOG_CERTIFICATE_REFUSED);

    // Another node's certificate: refused, logged with the node it names, counted.
    install(NAMES[0]!, "other-node");
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
      serialNumber: serialOf("other-node"),
    });
    expect(await servedSerial(ports[0]!)).toBe(serialOf(`${NAMES[0]}-old`));
    // A certificate naming no node: refused the same way.
    install(NAMES[0]!, "no-node");
    const missing = await node0.waitForLine(
      (l) => l.msg === LOG_CERTIFICATE_REFUSED && l["reason"] === "missing-identity",
      20_000,
      "the refusal of a certificate naming no node",
    );
    expect(missing["named"]).toBeNull();
    expect(await servedSerial(ports[0]!)).toBe(serialOf(`${NAMES[0]}-old`));
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
    const third = start(2);
    const ready = await third.waitForLine((l) => l.msg === LOG_READY, 40_000, "ready");
    expect(ready.outcome).toBe("joined");
    const leafSet = ready.leafSet as { left: string[]; right: string[] };
    expect(new Set([...leafSet.left, ...leafSet.right])).toEqual(
      new Set(NAMES.slice(0, 2).map((n) => NodeId.fromString(n).hex.slice(0, 8))),
    );

    // A good renewal (the same node) after the refused ones is served as usual.
    install(NAMES[0]!, "good");
    await eventually(
      "the good renewal is served",
      async () => (await servedSerial(ports[0]!)) === serialOf("good"),
    );
  },
  120_000,
);
