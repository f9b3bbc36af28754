// Peer certificates renewed on disk under running daemons, as cert-manager renews them: throwaway
// certificates (CertDir), the live files the daemons read (each replaced in one rename), daemons started on
// those files with mutual TLS reloaded every 200 ms, and the serial number a new TLS connection is shown.
// remove() kills the daemons and deletes every file. And what the renewal tests expect of a ring after it.
import { X509Certificate } from "node:crypto";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "node:tls";
import { expect } from "vitest";
import { LOG_READY, LOG_STARTED } from "../../../src/server/daemon/daemon.js";
import { DaemonProcess } from "../../../src/server/daemon/demo/daemon-process.js";
import { freePorts } from "../../../src/server/daemon/demo/free-ports.js";
import { httpGet } from "../../daemon/probes.js";
import { CertDir } from "../../helpers/certs.js";

/** A ring of daemons on 127.0.0.1 with mutual TLS from the live files, the first two seeding the rest. */
export interface RingOptions {
  readonly names: readonly string[];
  readonly secret: string;
  /** Each node reads its files from the folder named after it (else all from the top one). */
  readonly folderPerNode: boolean;
  /** Per-node identities (WENDY_TLS_NODE_IDENTITY=true). */
  readonly nodeIdentity: boolean;
}

export interface RenewingRing {
  /** Node i's peer port. */
  readonly ports: readonly number[];
  /** The first two nodes, ready. */
  readonly first: readonly DaemonProcess[];
  /** Starts node i (not yet started) with the ring's settings. */
  start(i: number): DaemonProcess;
}

export class RenewedCertificates {
  readonly certs = new CertDir();
  /** Where the daemons read their files. */
  readonly live: string;
  private readonly processes: DaemonProcess[] = [];

  constructor(prefix: string) {
    this.live = mkdtempSync(join(tmpdir(), `wendy-${prefix}-`));
  }

  /** Lays out `folder` of the live files: the "ca" certificate as ca.crt, and `leaf`'s installed. */
  populate(folder: string, leaf: string): void {
    mkdirSync(join(this.live, folder), { recursive: true });
    copyFileSync(this.certs.file("ca.crt"), join(this.live, folder, "ca.crt"));
    this.install(leaf, folder);
  }

  /** Puts `leaf`'s certificate and key into `folder` of the live files, each file replaced in one rename. */
  install(leaf: string, folder = ""): void {
    for (const [from, to] of [
      [`${leaf}.crt`, "tls.crt"],
      [`${leaf}.key`, "tls.key"],
    ] as const) {
      copyFileSync(this.certs.file(from), join(this.live, folder, `${to}.new`));
      renameSync(join(this.live, folder, `${to}.new`), join(this.live, folder, to));
    }
  }

  /** The serial number of the certificate a new TLS connection to `port` is shown, by the "probe" leaf. */
  servedSerial(port: number): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = connect({
        host: "127.0.0.1",
        port,
        ca: readFileSync(this.certs.file("ca.crt")),
        cert: readFileSync(this.certs.file("probe.crt")),
        key: readFileSync(this.certs.file("probe.key")),
        ALPNProtocols: ["h2"],
      });
      socket.once("secureConnect", () => {
        resolve(socket.getPeerCertificate().serialNumber);
        socket.destroy();
      });
      socket.once("error", reject);
    });
  }

  serialOf(leaf: string): string {
    return new X509Certificate(readFileSync(this.certs.file(`${leaf}.crt`))).serialNumber;
  }

  /** Starts the ring's first two nodes, each other's seeds; resolves once both are ready. */
  async startRing(options: RingOptions): Promise<RenewingRing> {
    const ports = await freePorts(options.names.length);
    const seeds = ports
      .slice(0, 2)
      .map((p) => `127.0.0.1:${p}`)
      .join(",");
    const start = (i: number): DaemonProcess => {
      const name = options.names[i]!;
      const files = join(this.live, options.folderPerNode ? name : "");
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
          WENDY_SECRET: options.secret,
          WENDY_TLS_CERT_FILE: join(files, "tls.crt"),
          WENDY_TLS_KEY_FILE: join(files, "tls.key"),
          WENDY_TLS_CA_FILE: join(files, "ca.crt"),
          WENDY_TLS_MUTUAL: "true",
          ...(options.nodeIdentity ? { WENDY_TLS_NODE_IDENTITY: "true" } : {}),
          WENDY_TLS_RELOAD_INTERVAL_MS: "200",
        },
      });
      this.processes.push(p);
      return p;
    };
    const first = [start(0), start(1)];
    await Promise.all(first.map((p) => p.waitForLine((l) => l.msg === LOG_READY, 40_000, "ready")));
    return { ports, first, start };
  }

  /** Kills every daemon started here, then deletes the certificates and the live files. */
  async remove(): Promise<void> {
    for (const p of this.processes) p.signal("SIGKILL");
    await Promise.all(this.processes.map((p) => p.exited));
    this.certs.remove();
    rmSync(this.live, { recursive: true, force: true });
  }
}

/** Each of `nodes` is still the process it was (no restart) and still answers /readyz with 200. */
export async function expectStillReady(nodes: readonly DaemonProcess[]): Promise<void> {
  for (const p of nodes) {
    expect(p.running).toBe(true);
    const started = await p.waitForLine((l) => l.msg === LOG_STARTED, 1000, "started");
    expect((await httpGet(`${String(started.metricsUrl)}/readyz`)).status).toBe(200);
  }
}

/** Waits for `node` to be ready, expects it to have joined a ring, and gives its leaf set (ID prefixes). */
export async function joinedLeafSet(node: DaemonProcess): Promise<Set<string>> {
  const ready = await node.waitForLine((l) => l.msg === LOG_READY, 40_000, "ready");
  expect(ready.outcome).toBe("joined");
  const leafSet = ready.leafSet as { left: string[]; right: string[] };
  return new Set([...leafSet.left, ...leafSet.right]);
}
