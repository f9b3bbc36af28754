// Init container of the Wendy chart: reads one label of the node this pod runs on from the Kubernetes API and
// writes it to a file the daemon reads as WENDY_REGION_FILE. The downward API cannot expose node labels.
// Runs with plain Node.js (no dependencies), so the Wendy image itself can run it.
import { readFileSync, writeFileSync } from "node:fs";
import { request } from "node:https";

const env = process.env;
const accountDir = env.SERVICE_ACCOUNT_DIR || "/var/run/secrets/kubernetes.io/serviceaccount";
const nodeName = env.NODE_NAME;
const label = env.REGION_LABEL || "topology.kubernetes.io/region";
const fallback = env.REGION_FALLBACK || "";
const regionFile = env.REGION_FILE || "/run/wendy/region";
const timeoutMs = Number(env.REQUEST_TIMEOUT_MS || 10000);

function fail(message) {
  console.error(`region-from-node-label: ${message}`);
  process.exit(1);
}

if (!nodeName) fail("NODE_NAME is not set (the chart sets it from spec.nodeName)");
if (!env.KUBERNETES_SERVICE_HOST) fail("KUBERNETES_SERVICE_HOST is not set: not running in a pod?");

const req = request(
  {
    host: env.KUBERNETES_SERVICE_HOST,
    port: Number(env.KUBERNETES_SERVICE_PORT || 443),
    path: `/api/v1/nodes/${encodeURIComponent(nodeName)}`,
    method: "GET",
    ca: readFileSync(`${accountDir}/ca.crt`),
    headers: {
      authorization: `Bearer ${readFileSync(`${accountDir}/token`, "utf8").trim()}`,
      accept: "application/json",
    },
    timeout: timeoutMs,
  },
  (res) => {
    let body = "";
    res.setEncoding("utf8");
    res.on("data", (chunk) => (body += chunk));
    res.on("end", () => {
      // A wrong region would skew proximity silently; refusing to start is the louder, safer failure.
      if (res.statusCode !== 200) fail(`GET node ${nodeName}: HTTP ${res.statusCode}: ${body.slice(0, 300)}`);
      let node;
      try {
        node = JSON.parse(body);
      } catch {
        fail(`GET node ${nodeName}: the answer is not JSON`);
      }
      const labels = (node && node.metadata && node.metadata.labels) || {};
      const region = typeof labels[label] === "string" && labels[label] !== "" ? labels[label] : fallback;
      writeFileSync(regionFile, region + "\n");
      console.log(
        `region-from-node-label: node ${nodeName} ${region === fallback ? "(fallback) " : ""}region "${region}"`,
      );
    });
  },
);
req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
req.on("error", (err) => fail(`GET node ${nodeName}: ${err.message}`));
req.end();
