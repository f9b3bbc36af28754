// Safe by default: a daemon without a cluster secret, a client port beyond loopback without TLS, and bearer
// credentials without TLS all refuse to start unless insecurity is asked for explicitly, and a daemon told
// WENDY_INSECURE=true says so at every start. The client port speaks TLS when given a certificate.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { credentials as grpcCredentials, Client, Metadata, status, type ServiceError } from "@grpc/grpc-js";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { HealthCheckRequest, HealthCheckResponse } from "../../src/gen/grpc/health/v1/health.js";
import { NodeId } from "../../src/routing/id.js";
import type { Credentials } from "../../src/server/auth/credentials.js";
import { Cluster } from "../../src/server/cluster.js";
import { LOG_STARTED } from "../../src/server/daemon/daemon.js";
import { DaemonProcess, wendyBin } from "../../src/server/daemon/demo/daemon-process.js";
import { InvalidArgumentError } from "../../src/server/errors.js";
import { Node } from "../../src/server/node.js";
import { CertDir } from "../helpers/certs.js";
import { testSecret } from "../helpers/secrets.js";

const certs = new CertDir();
const processes: DaemonProcess[] = [];

beforeAll(() => {
  certs.ca("ca");
  certs.leaf("client-port", "ca");
});
afterAll(() => certs.remove());
afterEach(async () => {
  for (const p of processes.splice(0)) {
    p.signal("SIGKILL");
    await p.exited;
  }
});

const LOCAL = {
  WENDY_BIND_HOST: "127.0.0.1",
  WENDY_PORT: "0",
  WENDY_CLIENT_PORT: "0",
  WENDY_METRICS_HOST: "127.0.0.1",
  WENDY_METRICS_PORT: "0",
};

function startDaemon(name: string, env: Record<string, string>): DaemonProcess {
  const p = new DaemonProcess({ name, env: { WENDY_NODE_NAME: name, ...LOCAL, ...env } });
  processes.push(p);
  return p;
}

function runStart(env: Record<string, string>) {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("WENDY_")));
  return spawnSync(process.execPath, [wendyBin(), "start"], {
    env: { ...inherited, ...LOCAL, ...env },
    encoding: "utf8",
    timeout: 30_000,
  });
}

function healthCheck(client: Client): Promise<{ code: status; serving?: number }> {
  const body = Buffer.from(HealthCheckRequest.encode({ service: "" }).finish());
  return new Promise((resolve) =>
    client.makeUnaryRequest(
      "/grpc.health.v1.Health/Check",
      (b: Buffer) => b,
      (b: Buffer) => b,
      body,
      new Metadata(),
      { deadline: Date.now() + 5000 },
      (error: ServiceError | null, reply?: Buffer) =>
        resolve(
          error === null
            ? { code: status.OK, serving: HealthCheckResponse.decode(reply!).status }
            : { code: error.code },
        ),
    ),
  );
}

describe("insecure modes refuse to start", () => {
  it("a daemon without a secret exits 2 with one line naming WENDY_SECRET and WENDY_INSECURE", () => {
    const run = runStart({});
    expect(run.status).toBe(2);
    expect(run.stderr.trim().split("\n")).toHaveLength(1);
    expect(run.stderr).toContain("WENDY_SECRET");
    expect(run.stderr).toContain("WENDY_INSECURE=true");
  });

  it("a client port beyond loopback without TLS exits 2, even with a token and a secret", () => {
    const run = runStart({
      WENDY_SECRET: testSecret("insecure-modes"),
      WENDY_CLIENT_HOST: "0.0.0.0",
      WENDY_CLIENT_TOKEN: "a-token",
    });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain("WENDY_CLIENT_HOST");
    expect(run.stderr).toContain("WENDY_CLIENT_TLS_CERT_FILE");
  });

  it("WENDY_INSECURE=true starts without a secret and warns at every start, naming what is off", async () => {
    for (const attempt of [1, 2]) {
      const p = startDaemon(`insecure-${attempt}`, { WENDY_INSECURE: "true" });
      await p.waitForLine((l) => l.msg === LOG_STARTED, 30_000, "started");
      const warning = p.lines.find(
        (l) => typeof l.msg === "string" && l.msg.startsWith("WENDY_INSECURE=true"),
      );
      expect(warning?.level).toBe(40);
      expect(warning?.["insecure"]).toEqual(["no cluster secret: peers are not authenticated"]);
      p.signal("SIGKILL");
      await p.exited;
    }
  });

  it("bearer credentials without TLS are refused by the library unless allowInsecure is set", () => {
    const bearer: Credentials = { marshal: () => Buffer.from("t"), valid: () => true };
    const node = (): Node =>
      new Node({ id: NodeId.fromString("bearer"), localAddress: "127.0.0.1", port: 0 });
    expect(() => new Cluster(node(), bearer)).toThrow(InvalidArgumentError);
    expect(() => new Cluster(node(), bearer)).toThrow(/bearer credentials need TLS/);
    expect(() => new Cluster(node(), bearer, { allowInsecure: true })).not.toThrow();
    expect(() => new Cluster(node(), bearer, { tls: certs.tls("client-port", "ca", false) })).not.toThrow();
  });
});

describe("client port TLS", () => {
  it("serves the client port over TLS with the configured certificate, and nothing in plaintext", async () => {
    const p = startDaemon("client-tls", {
      WENDY_SECRET: testSecret("insecure-modes"),
      WENDY_CLIENT_TLS_CERT_FILE: certs.file("client-port.crt"),
      WENDY_CLIENT_TLS_KEY_FILE: certs.file("client-port.key"),
    });
    const line = await p.waitForLine((l) => l.msg === LOG_STARTED, 30_000, "started");
    const address = `127.0.0.1:${String(line["clientPort"])}`;
    const tls = new Client(address, grpcCredentials.createSsl(readFileSync(certs.file("ca.crt"))));
    const plain = new Client(address, grpcCredentials.createInsecure());
    try {
      expect((await healthCheck(tls)).code).toBe(status.OK);
      expect((await healthCheck(plain)).code).toBe(status.UNAVAILABLE);
    } finally {
      tls.close();
      plain.close();
    }
    expect(p.lines.some((l) => typeof l.msg === "string" && l.msg.startsWith("WENDY_INSECURE"))).toBe(false);
  });
});
