// Two daemons with mutual TLS on the peer port and the secret from a file, as the chart runs them with
// TLS on: the seed check and the join both go over TLS, and the plaintext port is gone.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { LOG_READY, LOG_STARTED } from "../../src/server/daemon/daemon.js";
import { DaemonProcess } from "../../src/server/daemon/demo/daemon-process.js";
import { freePorts } from "../../src/server/daemon/demo/free-ports.js";
import { grpcHealth, httpGet, ServingStatus } from "./probes.js";
import { testSecret } from "../helpers/secrets.js";

const dir = mkdtempSync(join(tmpdir(), "wendy-daemon-tls-"));
const EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
function openssl(...args: string[]): void {
  execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
}

const processes: DaemonProcess[] = [];
afterAll(async () => {
  for (const p of processes) p.signal("SIGKILL");
  await Promise.all(processes.map((p) => p.exited));
  rmSync(dir, { recursive: true, force: true });
});

it("joins through a TLS seed and serves nothing in plaintext on the peer port", async () => {
  openssl("req", "-x509", ...EC_KEY, "-subj", "/CN=ca", "-days", "1", "-keyout", "ca.key", "-out", "ca.crt");
  writeFileSync(
    join(dir, "node.ext"),
    "basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n",
  );
  openssl("req", "-new", ...EC_KEY, "-subj", "/CN=node", "-keyout", "node.key", "-out", "node.csr");
  openssl(
    "x509",
    "-req",
    "-in",
    "node.csr",
    "-CA",
    "ca.crt",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-days",
    "1",
    "-extfile",
    "node.ext",
    "-out",
    "node.crt",
  );
  writeFileSync(join(dir, "secret"), `${testSecret("tls")}\n`);

  const ports = await freePorts(2);
  const seeds = ports.map((p) => `127.0.0.1:${p}`).join(",");
  const started = ports.map((port, i) => {
    const p = new DaemonProcess({
      name: `tls-${i}`,
      env: {
        WENDY_NODE_NAME: `tls-${i}`,
        WENDY_BIND_HOST: "127.0.0.1",
        WENDY_PORT: String(port),
        WENDY_CLIENT_PORT: "0",
        WENDY_METRICS_HOST: "127.0.0.1",
        WENDY_METRICS_PORT: "0",
        WENDY_JOIN: seeds,
        WENDY_SECRET_FILE: join(dir, "secret"),
        WENDY_TLS_CERT_FILE: join(dir, "node.crt"),
        WENDY_TLS_KEY_FILE: join(dir, "node.key"),
        WENDY_TLS_CA_FILE: join(dir, "ca.crt"),
        WENDY_TLS_MUTUAL: "true",
      },
    });
    processes.push(p);
    return p;
  });
  const readyLines = await Promise.all(
    started.map((p) => p.waitForLine((l) => l.msg === LOG_READY, 40_000, "ready")),
  );
  expect(readyLines.map((l) => l.outcome)).toEqual(["founded", "joined"]);
  const joiner = await started[1]!.waitForLine((l) => l.msg === LOG_STARTED, 1000, "started");
  expect((await httpGet(`${String(joiner.metricsUrl)}/readyz`)).status).toBe(200);
  // The peer port speaks only TLS: a plaintext health check cannot get an answer.
  expect(await grpcHealth(`127.0.0.1:${ports[1]}`, "")).not.toBe(ServingStatus.SERVING);
  // The client port stays plaintext on loopback.
  expect(await grpcHealth(`127.0.0.1:${String(joiner.clientPort)}`, "")).toBe(ServingStatus.SERVING);
  expect(started[1]!.lines.some((l) => String(l.msg).includes("not authenticated"))).toBe(false);

  for (const p of started) p.signal("SIGTERM");
  expect(await Promise.all(started.map((p) => p.exited))).toEqual([
    { code: 0, signal: null },
    { code: 0, signal: null },
  ]);
});
