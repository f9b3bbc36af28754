// Everything a ring holds on disk rotated while it routes traffic, each file published the way Kubernetes
// publishes a Secret (a `..data` symlink swap, lib/secret-volume.ts), no daemon restarted:
// - a new CA: first every CA bundle holds both CAs, then every node gets a certificate from the new CA
//   (per-node identities: each names its node), then every bundle holds the new CA alone;
// - the cluster secret, in the three rounds of docs/configuration.md (old+new, new+old, new).
// Throughout, sends acknowledged by a subscriber at the key's owner keep succeeding (the ring stays whole);
// every node serves its new certificate on new connections, and a node holding only the new CA's
// certificate and the new key alone joins the three running ones and gets all of them in its leaf set.
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "node:tls";
import { afterAll, expect, it } from "vitest";
import { WendyClient } from "../../src/client/index.js";
import { LOG_READY, LOG_STARTED } from "../../src/server/daemon/daemon.js";
import { DaemonProcess, type LogLine } from "../../src/server/daemon/demo/daemon-process.js";
import { freePorts } from "../../src/server/daemon/demo/free-ports.js";
import { eventually, httpGet } from "../daemon/probes.js";
import { CertDir } from "../helpers/certs.js";
import { testSecret } from "../helpers/secrets.js";
import { SecretVolume } from "./lib/secret-volume.js";

const NAMES = ["live-0", "live-1", "live-2", "live-3"];
const PURPOSE = 16;
const OLD_KEY = testSecret("live rotation old");
const NEW_KEY = testSecret("live rotation new");
/** A reload interval far below the test's waits; file-system events usually come first anyway. */
const RELOAD_MS = 300;

const certs = new CertDir();
const root = mkdtempSync(join(tmpdir(), "wendy-live-rotation-"));
const processes: DaemonProcess[] = [];
const clients: WendyClient[] = [];
afterAll(async () => {
  for (const c of clients) c.close();
  for (const p of processes) p.signal("SIGKILL");
  await Promise.all(processes.map((p) => p.exited));
  certs.remove();
  rmSync(root, { recursive: true, force: true });
});

const pem = (name: string): Buffer => readFileSync(certs.file(name));
const serialOf = (leaf: string): string => new X509Certificate(pem(`${leaf}.crt`)).serialNumber;

/**
 * The serial number of the certificate a new TLS connection to `port` is shown, by a probe certified by
 * `ca` that trusts both CAs (so only the node can refuse it).
 */
function servedSerial(port: number, ca: "ca-old" | "ca-new"): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: "127.0.0.1",
      port,
      ca: [pem("ca-old.crt"), pem("ca-new.crt")],
      cert: pem(`probe-${ca}.crt`),
      key: pem(`probe-${ca}.key`),
      ALPNProtocols: ["h2"],
    });
    socket.once("secureConnect", () => {
      resolve(socket.getPeerCertificate().serialNumber);
      socket.destroy();
    });
    socket.once("error", reject);
  });
}

/**
 * Whether the node at `port` takes a connection from a probe certified by `ca`: under TLS 1.3 the client's
 * handshake completes before the server checked the client's certificate, so the verdict is whether the
 * node's HTTP/2 SETTINGS arrive (taken) or an alert and a close do (refused).
 */
function takesProbe(port: number, ca: "ca-old" | "ca-new"): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({
      host: "127.0.0.1",
      port,
      ca: [pem("ca-old.crt"), pem("ca-new.crt")],
      cert: pem(`probe-${ca}.crt`),
      key: pem(`probe-${ca}.key`),
      ALPNProtocols: ["h2"],
    });
    const verdict = (taken: boolean): void => {
      resolve(taken);
      socket.destroy();
    };
    socket.once("data", () => verdict(true));
    socket.once("error", () => verdict(false));
    socket.once("close", () => verdict(false));
  });
}

/** Sends acknowledged by a subscriber at the owner, one at a time through rotating nodes, until stopped. */
class Traffic {
  sent = 0;
  readonly failures: string[] = [];
  private running = true;
  private readonly done: Promise<void>;

  constructor(senders: readonly WendyClient[]) {
    this.done = (async () => {
      while (this.running) {
        const i = this.sent++;
        try {
          await senders[i % senders.length]!.send(`live-key-${i}`, PURPOSE, `payload ${i}`, {
            waitForAck: true,
            timeoutMs: 15_000,
          });
        } catch (error) {
          this.failures.push(`send ${i}: ${(error as Error).message}`);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
  }

  stop(): Promise<void> {
    this.running = false;
    return this.done;
  }
}

it("rotates the CA, every node's certificate and the cluster secret under traffic, with no restart and no split", async () => {
  certs.ca("ca-old");
  certs.ca("ca-new");
  for (const ca of ["ca-old", "ca-new"] as const) {
    certs.leaf(`probe-${ca}`, ca);
    for (const name of NAMES)
      certs.leaf(`${name}-${ca}`, ca, `URI:wendy://name/${name},IP:127.0.0.1,DNS:localhost`);
  }
  const bundle = (...cas: string[]): Buffer => Buffer.concat(cas.map((ca) => pem(`${ca}.crt`)));
  const volumes = NAMES.map((name) => new SecretVolume(join(root, name)));
  /** What node `i` holds on disk: its certificate from `ca`, the CA `bundle` and the secret's keys. */
  const publish = (i: number, ca: string, trusted: Buffer, keys: readonly string[]): void =>
    volumes[i]!.publish({
      "tls.crt": pem(`${NAMES[i]}-${ca}.crt`),
      "tls.key": pem(`${NAMES[i]}-${ca}.key`),
      "ca.crt": trusted,
      secret: `${keys.join("\n")}\n`,
    });

  const ports = await freePorts(NAMES.length);
  const seeds = ports
    .slice(0, 2)
    .map((p) => `127.0.0.1:${p}`)
    .join(",");
  const start = (i: number): DaemonProcess => {
    const volume = volumes[i]!;
    const p = new DaemonProcess({
      name: NAMES[i]!,
      env: {
        WENDY_NODE_NAME: NAMES[i]!,
        WENDY_BIND_HOST: "127.0.0.1",
        WENDY_PORT: String(ports[i]),
        WENDY_CLIENT_PORT: "0",
        WENDY_METRICS_HOST: "127.0.0.1",
        WENDY_METRICS_PORT: "0",
        WENDY_JOIN: seeds,
        WENDY_SECRET_FILE: volume.path("secret"),
        WENDY_TLS_CERT_FILE: volume.path("tls.crt"),
        WENDY_TLS_KEY_FILE: volume.path("tls.key"),
        WENDY_TLS_CA_FILE: volume.path("ca.crt"),
        WENDY_TLS_MUTUAL: "true",
        WENDY_TLS_NODE_IDENTITY: "true",
        WENDY_TLS_RELOAD_INTERVAL_MS: String(RELOAD_MS),
      },
    });
    processes.push(p);
    return p;
  };
  for (let i = 0; i < 3; i++) publish(i, "ca-old", bundle("ca-old"), [OLD_KEY]);
  const ring = [start(0), start(1), start(2)];
  const started: LogLine[] = await Promise.all(
    ring.map((p) => p.waitForLine((l) => l.msg === LOG_STARTED, 40_000, "started")),
  );
  await Promise.all(ring.map((p) => p.waitForLine((l) => l.msg === LOG_READY, 60_000, "ready")));

  // A subscriber at every node acknowledges what it owns; sends go in through every node in turn.
  const subscribers = started.map((line) => {
    const client = new WendyClient(`127.0.0.1:${String(line.clientPort)}`);
    clients.push(client);
    const stream = client.subscribe([PURPOSE]);
    void (async () => {
      for await (const _ of stream);
    })().catch(() => undefined);
    return client;
  });
  await new Promise((r) => setTimeout(r, 500));
  const traffic = new Traffic(subscribers);
  /** The `n`th "cluster secret reloaded" line of `p` (lines already seen count too). */
  const secretReload = (p: DaemonProcess, n: number): Promise<LogLine> => {
    let seen = 0;
    return p.waitForLine((l) => l.msg === "cluster secret reloaded" && ++seen === n, 20_000, `reload ${n}`);
  };
  const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 4 * RELOAD_MS + 500));

  // 1. Every bundle trusts both CAs.
  for (let i = 0; i < 3; i++) publish(i, "ca-old", bundle("ca-old", "ca-new"), [OLD_KEY]);
  await settle();
  // 2. Every node gets its certificate from the new CA, one after the other, and serves it.
  for (let i = 0; i < 3; i++) {
    publish(i, "ca-new", bundle("ca-old", "ca-new"), [OLD_KEY]);
    await eventually(
      `${NAMES[i]} serves its certificate from the new CA`,
      async () => (await servedSerial(ports[i]!, "ca-old")) === serialOf(`${NAMES[i]}-ca-new`),
    );
  }
  // 3. Every bundle holds the new CA alone: a probe certified by the old CA is refused.
  for (let i = 0; i < 3; i++) publish(i, "ca-new", bundle("ca-new"), [OLD_KEY]);
  await settle();
  for (let i = 0; i < 3; i++) {
    expect(await takesProbe(ports[i]!, "ca-old"), "the old CA is no longer trusted").toBe(false);
    expect(await takesProbe(ports[i]!, "ca-new"), "the new CA is").toBe(true);
  }
  // 4. The cluster secret in three rounds, each round node by node.
  for (const [round, keys] of [[OLD_KEY, NEW_KEY], [NEW_KEY, OLD_KEY], [NEW_KEY]].entries()) {
    for (let i = 0; i < 3; i++) {
      const reloaded = secretReload(ring[i]!, round + 1);
      publish(i, "ca-new", bundle("ca-new"), keys);
      expect((await reloaded).keys).toBe(keys.length);
    }
    await settle();
  }
  await traffic.stop();

  // The ring stayed whole: every send was acknowledged at its owner, none refused or lost.
  console.log(`${traffic.sent} acknowledged sends during the rotation, ${traffic.failures.length} failed`);
  expect(traffic.sent).toBeGreaterThan(20);
  expect(traffic.failures).toEqual([]);
  for (const [i, p] of ring.entries()) {
    expect(p.running).toBe(true);
    expect((await httpGet(`${String(started[i]!.metricsUrl)}/readyz`)).status).toBe(200);
  }
  // A node with only the new CA's certificate, the new CA and the new key joins them, over connections
  // that can only have been made with what was rotated in.
  publish(3, "ca-new", bundle("ca-new"), [NEW_KEY]);
  const late = start(3);
  const ready = await late.waitForLine((l) => l.msg === LOG_READY, 60_000, "ready");
  expect(ready.outcome).toBe("joined");
  const leafSet = ready.leafSet as { left: string[]; right: string[] };
  expect(new Set([...leafSet.left, ...leafSet.right]).size).toBe(3);
}, 240_000);
