// Per-node identities through a certificate renewal: each daemon holds its own certificate naming its node
// (wendy://name/<node name>, as cert-manager's csi-driver writes it); each is renewed on disk (new key, same
// node) while the ring runs. Running daemons serve the new certificates without a restart, stay ready, and a
// node that joins afterwards, over connections that only see renewed certificates, gets a whole leaf set.
import { X509Certificate } from "node:crypto";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "node:tls";
import { afterAll, expect, it } from "vitest";
import { LOG_READY, LOG_STARTED } from "../../src/server/daemon/daemon.js";
import { DaemonProcess } from "../../src/server/daemon/demo/daemon-process.js";
import { freePorts } from "../../src/server/daemon/demo/free-ports.js";
import { httpGet, eventually } from "../daemon/probes.js";
import { CertDir } from "../helpers/certs.js";
import { testSecret } from "../helpers/secrets.js";

const certs = new CertDir();
const live = mkdtempSync(join(tmpdir(), "wendy-identity-rotation-"));
const processes: DaemonProcess[] = [];
afterAll(async () => {
  for (const p of processes) p.signal("SIGKILL");
  await Promise.all(processes.map((p) => p.exited));
  certs.remove();
  rmSync(live, { recursive: true, force: true });
});

const NAMES = ["idrot-0", "idrot-1", "idrot-2"];

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

it("renewed per-node certificates are served without a restart, and the ring stays whole", async () => {
  certs.ca("ca");
  certs.nodeLeaf("probe", "ca", "00".repeat(16));
  for (const name of NAMES) {
    for (const generation of ["old", "new"])
      certs.leaf(`${name}-${generation}`, "ca", `URI:wendy://name/${name},IP:127.0.0.1`);
    mkdirSync(join(live, name));
    copyFileSync(certs.file("ca.crt"), join(live, name, "ca.crt"));
    install(name, `${name}-old`);
  }

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
        WENDY_SECRET: testSecret("identity-rotation"),
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

  for (const [i, name] of NAMES.slice(0, 2).entries()) {
    install(name, `${name}-new`);
    await eventually(
      `${name} serves its renewed certificate`,
      async () => (await servedSerial(ports[i]!)) === serialOf(`${name}-new`),
    );
  }
  // Both kept running through it (same processes, still ready) ...
  for (const p of first) {
    expect(p.running).toBe(true);
    const started = await p.waitForLine((l) => l.msg === LOG_STARTED, 1000, "started");
    expect((await httpGet(`${String(started.metricsUrl)}/readyz`)).status).toBe(200);
  }
  // ... and a node holding only a renewed certificate joins them, over connections made after the renewal,
  // whose identities all check out.
  install(NAMES[2]!, `${NAMES[2]}-new`);
  const third = start(2);
  const ready = await third.waitForLine((l) => l.msg === LOG_READY, 40_000, "ready");
  expect(ready.outcome).toBe("joined");
  const leafSet = ready.leafSet as { left: string[]; right: string[] };
  expect(new Set([...leafSet.left, ...leafSet.right]).size).toBe(2);
}, 120_000);
