// A real Prometheus scrapes a small cluster whose nodes were given two seed lists that never meet: the
// split-ring expression of the chart's WendySplitRing alert is true. Restarting the lone node of the second
// ring with a seed in the first heals it (the overlay itself never merges two rings: a node of the smaller
// one must rejoin), and the expression turns false. The same Prometheus evaluates the chart's alert rules
// and every query of the Grafana dashboard against the live series.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePorts } from "../../src/server/daemon/demo/free-ports.js";
import { waitFor } from "../helpers/wait.js";
import { dashboardQueries, withVariables } from "./dashboard.js";
import { RULES, alertNames } from "./rules.js";
import { startDaemon, stopAll, waitReady, type Daemon } from "./daemons.js";
import { Prometheus } from "./prometheus.js";

/** The expression of WendySplitRing (deploy/helm/wendy/files/alerts.yaml), without its `for`. */
const SPLIT_RING = "count by (namespace, job) (count by (namespace, job, ring) (wendy_ring_minimum)) > 1";
const RINGS = "count by (namespace, job) (count by (namespace, job, ring) (wendy_ring_minimum))";

const daemons = new Map<string, Daemon>();
let prometheus: Prometheus | undefined;
let peerPorts: number[] = [];
let metricsPorts: number[] = [];

function seedOf(index: number): string {
  return `127.0.0.1:${peerPorts[index]}`;
}

async function start(name: string, index: number, seeds: readonly string[]): Promise<Daemon> {
  const d = await startDaemon(name, peerPorts[index]!, seeds, {
    WENDY_METRICS_PORT: String(metricsPorts[index]),
  });
  daemons.set(name, d);
  return d;
}

async function ringCount(): Promise<number | undefined> {
  const result = await prometheus!.query(RINGS);
  return result.length === 1 ? Number(result[0]!.value[1]) : undefined;
}

beforeAll(async () => {
  // One call: freePorts holds its ports only while it runs, so two calls can hand out the same port. Drawn in
  // three calls, a daemon once could not listen on its peer port (in CI): in its worker's slice of
  // ports, the likeliest holder was the metrics port of the node started before it, or Prometheus.
  const ports = await freePorts(7);
  peerPorts = ports.slice(0, 3);
  metricsPorts = ports.slice(3, 6);
  prometheus = await Prometheus.start({
    port: ports[6],
    job: "wendy",
    labels: { namespace: "split-test" },
    targets: metricsPorts.map((p) => `127.0.0.1:${p}`),
    ruleFiles: [RULES],
  });
}, 60_000);

afterAll(async () => {
  await stopAll(daemons.values());
  await prometheus?.stop();
});

describe("the split-ring signal under a real Prometheus", () => {
  it("is true while two seed lists that never meet make two rings, and false once the lone node rejoins", async () => {
    // Ring one: split-a founds it, split-b joins. Ring two: split-c founds its own, its seed list names only
    // itself.
    const a = await start("split-a", 0, [seedOf(0)]);
    await waitReady(a);
    const [b, c] = await Promise.all([start("split-b", 1, [seedOf(0)]), start("split-c", 2, [seedOf(2)])]);
    await Promise.all([waitReady(b), waitReady(c)]);

    await waitFor("Prometheus sees two rings", async () => ((await ringCount()) === 2 ? true : undefined));
    const split = await prometheus!.query(SPLIT_RING);
    expect(split.map((r) => ({ ...r.metric }))).toEqual([{ namespace: "split-test", job: "wendy" }]);
    expect(Number(split[0]!.value[1])).toBe(2);

    // Heal: split-c restarts (same name, so same ID, and same ports) with a seed in ring one.
    c.process.signal("SIGTERM");
    await c.process.exited;
    const rejoined = await start("split-c", 2, [seedOf(0)]);
    await waitReady(rejoined);
    await waitFor("Prometheus sees one ring", async () => ((await ringCount()) === 1 ? true : undefined));
    expect(await prometheus!.query(SPLIT_RING)).toEqual([]);
  }, 180_000);

  it("evaluates every alert rule without error and runs every dashboard query", async () => {
    const health = await waitFor("every rule evaluated", async () => {
      const rules = await prometheus!.ruleHealth();
      return alertNames().every((name) => rules.get(name)?.health === "ok") ? rules : undefined;
    });
    expect(alertNames().filter((name) => health.get(name)?.health !== "ok")).toEqual([]);
    const queries = dashboardQueries();
    const refused: string[] = [];
    for (const query of queries) {
      await prometheus!.query(withVariables(query)).catch((error: unknown) => refused.push(String(error)));
    }
    expect(refused).toEqual([]);
  });
});
