// The chart's region init container script, run with Node.js against a stand-in Kubernetes API server on
// loopback (HTTPS with a throwaway self-signed certificate, bearer token checked as the API server would).
import { execFile, execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHART_DIR } from "./helm.js";

const SCRIPT = join(CHART_DIR, "files/region-from-node-label.mjs");
const TOKEN = "token-of-the-region-reader";
const NODES: Record<string, Record<string, string>> = {
  "node-eu": { "topology.kubernetes.io/region": "eu-west-1", "example.com/site": "dublin" },
  "node-bare": {},
};

let dir: string;
let server: Server;
let port: number;
const requests: { path: string | undefined; authorization: string | undefined }[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "wendy-region-"));
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-days",
      "1",
      "-subj",
      "/CN=127.0.0.1",
      "-addext",
      "subjectAltName=IP:127.0.0.1",
      "-keyout",
      join(dir, "key.pem"),
      "-out",
      join(dir, "ca.crt"),
    ],
    { stdio: "ignore" },
  );
  writeFileSync(join(dir, "token"), TOKEN + "\n");
  server = createServer(
    { key: readFileSync(join(dir, "key.pem")), cert: readFileSync(join(dir, "ca.crt")) },
    (req, res) => {
      requests.push({ path: req.url, authorization: req.headers.authorization });
      if (req.headers.authorization !== `Bearer ${TOKEN}`) {
        res.writeHead(401).end('{"kind":"Status","code":401}');
        return;
      }
      const name = decodeURIComponent(req.url?.match(/^\/api\/v1\/nodes\/([^/?]+)$/)?.[1] ?? "");
      const labels = NODES[name];
      if (labels === undefined) {
        res.writeHead(404).end(`{"kind":"Status","message":"nodes \\"${name}\\" not found","code":404}`);
        return;
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ kind: "Node", metadata: { name, labels } }));
    },
  );
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

async function runScript(env: Record<string, string>) {
  const regionFile = join(dir, `region-${requests.length}-${env["NODE_NAME"]}`);
  const result = await promisify(execFile)(process.execPath, [SCRIPT], {
    env: {
      PATH: process.env["PATH"] ?? "",
      KUBERNETES_SERVICE_HOST: "127.0.0.1",
      KUBERNETES_SERVICE_PORT: String(port),
      SERVICE_ACCOUNT_DIR: dir,
      REGION_FILE: regionFile,
      REQUEST_TIMEOUT_MS: "5000",
      ...env,
    },
  }).then(
    () => ({ code: 0, stderr: "" }),
    (error: { code: number; stderr: string }) => ({ code: error.code, stderr: error.stderr }),
  );
  return { ...result, region: existsSync(regionFile) ? readFileSync(regionFile, "utf8") : undefined };
}

describe("region-from-node-label.mjs", () => {
  it("writes the node's region label, asking for that node with the service account's token", async () => {
    const result = await runScript({ NODE_NAME: "node-eu", REGION_FALLBACK: "unknown" });
    expect(result).toEqual({ code: 0, stderr: "", region: "eu-west-1\n" });
    expect(requests.at(-1)).toEqual({ path: "/api/v1/nodes/node-eu", authorization: `Bearer ${TOKEN}` });
  });

  it("reads another label when told, and falls back when the node lacks it", async () => {
    expect((await runScript({ NODE_NAME: "node-eu", REGION_LABEL: "example.com/site" })).region).toBe(
      "dublin\n",
    );
    expect((await runScript({ NODE_NAME: "node-bare", REGION_FALLBACK: "unknown" })).region).toBe(
      "unknown\n",
    );
  });

  it("fails, writing nothing, when the API refuses", async () => {
    const result = await runScript({ NODE_NAME: "node-gone", REGION_FALLBACK: "unknown" });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/GET node node-gone: HTTP 404/);
    expect(result.region).toBeUndefined();
  });
});
