// The client port's token and certificate rotated on a running daemon, each published the way Kubernetes
// publishes a Secret (lib/secret-volume.ts): the token file lists the old and the new token for a window,
// then the new alone, and calls are accepted or refused accordingly; a renewed certificate is what new
// TLS connections to the client port are shown. No restart.
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "node:tls";
import { Metadata, credentials, status, type ServiceError } from "@grpc/grpc-js";
import { afterAll, expect, it } from "vitest";
import { OverlayServiceClient } from "../../src/gen/wendy/v1/overlay.js";
import { LOG_READY, LOG_STARTED } from "../../src/server/daemon/daemon.js";
import { DaemonProcess } from "../../src/server/daemon/demo/daemon-process.js";
import { eventually } from "../daemon/probes.js";
import { CertDir } from "../helpers/certs.js";
import { testSecret } from "../helpers/secrets.js";
import { SecretVolume } from "./lib/secret-volume.js";

const certs = new CertDir();
const root = mkdtempSync(join(tmpdir(), "wendy-client-rotation-"));
const cleanups: (() => void)[] = [];
afterAll(() => {
  for (const c of cleanups.reverse()) c();
  certs.remove();
  rmSync(root, { recursive: true, force: true });
});

const pem = (name: string): Buffer => readFileSync(certs.file(name));

/** The serial number of the certificate a new TLS connection to `port` is shown. */
function servedSerial(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: "127.0.0.1",
      port,
      ca: pem("ca.crt"),
      servername: "localhost",
      ALPNProtocols: ["h2"],
    });
    socket.once("secureConnect", () => {
      resolve(socket.getPeerCertificate().serialNumber);
      socket.destroy();
    });
    socket.once("error", reject);
  });
}

it("takes a rotated token list and a renewed certificate on the client port without a restart", async () => {
  certs.ca("ca");
  for (const leaf of ["first", "renewed"]) certs.leaf(leaf, "ca");
  const volume = new SecretVolume(join(root, "client"));
  const publish = (leaf: string, tokens: readonly string[]): void =>
    volume.publish({
      "tls.crt": pem(`${leaf}.crt`),
      "tls.key": pem(`${leaf}.key`),
      token: `${tokens.join("\n")}\n`,
    });
  publish("first", ["token-one"]);
  const daemon = new DaemonProcess({
    name: "client-rotation",
    env: {
      WENDY_NODE_NAME: "client-rotation",
      WENDY_BIND_HOST: "127.0.0.1",
      WENDY_PORT: "0",
      WENDY_CLIENT_PORT: "0",
      WENDY_METRICS_HOST: "127.0.0.1",
      WENDY_METRICS_PORT: "0",
      WENDY_SECRET: testSecret("client rotation"),
      WENDY_CLIENT_TOKEN_FILE: volume.path("token"),
      WENDY_CLIENT_TLS_CERT_FILE: volume.path("tls.crt"),
      WENDY_CLIENT_TLS_KEY_FILE: volume.path("tls.key"),
      WENDY_TLS_RELOAD_INTERVAL_MS: "300",
    },
  });
  cleanups.push(() => daemon.signal("SIGKILL"));
  const started = await daemon.waitForLine((l) => l.msg === LOG_STARTED, 40_000, "started");
  await daemon.waitForLine((l) => l.msg === LOG_READY, 40_000, "ready");
  const port = Number(started.clientPort);
  const client = new OverlayServiceClient(`127.0.0.1:${port}`, credentials.createSsl(pem("ca.crt")), {
    "grpc.ssl_target_name_override": "localhost",
  });
  cleanups.push(() => client.close());
  /** A Status call with `token`: its status code. */
  const statusWith = (token: string): Promise<status> =>
    new Promise((resolve) => {
      const metadata = new Metadata();
      metadata.set("authorization", `Bearer ${token}`);
      client.status({}, metadata, (error: ServiceError | null) =>
        resolve(error === null ? status.OK : error.code),
      );
    });
  const tokenReloads = (n: number): Promise<unknown> => {
    let seen = 0;
    return daemon.waitForLine(
      (l) => l.msg === "client token reloaded" && ++seen === n,
      20_000,
      `token reload ${n}`,
    );
  };

  expect(await statusWith("token-one")).toBe(status.OK);
  expect(await statusWith("token-two")).toBe(status.UNAUTHENTICATED);
  expect(await servedSerial(port)).toBe(new X509Certificate(pem("first.crt")).serialNumber);

  // The window: both tokens accepted; the certificate renewed at the same time.
  let reloaded = tokenReloads(1);
  publish("renewed", ["token-two", "token-one"]);
  await reloaded;
  expect(await statusWith("token-one")).toBe(status.OK);
  expect(await statusWith("token-two")).toBe(status.OK);
  const renewed = new X509Certificate(pem("renewed.crt")).serialNumber;
  await eventually("the renewed certificate is served", async () => (await servedSerial(port)) === renewed);

  // The old token retired.
  reloaded = tokenReloads(2);
  publish("renewed", ["token-two"]);
  await reloaded;
  expect(await statusWith("token-one")).toBe(status.UNAUTHENTICATED);
  expect(await statusWith("token-two")).toBe(status.OK);

  // A changed file with no token in it is refused: the tokens in use stay.
  publish("renewed", [""]);
  await daemon.waitForLine((l) => l.msg?.includes("holds no token") === true, 20_000, "refused token file");
  expect(await statusWith("token-two")).toBe(status.OK);
  expect(daemon.running).toBe(true);
}, 120_000);
