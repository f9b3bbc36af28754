// A certificate renewed on disk (as cert-manager does) is picked up by running daemons without a restart:
// new connections see the new certificate, and the ring stays whole: the nodes stay ready and a node that
// only holds the new certificate joins them.
import { X509Certificate } from "node:crypto";
import { copyFileSync, mkdtempSync, readFileSync, renameSync, rmSync } from "node:fs";
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
const live = mkdtempSync(join(tmpdir(), "wendy-rotation-"));
const processes: DaemonProcess[] = [];
afterAll(async () => {
  for (const p of processes) p.signal("SIGKILL");
  await Promise.all(processes.map((p) => p.exited));
  certs.remove();
  rmSync(live, { recursive: true, force: true });
});

/** Puts `leaf`'s certificate and key where the daemons read them, each file replaced in one rename. */
function install(leaf: string): void {
  for (const [from, to] of [
    [`${leaf}.crt`, "tls.crt"],
    [`${leaf}.key`, "tls.key"],
  ]) {
    copyFileSync(certs.file(from!), join(live, `${to}.new`));
    renameSync(join(live, `${to}.new`), join(live, to!));
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

it("a renewed certificate on disk is served without a restart, and the ring stays whole", async () => {
  certs.ca("ca");
  for (const leaf of ["old", "new", "probe"]) certs.leaf(leaf, "ca");
  copyFileSync(certs.file("ca.crt"), join(live, "ca.crt"));
  install("old");

  const ports = await freePorts(3);
  const seeds = ports
    .slice(0, 2)
    .map((p) => `127.0.0.1:${p}`)
    .join(",");
  const start = (i: number): DaemonProcess => {
    const p = new DaemonProcess({
      name: `rot-${i}`,
      env: {
        WENDY_NODE_NAME: `rot-${i}`,
        WENDY_BIND_HOST: "127.0.0.1",
        WENDY_PORT: String(ports[i]),
        WENDY_CLIENT_PORT: "0",
        WENDY_METRICS_HOST: "127.0.0.1",
        WENDY_METRICS_PORT: "0",
        WENDY_JOIN: seeds,
        WENDY_SECRET: testSecret("rotation"),
        WENDY_TLS_CERT_FILE: join(live, "tls.crt"),
        WENDY_TLS_KEY_FILE: join(live, "tls.key"),
        WENDY_TLS_CA_FILE: join(live, "ca.crt"),
        WENDY_TLS_MUTUAL: "true",
        WENDY_TLS_RELOAD_INTERVAL_MS: "200",
      },
    });
    processes.push(p);
    return p;
  };
  const first = [start(0), start(1)];
  await Promise.all(first.map((p) => p.waitForLine((l) => l.msg === LOG_READY, 40_000, "ready")));
  await eventually(
    "the old certificate is served",
    async () => (await servedSerial(ports[0]!)) === serialOf("old"),
  );

  install("new");
  for (const port of ports.slice(0, 2)) {
    await eventually(
      "the new certificate is served",
      async () => (await servedSerial(port)) === serialOf("new"),
    );
  }
  // Both kept running through it (same processes, still ready) ...
  for (const p of first) {
    expect(p.running).toBe(true);
    const started = await p.waitForLine((l) => l.msg === LOG_STARTED, 1000, "started");
    expect((await httpGet(`${String(started.metricsUrl)}/readyz`)).status).toBe(200);
  }
  // ... and a node holding only the new certificate joins them, over connections made after the renewal.
  const third = start(2);
  const ready = await third.waitForLine((l) => l.msg === LOG_READY, 40_000, "ready");
  expect(ready.outcome).toBe("joined");
  const leafSet = ready.leafSet as { left: string[]; right: string[] };
  expect(new Set([...leafSet.left, ...leafSet.right]).size).toBe(2);
}, 120_000);
