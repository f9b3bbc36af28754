// `wendy demo`: a real local cluster. Starts several `wendy start` processes on 127.0.0.1 exactly as the
// Helm chart configures pods (same seed list for all, stable names), routes messages and checks that each
// landed on the live node whose ID is numerically closest to its key, crashes one node and shows the leaf
// sets healing and routing staying correct, then stops the rest gracefully. Exits non-zero on any mismatch.
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { closestTo, NodeId } from "../../../routing/id.js";
import { LOG_READY, LOG_STARTED } from "../daemon.js";
import { DaemonProcess } from "./daemon-process.js";
import { freePorts } from "./free-ports.js";
import { idOf, OverlayCalls } from "./overlay-calls.js";

export interface DemoOptions {
  readonly nodes: number;
  readonly messages: number;
  readonly leafSetSize: number;
  readonly print: (line: string) => void;
}

export { DEFAULT_DEMO_OPTIONS } from "./defaults.js";

const START_TIMEOUT_MS = 30_000;
const HEAL_TIMEOUT_MS = 20_000;
const POLL_MS = 200;
const KEY_NAMES = ["apple", "banana", "cherry", "damson", "elder", "fig", "grape", "hazel", "kiwi", "lemon"];

interface DemoNode {
  readonly name: string;
  readonly id: NodeId;
  readonly process: DaemonProcess;
  readonly peerAddress: string;
  calls?: OverlayCalls;
}

export async function runDemo(options: DemoOptions): Promise<void> {
  const print = options.print;
  const logDir = mkdtempSync(join(tmpdir(), "wendy-demo-"));
  const nodes: DemoNode[] = [];
  let succeeded = false;
  const onInterrupt = (): void => {
    for (const n of nodes) n.process.signal("SIGKILL");
    process.exit(130);
  };
  process.once("SIGINT", onInterrupt);
  try {
    const ports = await freePorts(options.nodes);
    const seeds = ports.slice(0, 3).map((p) => `127.0.0.1:${p}`);
    // A fresh random key each run, as `openssl rand -hex 32` would make: daemons refuse guessable secrets.
    const secret = randomBytes(32).toString("hex");
    print(
      `Wendy demo: ${options.nodes} daemons (wendy start) on 127.0.0.1, leaf-set size ${options.leafSetSize}`,
    );
    print(`  every node gets WENDY_JOIN=${seeds.join(",")}; logs in ${logDir} (kept if the demo fails)`);
    const started = Date.now();
    for (let i = 0; i < options.nodes; i++) {
      const name = `node-${i + 1}`;
      const process = new DaemonProcess({
        name,
        logFile: join(logDir, `${name}.log`),
        env: {
          WENDY_NODE_NAME: `demo-${name}`,
          WENDY_BIND_HOST: "127.0.0.1",
          WENDY_PORT: String(ports[i]),
          WENDY_CLIENT_PORT: "0",
          WENDY_METRICS_HOST: "127.0.0.1",
          WENDY_METRICS_PORT: "0",
          WENDY_JOIN: seeds.join(","),
          WENDY_SECRET: secret,
          WENDY_LEAF_SET_SIZE: String(options.leafSetSize),
          WENDY_HEARTBEAT_INTERVAL_MS: "250",
          WENDY_FAILURE_TIMEOUT_MS: "1500",
          WENDY_SHUTDOWN_GRACE_MS: "3000",
        },
      });
      nodes.push({
        name,
        id: NodeId.fromString(`demo-${name}`),
        process,
        peerAddress: `127.0.0.1:${ports[i]}`,
      });
    }
    await Promise.all(
      nodes.map(async (node) => {
        const startLine = await node.process.waitForLine(
          (l) => l.msg === LOG_STARTED,
          START_TIMEOUT_MS,
          "started",
        );
        node.calls = new OverlayCalls(`127.0.0.1:${String(startLine.clientPort)}`);
        const ready = await node.process.waitForLine((l) => l.msg === LOG_READY, START_TIMEOUT_MS, "ready");
        // Each node's application: an acknowledged send succeeds once the owner's application has it.
        await node.calls.acknowledgeAll();
        print(
          `  ${node.name}  pid ${node.process.pid ?? "?"}  id ${short(node.id)}  peer ${node.peerAddress}  client 127.0.0.1:${String(startLine.clientPort)}  ${ready.outcome === "founded" ? "founded the ring" : "joined"}`,
        );
      }),
    );
    await waitForConsistentLeafSets(nodes);
    print(
      `all ${nodes.length} nodes ready in ${seconds(started)}; each one's leaf set holds its ring neighbours:`,
    );
    await printLeafSets(nodes, print);

    print("");
    print(`Routing ${options.messages} messages by key (each sent through a different node):`);
    await routeAndCheck(nodes, options.messages, print);

    const victim = nodes[Math.floor(nodes.length / 2)]!;
    print("");
    print(`Crashing ${victim.name} (${short(victim.id)}) with SIGKILL: no goodbye, the others must notice.`);
    victim.process.signal("SIGKILL");
    await victim.process.exited;
    victim.calls?.close();
    const survivors = nodes.filter((n) => n !== victim);
    const crashed = Date.now();
    await waitForConsistentLeafSets(survivors, victim.id);
    print(
      `leaf sets healed in ${seconds(crashed)}: nobody lists ${victim.name}, every node has its live neighbours:`,
    );
    await printLeafSets(survivors, print);

    print("");
    print(`Routing the same keys again over the ${survivors.length} survivors:`);
    await routeAndCheck(survivors, options.messages, print);

    print("");
    print(`Stopping the ${survivors.length} survivors with SIGTERM (graceful leave):`);
    for (const node of survivors) node.calls?.close();
    for (const node of survivors) node.process.signal("SIGTERM");
    const exits = await Promise.all(survivors.map((n) => n.process.exited));
    const failed = survivors.filter((_, i) => exits[i]!.code !== 0);
    print(
      `  exit codes: ${survivors.map((n, i) => `${n.name}=${exits[i]!.code ?? exits[i]!.signal}`).join(" ")}`,
    );
    if (failed.length > 0) throw new Error(`${failed.map((n) => n.name).join(", ")} did not exit 0`);
    print("");
    print(`Demo finished in ${seconds(started)}: every message reached the numerically closest live node.`);
    succeeded = true;
  } finally {
    process.off("SIGINT", onInterrupt);
    for (const node of nodes) {
      node.calls?.close();
      node.process.signal("SIGKILL");
    }
    await Promise.all(nodes.map((n) => n.process.exited));
    if (succeeded) rmSync(logDir, { recursive: true, force: true });
  }
}

/** Sends messages to named keys, rotating the entry node, and checks each against the closest live ID. */
async function routeAndCheck(nodes: DemoNode[], count: number, print: (line: string) => void): Promise<void> {
  const byId = new Map(nodes.map((n) => [n.id.hex, n]));
  let wrong = 0;
  for (let i = 0; i < count; i++) {
    const name = KEY_NAMES[i % KEY_NAMES.length]! + (i >= KEY_NAMES.length ? `-${i}` : "");
    const key = NodeId.fromString(name);
    const via = nodes[i % nodes.length]!;
    const response = await via.calls!.sendAcked(name, `message ${i} for ${name}`);
    const deliveredBy = byId.get(idOf(response.deliveredBy));
    const closest = closestTo(key, nodes)!;
    const ok = deliveredBy === closest;
    if (!ok) wrong++;
    print(
      `  key ${pad(JSON.stringify(name), 9)} ${short(key)}  via ${via.name} -> delivered by ${deliveredBy?.name ?? idOf(response.deliveredBy)} in ${response.hops} hop(s); closest live ID: ${closest.name}  ${ok ? "ok" : "WRONG"}`,
    );
  }
  if (wrong > 0) throw new Error(`${wrong} of ${count} messages reached a node that is not the key's owner`);
  print(`  ${count}/${count} delivered by the node whose ID is numerically closest to the key`);
}

/**
 * Waits until every node reports its nearest live predecessor and successor in its leaf set and none lists
 * `gone`. Bounded: gives up after HEAL_TIMEOUT_MS.
 */
async function waitForConsistentLeafSets(nodes: DemoNode[], gone?: NodeId): Promise<void> {
  const deadline = Date.now() + HEAL_TIMEOUT_MS;
  const sorted = [...nodes].sort((a, b) => (a.id.value < b.id.value ? -1 : 1));
  let problem = "";
  while (Date.now() < deadline) {
    problem = "";
    for (let i = 0; i < sorted.length && problem === ""; i++) {
      const node = sorted[i]!;
      const status = await node.calls!.status();
      const left = status.leafSetLeft.map(idOf);
      const right = status.leafSetRight.map(idOf);
      const predecessor = sorted[(i - 1 + sorted.length) % sorted.length]!;
      const successor = sorted[(i + 1) % sorted.length]!;
      if (!status.ready) problem = `${node.name} is not ready`;
      else if (gone !== undefined && [...left, ...right].includes(gone.hex))
        problem = `${node.name} still lists the crashed node`;
      else if (!left.includes(predecessor.id.hex) || !right.includes(successor.id.hex))
        problem = `${node.name} does not yet list its ring neighbours`;
    }
    if (problem === "") return;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  throw new Error(`leaf sets did not become consistent within ${HEAL_TIMEOUT_MS} ms: ${problem}`);
}

async function printLeafSets(nodes: DemoNode[], print: (line: string) => void): Promise<void> {
  const byId = new Map(nodes.map((n) => [n.id.hex, n.name]));
  const nameOf = (hex: string): string => byId.get(hex) ?? hex.slice(0, 8);
  const sorted = [...nodes].sort((a, b) => (a.id.value < b.id.value ? -1 : 1));
  for (const node of sorted) {
    const status = await node.calls!.status();
    const left = status.leafSetLeft.map((n) => nameOf(idOf(n))).reverse();
    const right = status.leafSetRight.map((n) => nameOf(idOf(n)));
    print(`  ${node.name} ${short(node.id)}  leaf set [${left.join(" ")}] <- me -> [${right.join(" ")}]`);
  }
}

function short(id: NodeId): string {
  return id.hex.slice(0, 8) + "…";
}

function pad(text: string, width: number): string {
  return text.padEnd(width);
}

function seconds(since: number): string {
  return `${((Date.now() - since) / 1000).toFixed(1)} s`;
}
