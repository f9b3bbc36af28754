// docs/configuration.md as executable checks: defaults, precedence (flags > environment > config file),
// and every invalid value failing with a one-line message that names the variable.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { NodeId } from "../../src/routing/id.js";
import { ConfigError } from "../../src/server/daemon/config-error.js";
import { loadConfig } from "../../src/server/daemon/config.js";
import { wendyBin } from "../../src/server/daemon/demo/daemon-process.js";
import { CertDir } from "../helpers/certs.js";
import { testSecret } from "../helpers/secrets.js";

const dir = mkdtempSync(join(tmpdir(), "wendy-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
function file(name: string, contents: string): string {
  const path = join(dir, name);
  writeFileSync(path, contents);
  return path;
}
const PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

// Every node needs a secret (or WENDY_INSECURE=true); tests about other settings get this one.
const BASE_SECRET = testSecret("config");
function load(env: Record<string, string>, flags: Record<string, unknown> = {}) {
  const securityGiven = ["WENDY_SECRET", "WENDY_SECRET_FILE", "WENDY_INSECURE"].some((k) => k in env);
  return loadConfig({ flags, env: securityGiven ? env : { WENDY_SECRET: BASE_SECRET, ...env } });
}

function failure(env: Record<string, string>, flags: Record<string, unknown> = {}): ConfigError {
  try {
    load(env, flags);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error(`no ConfigError for ${JSON.stringify(env)} ${JSON.stringify(flags)}`);
}

describe("defaults", () => {
  it("are the contract's", () => {
    const c = load({});
    expect(c).toMatchObject({
      idSource: "random",
      bindHost: "0.0.0.0",
      port: 7070,
      localAddress: undefined,
      globalAddress: undefined,
      region: "default",
      join: [],
      clientHost: "127.0.0.1",
      clientPort: 7071,
      clientSocket: undefined,
      clientToken: undefined,
      metricsHost: "0.0.0.0",
      metricsPort: 9464,
      secret: BASE_SECRET,
      insecure: false,
      clientTls: undefined,
      tls: { enabled: false },
      logLevel: "info",
      leafSetSize: 32,
      heartbeatIntervalMs: 5000,
      failureTimeoutMs: 6000,
      regionMultiplier: 10,
      tableMaintenanceIntervalMs: 60000,
      maxPayloadBytes: 4194304,
      shutdownGraceMs: 10000,
      deliveryGraceMs: 5000,
      unknownEnv: [],
    });
    expect(load({}).nodeId.hex).not.toBe(c.nodeId.hex);
  });

  it("derives the ID from the name, and WENDY_NODE_ID wins over it", () => {
    expect(load({ WENDY_NODE_NAME: "wendy-0" }).nodeId.hex).toBe(NodeId.fromString("wendy-0").hex);
    const both = load({ WENDY_NODE_NAME: "wendy-0", WENDY_NODE_ID: "00112233445566778899AABBCCDDEEFF" });
    expect(both.nodeId.hex).toBe("00112233445566778899aabbccddeeff");
    expect(both.idSource).toBe("id");
  });
});

describe("precedence: flags > environment > config file", () => {
  const configFile = file(
    "wendy.json",
    JSON.stringify({ port: 1001, region: "file-region", join: ["h:1", "h:2"] }),
  );

  it("takes each setting from the strongest source that sets it", () => {
    expect(load({ WENDY_CONFIG: configFile }).port).toBe(1001);
    expect(load({ WENDY_CONFIG: configFile, WENDY_PORT: "1002" }).port).toBe(1002);
    expect(load({ WENDY_CONFIG: configFile, WENDY_PORT: "1002" }, { port: "1003" }).port).toBe(1003);
    const mixed = load({ WENDY_CONFIG: configFile, WENDY_PORT: "1002" }, { port: "1003" });
    expect(mixed.region).toBe("file-region");
    expect(mixed.join).toEqual(["h:1", "h:2"]);
  });

  it("treats an empty variable as unset", () => {
    expect(load({ WENDY_CONFIG: configFile, WENDY_PORT: "" }).port).toBe(1001);
    expect(load({ WENDY_REGION: "" }).region).toBe("default");
  });

  it("reads --config before WENDY_CONFIG", () => {
    const other = file("other.json", JSON.stringify({ port: 2001 }));
    expect(load({ WENDY_CONFIG: configFile }, { config: other }).port).toBe(2001);
  });

  it("refuses a leaf-set size below 4, saying it must survive one failed neighbour per side; accepts 4", () => {
    expect(failure({ WENDY_LEAF_SET_SIZE: "2" }).message).toMatch(/at least 4.*one failed neighbour/);
    expect(load({ WENDY_LEAF_SET_SIZE: "4" }).leafSetSize).toBe(4);
  });

  it("names the source of a bad value: the flag, or the file and key", () => {
    expect(failure({ WENDY_PORT: "1" }, { port: "x" }).message).toContain("--port");
    const bad = file("bad.json", JSON.stringify({ leafSetSize: 3 }));
    const error = failure({ WENDY_CONFIG: bad });
    expect(error.variable).toBe("WENDY_LEAF_SET_SIZE");
    expect(error.message).toContain(bad);
    expect(error.message).toContain("leafSetSize");
  });

  it("refuses unreadable, malformed and unknown-key config files", () => {
    expect(failure({ WENDY_CONFIG: join(dir, "missing.json") }).variable).toBe("WENDY_CONFIG");
    expect(failure({ WENDY_CONFIG: file("broken.json", "{port:") }).variable).toBe("WENDY_CONFIG");
    expect(failure({}, { config: file("typo.json", '{"prot": 1}') }).message).toContain('"prot"');
  });
});

describe("values", () => {
  it("parses seeds, ignoring spaces and empty entries", () => {
    expect(load({ WENDY_JOIN: " a.example:7070 ,, [::1]:7071 ," }).join).toEqual([
      "a.example:7070",
      "[::1]:7071",
    ]);
  });

  it("reads the region file once, trimmed; empty means default; WENDY_REGION wins", () => {
    expect(load({ WENDY_REGION_FILE: file("region", "  eu-west-1\n") }).region).toBe("eu-west-1");
    expect(load({ WENDY_REGION_FILE: file("empty-region", "\n") }).region).toBe("default");
    expect(load({ WENDY_REGION_FILE: join(dir, "nope"), WENDY_REGION: "r" }).region).toBe("r");
  });

  it("reads the secret file as one key a line: this node's first, the others accepted during a rotation", () => {
    const key = testSecret("config");
    const next = testSecret("config next");
    expect(load({ WENDY_SECRET_FILE: file("s1", `${key}\r\n`) })).toMatchObject({
      secret: key,
      secretAlso: [],
    });
    expect(load({ WENDY_SECRET_FILE: file("s2", `${key}\n\n${next}\n`) })).toMatchObject({
      secret: key,
      secretAlso: [next],
    });
    // Every line must be a strong key.
    expect(() => load({ WENDY_SECRET_FILE: file("s3", `${key}\nhunter2\n`) })).toThrow(
      /WENDY_SECRET_FILE.*key 2 \(of 2\) is too weak/,
    );
  });

  it("reads the client token file as one token a line, the first in use", () => {
    const c = load({ WENDY_CLIENT_TOKEN_FILE: file("t1", "new-token\nold-token\n") });
    expect(c).toMatchObject({ clientToken: "new-token", clientTokensAlso: ["old-token"] });
    expect(() => load({ WENDY_CLIENT_TOKEN_FILE: file("t2", "\n") })).toThrow(
      /WENDY_CLIENT_TOKEN_FILE.*no token/,
    );
    expect(() => load({ WENDY_CLIENT_TOKEN: "a", WENDY_CLIENT_TOKEN_FILE: file("t3", "b") })).toThrow(
      /only one/,
    );
  });

  it("turns TLS on with certificate, key and CA files", () => {
    const tls = load({
      WENDY_TLS_CERT_FILE: file("cert.pem", PEM),
      WENDY_TLS_KEY_FILE: file("key.pem", PEM),
      WENDY_TLS_CA_FILE: file("ca.pem", PEM),
      WENDY_TLS_MUTUAL: "true",
    }).tls;
    expect(tls).toMatchObject({ enabled: true, mutual: true, reloadIntervalMs: 60_000 });
  });

  describe("per-node identities (WENDY_TLS_NODE_IDENTITY)", () => {
    const certs = new CertDir();
    afterAll(() => certs.remove());
    const id = NodeId.fromString("certified").hex;
    certs.ca("ca");
    certs.nodeLeaf("node", "ca", id);
    certs.leaf("plain", "ca");
    const identity = (leaf: string, extra: Record<string, string> = {}) => ({
      WENDY_TLS_CERT_FILE: certs.file(`${leaf}.crt`),
      WENDY_TLS_KEY_FILE: certs.file(`${leaf}.key`),
      WENDY_TLS_CA_FILE: certs.file("ca.crt"),
      WENDY_TLS_MUTUAL: "true",
      WENDY_TLS_NODE_IDENTITY: "true",
      ...extra,
    });

    it("takes the node ID from the certificate's URI SAN", () => {
      const config = load(identity("node"));
      expect(config.nodeId.hex).toBe(id);
      expect(config.idSource).toBe("certificate");
      expect(config.tls).toMatchObject({ enabled: true, mutual: true, nodeIdentity: true });
      expect(load(identity("node", { WENDY_NODE_NAME: "certified" })).nodeId.hex).toBe(id);
    });

    it("refuses a certificate naming no node, another ID than the certificate's, and one-way TLS", () => {
      expect(failure(identity("plain")).variable).toBe("WENDY_TLS_CERT_FILE");
      expect(failure(identity("node", { WENDY_NODE_NAME: "someone-else" })).variable).toBe("WENDY_NODE_NAME");
      expect(failure(identity("node", { WENDY_NODE_ID: "00".repeat(16) })).variable).toBe("WENDY_NODE_ID");
      expect(failure(identity("node", { WENDY_TLS_MUTUAL: "false" })).variable).toBe(
        "WENDY_TLS_NODE_IDENTITY",
      );
      expect(failure({ WENDY_TLS_NODE_IDENTITY: "true" }).variable).toBe("WENDY_TLS_NODE_IDENTITY");
    });
  });

  it("accepts a token-protected client port off loopback with TLS, and local addresses on the peer port", () => {
    const tls = {
      WENDY_CLIENT_TLS_CERT_FILE: file("client.crt", PEM),
      WENDY_CLIENT_TLS_KEY_FILE: file("client.key", PEM),
    };
    const exposed = load({ WENDY_CLIENT_HOST: "0.0.0.0", WENDY_CLIENT_TOKEN: "t", ...tls });
    expect(exposed.clientHost).toBe("0.0.0.0");
    expect(exposed.clientTls).toEqual({
      certFile: tls.WENDY_CLIENT_TLS_CERT_FILE,
      keyFile: tls.WENDY_CLIENT_TLS_KEY_FILE,
    });
    const c = load({ WENDY_PORT: "7070", WENDY_LOCAL_ADDRESS: "wendy-0.wendy-headless.default.svc:7070" });
    expect(c.localAddress).toEqual({ host: "wendy-0.wendy-headless.default.svc", port: 7070 });
  });

  it("takes an absolute WENDY_CLIENT_SOCKET path for the client services' Unix socket", () => {
    expect(load({ WENDY_CLIENT_SOCKET: "/var/run/wendy/client.sock" }).clientSocket).toBe(
      "/var/run/wendy/client.sock",
    );
    expect(failure({ WENDY_CLIENT_SOCKET: "wendy.sock" }).message).toContain("must be an absolute path");
  });

  it("refuses a client port off loopback without TLS, unless WENDY_INSECURE=true", () => {
    const exposed = { WENDY_CLIENT_HOST: "0.0.0.0", WENDY_CLIENT_TOKEN: "t" };
    const error = failure(exposed);
    expect(error.variable).toBe("WENDY_CLIENT_HOST");
    expect(error.message).toContain("WENDY_CLIENT_TLS_CERT_FILE");
    const insecure = load({ ...exposed, WENDY_SECRET: BASE_SECRET, WENDY_INSECURE: "true" });
    expect(insecure).toMatchObject({ clientHost: "0.0.0.0", clientTls: undefined, insecure: true });
  });

  it("refuses to run without a cluster secret, unless WENDY_INSECURE=true", () => {
    const error = failure({ WENDY_INSECURE: "false" });
    expect(error.variable).toBe("WENDY_SECRET");
    expect(error.message).toContain("WENDY_INSECURE=true");
    expect(load({ WENDY_INSECURE: "true" })).toMatchObject({ secret: undefined, insecure: true });
  });

  it("takes a table maintenance interval in ms, or off for never, from every source", () => {
    const env = "WENDY_TABLE_MAINTENANCE_INTERVAL_MS";
    expect(load({ [env]: "5000" }).tableMaintenanceIntervalMs).toBe(5000);
    expect(load({ [env]: " 1000 " }).tableMaintenanceIntervalMs).toBe(1000);
    expect(load({ [env]: "86400000" }).tableMaintenanceIntervalMs).toBe(86_400_000);
    expect(load({ [env]: "off" }).tableMaintenanceIntervalMs).toBe(Infinity);
    expect(load({}, { tableMaintenanceIntervalMs: "off" }).tableMaintenanceIntervalMs).toBe(Infinity);
    const numberInFile = file("maintenance.json", JSON.stringify({ tableMaintenanceIntervalMs: 120000 }));
    expect(load({ WENDY_CONFIG: numberInFile }).tableMaintenanceIntervalMs).toBe(120_000);
    const offInFile = file("maintenance-off.json", JSON.stringify({ tableMaintenanceIntervalMs: "off" }));
    expect(load({ WENDY_CONFIG: offInFile }).tableMaintenanceIntervalMs).toBe(Infinity);
  });

  it("tells how to turn table maintenance off when the interval is refused", () => {
    const error = failure({ WENDY_TABLE_MAINTENANCE_INTERVAL_MS: "0" });
    expect(error.message).toContain('"0"');
    expect(error.message).toContain("1000..86400000");
    expect(error.message).toContain("or off");
  });

  it("lists unknown WENDY_* variables for a warning", () => {
    expect(load({ WENDY_PROT: "1", WENDY_CONFIG: "", HOME: "/" }).unknownEnv).toEqual(["WENDY_PROT"]);
  });
});

describe("every invalid value is refused, naming its variable", () => {
  const tlsPaths = {
    cert: file("c.pem", PEM),
    key: file("k.pem", PEM),
    ca: file("ca2.pem", PEM),
    notPem: file("not.pem", "hello"),
  };
  const cases: [string, Record<string, string>][] = [
    ["WENDY_NODE_ID", { WENDY_NODE_ID: "xyz" }],
    ["WENDY_NODE_ID", { WENDY_NODE_ID: "0011223344556677889900aabbccddeeff" }],
    ["WENDY_BIND_HOST", { WENDY_BIND_HOST: "not a host" }],
    ["WENDY_PORT", { WENDY_PORT: "abc" }],
    ["WENDY_PORT", { WENDY_PORT: "65536" }],
    ["WENDY_PORT", { WENDY_PORT: "-1" }],
    ["WENDY_LOCAL_ADDRESS", { WENDY_LOCAL_ADDRESS: "no-port" }],
    ["WENDY_LOCAL_ADDRESS", { WENDY_LOCAL_ADDRESS: "h:7071" }],
    ["WENDY_LOCAL_ADDRESS", { WENDY_PORT: "0", WENDY_LOCAL_ADDRESS: "h:7070" }],
    ["WENDY_GLOBAL_ADDRESS", { WENDY_GLOBAL_ADDRESS: "h:0" }],
    ["WENDY_REGION", { WENDY_REGION: "   " }],
    ["WENDY_REGION_FILE", { WENDY_REGION_FILE: "/nonexistent/region" }],
    ["WENDY_JOIN", { WENDY_JOIN: "a:1,b" }],
    ["WENDY_JOIN", { WENDY_JOIN: "a:99999" }],
    ["WENDY_CLIENT_HOST", { WENDY_CLIENT_HOST: "0.0.0.0" }],
    ["WENDY_CLIENT_HOST", { WENDY_CLIENT_HOST: "-bad-" }],
    ["WENDY_CLIENT_PORT", { WENDY_CLIENT_PORT: "x" }],
    ["WENDY_CLIENT_SOCKET", { WENDY_CLIENT_SOCKET: "run/wendy.sock" }],
    ["WENDY_CLIENT_SOCKET", { WENDY_CLIENT_SOCKET: `/${"s".repeat(120)}` }],
    ["WENDY_METRICS_HOST", { WENDY_METRICS_HOST: "a b" }],
    ["WENDY_METRICS_PORT", { WENDY_METRICS_PORT: "1.5" }],
    ["WENDY_SECRET_FILE", { WENDY_SECRET_FILE: "/nonexistent/secret" }],
    ["WENDY_SECRET_FILE", { WENDY_SECRET_FILE: file("empty-secret", "\n") }],
    ["WENDY_SECRET_FILE", { WENDY_SECRET: "hunter2", WENDY_SECRET_FILE: file("s3", "x") }],
    ["WENDY_SECRET", { WENDY_SECRET: "s3cret" }],
    ["WENDY_SECRET", { WENDY_SECRET: "correct horse battery staple" }],
    ["WENDY_SECRET_FILE", { WENDY_SECRET_FILE: file("weak-secret", "wendy-demo-secret\n") }],
    ["WENDY_TLS_KEY_FILE", { WENDY_TLS_CERT_FILE: tlsPaths.cert, WENDY_TLS_CA_FILE: tlsPaths.ca }],
    ["WENDY_TLS_CERT_FILE", { WENDY_TLS_KEY_FILE: tlsPaths.key, WENDY_TLS_CA_FILE: tlsPaths.ca }],
    ["WENDY_TLS_CA_FILE", { WENDY_TLS_CERT_FILE: tlsPaths.cert, WENDY_TLS_KEY_FILE: tlsPaths.key }],
    ["WENDY_TLS_CA_FILE", { WENDY_TLS_CA_FILE: tlsPaths.ca }],
    [
      "WENDY_TLS_CERT_FILE",
      {
        WENDY_TLS_CERT_FILE: "/nonexistent/c",
        WENDY_TLS_KEY_FILE: tlsPaths.key,
        WENDY_TLS_CA_FILE: tlsPaths.ca,
      },
    ],
    [
      "WENDY_TLS_KEY_FILE",
      {
        WENDY_TLS_CERT_FILE: tlsPaths.cert,
        WENDY_TLS_KEY_FILE: tlsPaths.notPem,
        WENDY_TLS_CA_FILE: tlsPaths.ca,
      },
    ],
    ["WENDY_CLIENT_TLS_KEY_FILE", { WENDY_CLIENT_TLS_CERT_FILE: tlsPaths.cert }],
    ["WENDY_CLIENT_TLS_CERT_FILE", { WENDY_CLIENT_TLS_KEY_FILE: tlsPaths.key }],
    [
      "WENDY_CLIENT_TLS_KEY_FILE",
      { WENDY_CLIENT_TLS_CERT_FILE: tlsPaths.cert, WENDY_CLIENT_TLS_KEY_FILE: tlsPaths.notPem },
    ],
    ["WENDY_INSECURE", { WENDY_INSECURE: "yes" }],
    ["WENDY_TLS_MUTUAL", { WENDY_TLS_MUTUAL: "yes" }],
    [
      "WENDY_TLS_RELOAD_INTERVAL_MS",
      {
        WENDY_TLS_CERT_FILE: tlsPaths.cert,
        WENDY_TLS_KEY_FILE: tlsPaths.key,
        WENDY_TLS_CA_FILE: tlsPaths.ca,
        WENDY_TLS_RELOAD_INTERVAL_MS: "-1",
      },
    ],
    ["WENDY_TLS_MUTUAL", { WENDY_TLS_MUTUAL: "true" }],
    ["WENDY_LOG_LEVEL", { WENDY_LOG_LEVEL: "verbose" }],
    ["WENDY_LEAF_SET_SIZE", { WENDY_LEAF_SET_SIZE: "3" }],
    ["WENDY_LEAF_SET_SIZE", { WENDY_LEAF_SET_SIZE: "0" }],
    ["WENDY_LEAF_SET_SIZE", { WENDY_LEAF_SET_SIZE: "2" }],
    ["WENDY_HEARTBEAT_INTERVAL_MS", { WENDY_HEARTBEAT_INTERVAL_MS: "0" }],
    ["WENDY_HEARTBEAT_INTERVAL_MS", { WENDY_HEARTBEAT_INTERVAL_MS: "6000" }],
    ["WENDY_FAILURE_TIMEOUT_MS", { WENDY_FAILURE_TIMEOUT_MS: "1000" }],
    ["WENDY_FAILURE_TIMEOUT_MS", { WENDY_FAILURE_TIMEOUT_MS: "2.5s" }],
    ["WENDY_REGION_MULTIPLIER", { WENDY_REGION_MULTIPLIER: "0" }],
    ["WENDY_REGION_MULTIPLIER", { WENDY_REGION_MULTIPLIER: "-2" }],
    ["WENDY_TABLE_MAINTENANCE_INTERVAL_MS", { WENDY_TABLE_MAINTENANCE_INTERVAL_MS: "0" }],
    ["WENDY_TABLE_MAINTENANCE_INTERVAL_MS", { WENDY_TABLE_MAINTENANCE_INTERVAL_MS: "999" }],
    ["WENDY_TABLE_MAINTENANCE_INTERVAL_MS", { WENDY_TABLE_MAINTENANCE_INTERVAL_MS: "86400001" }],
    ["WENDY_TABLE_MAINTENANCE_INTERVAL_MS", { WENDY_TABLE_MAINTENANCE_INTERVAL_MS: "-60000" }],
    ["WENDY_TABLE_MAINTENANCE_INTERVAL_MS", { WENDY_TABLE_MAINTENANCE_INTERVAL_MS: "1500.5" }],
    ["WENDY_TABLE_MAINTENANCE_INTERVAL_MS", { WENDY_TABLE_MAINTENANCE_INTERVAL_MS: "60s" }],
    ["WENDY_TABLE_MAINTENANCE_INTERVAL_MS", { WENDY_TABLE_MAINTENANCE_INTERVAL_MS: "never" }],
    ["WENDY_TABLE_MAINTENANCE_INTERVAL_MS", { WENDY_TABLE_MAINTENANCE_INTERVAL_MS: "Infinity" }],
    ["WENDY_MAX_PAYLOAD_BYTES", { WENDY_MAX_PAYLOAD_BYTES: "4MiB" }],
    ["WENDY_MAX_PAYLOAD_BYTES", { WENDY_MAX_PAYLOAD_BYTES: "0" }],
    ["WENDY_SHUTDOWN_GRACE_MS", { WENDY_SHUTDOWN_GRACE_MS: "-5" }],
    ["WENDY_DELIVERY_GRACE_MS", { WENDY_DELIVERY_GRACE_MS: "-1" }],
    ["WENDY_DELIVERY_GRACE_MS", { WENDY_DELIVERY_GRACE_MS: "5s" }],
    ["WENDY_DELIVERY_GRACE_MS", { WENDY_DELIVERY_GRACE_MS: "3600001" }],
  ];
  it.each(cases)("%s in %j", (variable, env) => {
    const error = failure(env);
    expect(error.variable).toBe(variable);
    expect(error.message).toContain(variable);
    expect(error.message).not.toMatch(/[\r\n]/);
  });

  it("never prints the secret or the token", () => {
    const error = failure({ WENDY_SECRET: "hunter2", WENDY_SECRET_FILE: join(dir, "s3") });
    expect(error.message).not.toContain("hunter2");
    expect(failure({ WENDY_SECRET: "hunter2" }).message).not.toContain("hunter2");
    const token = failure({ WENDY_CLIENT_TOKEN: "tok3n-value", WENDY_CLIENT_HOST: "bad host" });
    expect(token.message).not.toContain("tok3n-value");
  });
});

describe("wendy start as a program", () => {
  function run(args: string[], env: Record<string, string>) {
    const inherited = Object.fromEntries(
      Object.entries(process.env).filter(([k]) => !k.startsWith("WENDY_")),
    );
    return spawnSync(process.execPath, [wendyBin(), "start", ...args], {
      env: { ...inherited, WENDY_INSECURE: "true", ...env },
      encoding: "utf8",
      timeout: 30_000,
    });
  }

  it("exits 2 with one line naming the variable for a bad value, and for a bad flag", () => {
    const bad = run([], { WENDY_LEAF_SET_SIZE: "3" });
    expect(bad.status).toBe(2);
    expect(bad.stderr.trim().split("\n")).toHaveLength(1);
    expect(bad.stderr).toContain("WENDY_LEAF_SET_SIZE");
    const flag = run(["--metrics-port", "http"], { WENDY_METRICS_PORT: "9464" });
    expect(flag.status).toBe(2);
    expect(flag.stderr).toContain("--metrics-port");
    expect(flag.stderr).toContain("WENDY_METRICS_PORT");
  });
});
