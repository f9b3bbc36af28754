// A real Prometheus (Debian's `prometheus` package, installed by .ci/run) for tests: started on loopback on
// a free port with a temporary config and data directory, scraping the given targets every second.
import { spawn, type ChildProcess } from "node:child_process";
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { freePorts } from "../../src/server/daemon/demo/free-ports.js";
import { waitFor } from "../helpers/wait.js";

export function findPrometheus(): string {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    const candidate = join(dir, "prometheus");
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here; try the next directory
    }
  }
  throw new Error(
    "prometheus not found on $PATH: install Debian's `prometheus` package (apt-get install prometheus)",
  );
}

export interface PrometheusOptions {
  /** "host:port" of each /metrics endpoint; all in one job. */
  readonly targets: readonly string[];
  readonly job: string;
  /** Labels added to every target (as Kubernetes service discovery would add namespace). */
  readonly labels?: Readonly<Record<string, string>>;
  /** Rule files to load (evaluated every second). */
  readonly ruleFiles?: readonly string[];
  /**
   * Its port, drawn by the caller together with the targets' ports (default: a free one now). freePorts holds
   * ports only during its call, so ports of separate calls can coincide.
   */
  readonly port?: number;
}

export interface QueryResult {
  readonly metric: Readonly<Record<string, string>>;
  readonly value: readonly [number, string];
}

export class Prometheus {
  private constructor(
    readonly url: string,
    private readonly child: ChildProcess,
    private readonly dir: string,
    private readonly output: () => string,
  ) {}

  static async start(options: PrometheusOptions): Promise<Prometheus> {
    const dir = mkdtempSync(join(tmpdir(), "wendy-prometheus-"));
    const port = options.port ?? (await freePorts(1))[0];
    const config = {
      global: { scrape_interval: "1s", scrape_timeout: "900ms", evaluation_interval: "1s" },
      rule_files: options.ruleFiles ?? [],
      scrape_configs: [
        {
          job_name: options.job,
          static_configs: [{ targets: options.targets, labels: options.labels ?? {} }],
        },
      ],
    };
    const configFile = join(dir, "prometheus.yml");
    // JSON is YAML: no YAML writer needed for the config.
    writeFileSync(configFile, JSON.stringify(config));
    const child = spawn(
      findPrometheus(),
      [
        `--config.file=${configFile}`,
        `--storage.tsdb.path=${join(dir, "data")}`,
        `--web.listen-address=127.0.0.1:${port}`,
        "--log.level=warn",
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let output = "";
    child.stdout?.on("data", (c: Buffer) => (output += c.toString("utf8")));
    child.stderr?.on("data", (c: Buffer) => (output += c.toString("utf8")));
    const prometheus = new Prometheus(`http://127.0.0.1:${port}`, child, dir, () => output);
    await waitFor(
      "prometheus ready",
      async () => {
        if (child.exitCode !== null) throw new Error(`prometheus exited: ${output}`);
        const response = await fetch(`${prometheus.url}/-/ready`);
        return response.status === 200 ? true : undefined;
      },
      30_000,
      200,
    );
    return prometheus;
  }

  /** An instant query; throws with Prometheus's error when the expression is refused. */
  async query(expr: string): Promise<QueryResult[]> {
    const response = await fetch(`${this.url}/api/v1/query?query=${encodeURIComponent(expr)}`);
    const body = (await response.json()) as {
      status: string;
      error?: string;
      data?: { result: QueryResult[] };
    };
    if (body.status !== "success") throw new Error(`query ${expr} failed: ${body.error ?? response.status}`);
    return body.data?.result ?? [];
  }

  /** The health of every loaded rule, by name (alert or record). */
  async ruleHealth(): Promise<Map<string, { health: string; lastError?: string }>> {
    const response = await fetch(`${this.url}/api/v1/rules`);
    const body = (await response.json()) as {
      data: { groups: { rules: { name: string; health: string; lastError?: string }[] }[] };
    };
    return new Map(body.data.groups.flatMap((g) => g.rules.map((r) => [r.name, r] as const)));
  }

  logs(): string {
    return this.output();
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise((resolve) => this.child.once("exit", resolve));
      this.child.kill("SIGTERM");
      const timer = setTimeout(() => this.child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
