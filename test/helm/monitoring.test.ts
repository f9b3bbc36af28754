// The chart's optional monitoring objects: the PrometheusRule carries files/alerts.yaml unchanged, and the
// Grafana dashboard ConfigMap carries files/dashboard.json under the sidecar's label.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import {
  CHART_DIR,
  HELM_SETUP_TIMEOUT_MS,
  NAMESPACE,
  findObject,
  render,
  template,
  validateAll,
} from "./helm.js";

const MONITORING_API = ["-a", "monitoring.coreos.com/v1"];

describe("PrometheusRule", () => {
  it(
    "is rendered only when enabled and the cluster serves monitoring.coreos.com/v1, with the rules file as its spec",
    () => {
      expect(
        render({ prometheusRule: { enabled: true } }).filter((o) => o.kind === "PrometheusRule"),
      ).toEqual([]);
      expect(render({}, MONITORING_API).filter((o) => o.kind === "PrometheusRule")).toEqual([]);
      const objects = render(
        { prometheusRule: { enabled: true, labels: { release: "prom" } } },
        MONITORING_API,
      );
      const unchecked = validateAll(objects);
      const rule = findObject(unchecked, "PrometheusRule");
      expect(rule.metadata.namespace).toBe(NAMESPACE);
      expect(rule.metadata.labels?.["release"]).toBe("prom");
      const rulesFile = parse(readFileSync(join(CHART_DIR, "files/alerts.yaml"), "utf8")) as object;
      expect(rule["spec"]).toEqual(rulesFile);
    },
    HELM_SETUP_TIMEOUT_MS,
  );
});

describe("Grafana dashboard", () => {
  it(
    "is a ConfigMap labelled for the sidecar that holds files/dashboard.json, only when enabled",
    () => {
      expect(
        render({}).filter((o) => o.kind === "ConfigMap" && o.metadata.name.endsWith("-dashboard")),
      ).toEqual([]);
      const objects = render({
        grafanaDashboard: { enabled: true, annotations: { grafana_folder: "Wendy" } },
      });
      validateAll(objects);
      const map = findObject(objects, "ConfigMap", "wendy-dashboard") as unknown as {
        metadata: { labels?: Record<string, string>; annotations?: Record<string, string> };
        data: Record<string, string>;
      };
      expect(map.metadata.labels?.["grafana_dashboard"]).toBe("1");
      expect(map.metadata.annotations?.["grafana_folder"]).toBe("Wendy");
      const file: unknown = JSON.parse(readFileSync(join(CHART_DIR, "files/dashboard.json"), "utf8"));
      expect(JSON.parse(map.data["wendy.json"] ?? "")).toEqual(file);
    },
    HELM_SETUP_TIMEOUT_MS,
  );

  it("refuses unknown keys under prometheusRule and grafanaDashboard (values.schema.json)", () => {
    for (const values of [{ prometheusRule: { enable: true } }, { grafanaDashboard: { folder: "x" } }]) {
      const result = template(values);
      expect(result.status).not.toBe(0);
      expect(result.stderr).toMatch(/additional properties|additionalProperties|not allowed/i);
    }
  });
});
