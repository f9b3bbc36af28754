// Real `wendy start` daemons on 127.0.0.1 for the metrics tests, and a reader for their /metrics text.
import { LOG_READY, LOG_STARTED } from "../../src/server/daemon/daemon.js";
import { DaemonProcess } from "../../src/server/daemon/demo/daemon-process.js";
import { NodeId } from "../../src/routing/id.js";
import { testSecret } from "../helpers/secrets.js";

export interface Daemon {
  readonly name: string;
  readonly id: string;
  readonly process: DaemonProcess;
  readonly peer: string;
  readonly client: string;
  /** Base URL of /metrics, e.g. "http://127.0.0.1:9464". */
  readonly metrics: string;
  /** "host:port" of the metrics server, as a Prometheus target. */
  readonly metricsTarget: string;
}

export const TEST_SECRET = testSecret("metrics");

/** Starts a daemon named `name` on peer port `port` with seed list `join`; resolves once it listens. */
export async function startDaemon(
  name: string,
  port: number,
  join: readonly string[],
  env: Readonly<Record<string, string>> = {},
): Promise<Daemon> {
  const process = new DaemonProcess({
    name,
    env: {
      WENDY_NODE_NAME: name,
      WENDY_BIND_HOST: "127.0.0.1",
      WENDY_PORT: String(port),
      WENDY_CLIENT_PORT: "0",
      WENDY_METRICS_HOST: "127.0.0.1",
      WENDY_METRICS_PORT: "0",
      WENDY_JOIN: join.join(","),
      WENDY_SECRET: TEST_SECRET,
      WENDY_HEARTBEAT_INTERVAL_MS: "300",
      WENDY_SHUTDOWN_GRACE_MS: "5000",
      ...env,
    },
  });
  const line = await process.waitForLine((l) => l.msg === LOG_STARTED, 30_000, `${name} started`);
  const metrics = String(line.metricsUrl);
  return {
    name,
    id: NodeId.fromString(name).hex,
    process,
    peer: `127.0.0.1:${String(line.peerPort)}`,
    client: `127.0.0.1:${String(line.clientPort)}`,
    metrics,
    metricsTarget: new URL(metrics).host,
  };
}

export function waitReady(daemon: Daemon): Promise<unknown> {
  return daemon.process.waitForLine((l) => l.msg === LOG_READY, 60_000, `${daemon.name} ready`);
}

export async function stopAll(daemons: Iterable<Daemon>): Promise<void> {
  const all = [...daemons];
  for (const d of all) d.process.signal("SIGKILL");
  await Promise.all(all.map((d) => d.process.exited));
}

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface Exposition {
  /** Metric family name -> its TYPE (counter, gauge, histogram, ...). */
  readonly types: ReadonlyMap<string, string>;
  readonly samples: readonly Sample[];
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Parses Prometheus text exposition (as prom-client writes it). */
export function parseExposition(text: string): Exposition {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line.startsWith("# TYPE ")) {
      const [, , name, type] = line.split(" ");
      if (name !== undefined && type !== undefined) types.set(name, type);
      continue;
    }
    if (line.startsWith("#") || line.trim() === "") continue;
    const match = SAMPLE.exec(line);
    if (match === null) throw new Error(`unparsable exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? "").matchAll(LABEL)) labels[key!] = value!;
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return { types, samples };
}

export async function scrape(daemon: Daemon): Promise<Exposition> {
  const response = await fetch(`${daemon.metrics}/metrics`);
  if (response.status !== 200) throw new Error(`${daemon.name} /metrics answered ${response.status}`);
  return parseExposition(await response.text());
}

/** The family a sample belongs to (a histogram's _bucket/_sum/_count samples belong to the histogram). */
export function familyOf(sample: string, types: ReadonlyMap<string, string>): string {
  for (const suffix of ["_bucket", "_sum", "_count"]) {
    const stem = sample.slice(0, -suffix.length);
    if (sample.endsWith(suffix) && types.get(stem) === "histogram") return stem;
  }
  return sample;
}
