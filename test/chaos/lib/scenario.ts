// What every chaos scenario shares: a world that timestamps what it sees, starting a ring a few nodes at a
// time, bounded waits, a lock so two scenarios never load the machine at once, and the results file.
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { World, type PeerOptions, type PeerProcess } from "../../integration/harness.js";
import type { NodeState } from "../../integration/fixtures/protocol.js";
import type { TestNetwork } from "./netns.js";

/** Resolves with the promise's value, or "timeout" after `ms` (the promise is left to settle on its own). */
export async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | "timeout"> {
  let timer: NodeJS.Timeout | undefined;
  const result = await Promise.race([
    promise,
    new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), ms);
    }),
  ]);
  clearTimeout(timer);
  return result;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A World that remembers when (ms since it was made) each observed event happened. */
export class ChaosWorld extends World {
  private readonly started = performance.now();
  private readonly times = new Map<number, number>();

  override nextOrder(): number {
    const order = super.nextOrder();
    this.times.set(order, this.now());
    return order;
  }

  /** Milliseconds since this world was made. */
  now(): number {
    return performance.now() - this.started;
  }

  /** Progress on stderr with the world's clock, so a slow or stuck run shows where it is. */
  progress(message: string): void {
    process.stderr.write(`[chaos ${(this.now() / 1000).toFixed(1)}s] ${message}\n`);
  }

  /** When the event with this order number was seen. */
  timeOf(order: number): number {
    const t = this.times.get(order);
    if (t === undefined) throw new Error(`no event with order ${order}`);
    return t;
  }
}

/** Node `i` of a test network as Wendy options: its own namespace and address. */
export function nodeOptions(
  net: TestNetwork,
  i: number,
  name: string,
  secret: string,
  env: Readonly<Record<string, string>> = {},
): PeerOptions {
  return { name, host: net.node(i).address, secret, wrap: net.wrap(i), env };
}

/** How long one join may take before the ring start gives up on that attempt. */
const JOIN_LIMIT_MS = 45_000;

/** A started ring, and the joins that had to be retried (each one is a finding worth reporting). */
export interface Ring {
  readonly peers: PeerProcess[];
  readonly joinRetries: string[];
}

/**
 * Starts a ring: the first node founds it, the rest join through the nodes already up, `batch` at a time
 * (many simultaneous starts on two cores make the runtime's RPCs time out: see the known defect). A node
 * whose join fails is started once more; a second failure fails the scenario.
 */
export async function startRing(
  world: ChaosWorld,
  options: readonly PeerOptions[],
  batch = 3,
): Promise<Ring> {
  const first = options[0];
  if (first === undefined) throw new Error("no nodes to start");
  const founder = world.start(first);
  await founder.ready;
  const up = [founder];
  const joinRetries: string[] = [];
  for (let i = 1; i < options.length; i += batch) {
    const seeds = up.slice(-2).map((p) => p.address);
    const started = await Promise.all(
      options.slice(i, i + batch).map(async (o) => {
        const attempt = world.start({ ...o, seeds });
        const outcome = await withTimeout(
          attempt.ready.then(
            () => "ready" as const,
            (error: Error) => error.message,
          ),
          JOIN_LIMIT_MS,
        );
        if (outcome === "ready") return attempt;
        const why = outcome === "timeout" ? `neither joined nor failed within ${JOIN_LIMIT_MS} ms` : outcome;
        const stuck = await withTimeout(
          attempt.state().catch(() => undefined),
          3000,
        );
        const seen =
          stuck === "timeout" || stuck === undefined
            ? "no state"
            : `ready=${stuck.ready}, leaf set ${stuck.left.length}+${stuck.right.length}, knows ${stuck.known.length}`;
        joinRetries.push(`${o.name}: ${why} (${seen})`);
        world.progress(`join of ${o.name} retried: ${why} (${seen})`);
        await attempt.kill();
        const again = world.start({ ...o, seeds });
        const second = await withTimeout(again.ready, JOIN_LIMIT_MS);
        if (second === "timeout") throw new Error(`${o.name} did not join in two attempts`);
        return again;
      }),
    );
    up.push(...started);
    world.progress(`ring: ${up.length} of ${options.length} nodes ready`);
  }
  return { peers: up, joinRetries };
}

/** States of `peers`, skipping any that does not answer within `ms` (a frozen or dying node). */
export async function statesOf(
  peers: readonly PeerProcess[],
  ms = 3000,
): Promise<Map<PeerProcess, NodeState>> {
  const answers = await Promise.all(
    peers.map(
      async (p) =>
        [
          p,
          await withTimeout(
            p.state().catch(() => "timeout" as const),
            ms,
          ),
        ] as const,
    ),
  );
  const states = new Map<PeerProcess, NodeState>();
  for (const [p, s] of answers) if (s !== "timeout") states.set(p, s);
  return states;
}

/** The IDs in a node's leaf set. */
export function leafIds(state: NodeState): Set<string> {
  return new Set([...state.left, ...state.right].map((n) => n.id));
}

/**
 * True when every node answered and its leaf set is exactly what a converged ring of these nodes gives it:
 * its l/2 nearest on each side, or every other node when there are no more than l others (with the default
 * l = 32, every scenario but the small-leaf-set one).
 */
export function ringConverged(
  states: ReadonlyMap<PeerProcess, NodeState>,
  ids: ReadonlySet<string>,
  leafSetSize = 32,
): boolean {
  return ringDivergence(states, ids, leafSetSize).length === 0;
}

/**
 * How the ring of `peers` (their states asked now) differs from a converged one, as one line for a failure
 * message: "converged" when it does not.
 */
export async function divergenceOf(peers: readonly PeerProcess[], leafSetSize = 32): Promise<string> {
  const lines = ringDivergence(await statesOf(peers), new Set(peers.map((p) => p.id)), leafSetSize);
  return lines.length === 0 ? "converged" : lines.join("; ");
}

/**
 * How these states differ from a converged ring of `ids` (see ringConverged), one line per node that
 * differs: it did not answer, is not ready, lacks a nearest neighbour, or holds a node that is not its
 * neighbour. Empty when converged. IDs are shortened to 8 digits.
 */
export function ringDivergence(
  states: ReadonlyMap<PeerProcess, NodeState>,
  ids: ReadonlySet<string>,
  leafSetSize = 32,
): string[] {
  const short = (id: string): string => id.slice(0, 8);
  // IDs are 32 lowercase hex digits: sorted as strings, they are in ring order.
  const ring = [...ids].sort();
  const answered = new Set([...states.keys()].map((p) => p.id));
  const lines = ring.filter((id) => !answered.has(id)).map((id) => `${short(id)} did not answer`);
  for (const [p, s] of states) {
    const name = `${p.options.name} (${short(p.id)})`;
    if (!s.ready) {
      lines.push(`${name} not ready`);
      continue;
    }
    const expected = expectedLeaves(ring, p.id, leafSetSize / 2);
    const leaves = leafIds(s);
    const missing = [...expected].filter((id) => !leaves.has(id)).map(short);
    const extra = [...leaves].filter((id) => !expected.has(id)).map(short);
    if (missing.length > 0 || extra.length > 0)
      lines.push(`${name} lacks [${missing.join(" ")}], holds besides [${extra.join(" ")}]`);
  }
  return lines;
}

function expectedLeaves(ring: readonly string[], id: string, half: number): Set<string> {
  const n = ring.length;
  const at = ring.indexOf(id);
  if (at < 0 || n - 1 <= 2 * half) return new Set(ring.filter((other) => other !== id));
  const leaves = new Set<string>();
  for (let k = 1; k <= half; k++) {
    leaves.add(ring[(at + k) % n]!);
    leaves.add(ring[(at - k + n) % n]!);
  }
  return leaves;
}

// ------------------------------------------------------------------------------------------- machine lock

const LOCK_DIR = "/tmp/wendy-chaos.lock";

/**
 * Waits (bounded) until no other chaos scenario runs, then holds the lock until `release` is called or
 * this process exits. A lock left by a dead process is taken over.
 */
export async function acquireMachineLock(limitMs = 400_000): Promise<() => void> {
  const deadline = performance.now() + limitMs;
  for (;;) {
    try {
      mkdirSync(LOCK_DIR);
      writeFileSync(`${LOCK_DIR}/pid`, String(process.pid));
      const release = (): void => {
        if (readOwner() === process.pid) rmSync(LOCK_DIR, { recursive: true, force: true });
      };
      process.once("exit", release);
      return release;
    } catch {
      const owner = readOwner();
      if (owner !== undefined && !isAlive(owner)) rmSync(LOCK_DIR, { recursive: true, force: true });
      if (performance.now() > deadline) throw new Error(`another chaos scenario held ${LOCK_DIR} too long`);
      await sleep(500);
    }
  }
}

function readOwner(): number | undefined {
  try {
    const pid = Number(readFileSync(`${LOCK_DIR}/pid`, "utf8"));
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

// ------------------------------------------------------------------------------------------------ results

/** WENDY_CHAOS_IDENTITIES=true runs the scenarios with per-node identities (mutual TLS, a certificate each). */
export const IDENTITIES = process.env.WENDY_CHAOS_IDENTITIES === "true";

const RESULTS_DIR = fileURLToPath(new URL("../results/", import.meta.url));
// A run with identities writes its own file, so the default run's figures stay beside it rather than under it.
const MODE = IDENTITIES
  ? {
      sections: `${RESULTS_DIR}sections-identities/`,
      file: "identities.md",
      title: " with per-node identities",
    }
  : { sections: `${RESULTS_DIR}sections/`, file: "latest.md", title: "" };

/**
 * Writes one scenario's section and regenerates the mode's results file (results/latest.md, or
 * results/identities.md with WENDY_CHAOS_IDENTITIES=true) from every section, so scenarios that ran in
 * separate processes all end up in the one file.
 */
export function writeResults(scenario: string, markdown: string): void {
  mkdirSync(MODE.sections, { recursive: true });
  writeFileSync(`${MODE.sections}${scenario}.md`, markdown.trimEnd() + "\n");
  const sections = readdirSync(MODE.sections)
    .filter((f) => f.endsWith(".md"))
    .sort()
    .map((f) => readFileSync(`${MODE.sections}${f}`, "utf8"));
  const header = [
    `# Chaos results${MODE.title}`,
    "",
    "Written by the chaos scenarios (test/chaos/*.test.ts); each section is from that scenario's latest run.",
    "Nodes run as separate processes, each in its own network namespace, on a 2-core machine.",
    ...(IDENTITIES
      ? [
          "Every node has a certificate of its own naming its node ID (mutual TLS, WENDY_TLS_NODE_IDENTITY=true).",
        ]
      : []),
    "",
  ].join("\n");
  writeFileSync(`${RESULTS_DIR}${MODE.file}`, header + "\n" + sections.join("\n"));
}

/** A markdown table from rows of cells. */
export function table(head: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const line = (cells: readonly (string | number)[]): string => `| ${cells.join(" | ")} |`;
  return [line(head), line(head.map(() => "---")), ...rows.map(line)].join("\n");
}

/** Median and maximum of some durations, as "median / max ms" (or "none"). */
export function spread(values: readonly number[]): string {
  if (values.length === 0) return "none";
  const sorted = [...values].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)]!;
  return `${Math.round(median)} / ${Math.round(sorted[sorted.length - 1]!)} ms (n=${values.length})`;
}
