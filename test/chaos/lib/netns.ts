// Private test networks made of Linux network namespaces: one namespace per node, each with a veth pair
// to a bridge in a "switch" namespace, on a subnet that exists only inside these namespaces. Nothing is
// created in the host's own namespace, so faults injected here never touch anyone else's traffic.
import { execFile, spawnSync } from "node:child_process";
import { promisify } from "node:util";
import { firstFailingCommand } from "../../helpers/host-tools.js";

const run = promisify(execFile);

/** The only subnet test networks use; a /24 of it per network (all networks are isolated anyway). */
const SUBNET_PREFIX = "10.213.0.";
const SWITCH_HOST = 254;
const MAX_NODES = 200;
const NAME_PREFIX = "wendy-t";
const NAME_RE = /^wendy-t(\d+)x\d+-/;

/** Raised when the machine cannot build namespaces (not root, no iproute2): chaos tests must fail loudly. */
export class NetnsUnavailableError extends Error {
  override readonly name = "NetnsUnavailableError";
}

/** Raised when a fault or relay would touch an address outside the test's own subnet. */
export class OutsideSubnetError extends Error {
  override readonly name = "OutsideSubnetError";
}

export interface NetNode {
  /** Namespace name, `wendy-t<testid>-<i>`. */
  readonly ns: string;
  /** The node's address inside the private subnet. */
  readonly address: string;
}

// Every namespace this process created and has not removed yet, so a crash or failed test still cleans up.
const created = new Set<string>();
let exitHookInstalled = false;
let networkCounter = 0;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const ns of created) spawnSync("ip", ["netns", "del", ns], { stdio: "ignore" });
    created.clear();
  });
}

/** Fails with a clear message unless this process can create namespaces and nftables rules. */
export function requireNetworkNamespaces(): void {
  if (process.getuid?.() !== 0) {
    throw new NetnsUnavailableError(
      "chaos tests need root (network namespaces and nftables); run them through .ci/run as root",
    );
  }
  const failing = firstFailingCommand([
    ["ip", "netns", "list"],
    ["nft", "--version"],
  ]);
  if (failing !== undefined) {
    throw new NetnsUnavailableError(
      `chaos tests need '${failing.command}' to work (install iproute2 and nftables): ${failing.why}`,
    );
  }
}

/** True when `address` ("a.b.c.d" or "a.b.c.d:port") is a host of the private test subnet. */
export function isInsideSubnet(address: string): boolean {
  const host = address.replace(/:\d+$/, "");
  if (!host.startsWith(SUBNET_PREFIX)) return false;
  const last = host.slice(SUBNET_PREFIX.length);
  if (!/^\d{1,3}$/.test(last)) return false;
  const n = Number(last);
  return n >= 1 && n <= SWITCH_HOST;
}

/** Throws unless every address is inside the private subnet: the guard every fault goes through. */
export function assertInsideSubnet(...addresses: readonly string[]): void {
  for (const a of addresses) {
    if (!isInsideSubnet(a)) {
      throw new OutsideSubnetError(
        `refusing to act on ${a}: only ${SUBNET_PREFIX}0/24 test hosts are allowed`,
      );
    }
  }
}

/** Removes namespaces left behind by earlier test processes that died without cleaning up. */
async function sweepOrphans(): Promise<void> {
  const { stdout } = await run("ip", ["netns", "list"]);
  for (const line of stdout.split("\n")) {
    const name = line.split(" ")[0] ?? "";
    const owner = NAME_RE.exec(name);
    if (owner === null) continue;
    if (isAlive(Number(owner[1]))) continue;
    await run("ip", ["netns", "del", name]).catch(() => undefined);
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

export class TestNetwork {
  private destroyed = false;

  private constructor(
    /** Unique among live test processes: `<pid>x<n>`. */
    readonly id: string,
    readonly switchNs: string,
    /** The switch namespace's own address on the bridge (where relays listen). */
    readonly switchAddress: string,
    readonly nodes: readonly NetNode[],
  ) {}

  /** Creates `count` node namespaces, each reachable from the others through the switch namespace. */
  static async create(count: number): Promise<TestNetwork> {
    requireNetworkNamespaces();
    if (!Number.isInteger(count) || count < 1 || count > MAX_NODES) {
      throw new RangeError(`a test network has 1..${MAX_NODES} nodes, got ${count}`);
    }
    installExitHook();
    await sweepOrphans();
    const id = `${process.pid}x${++networkCounter}`;
    const switchNs = `${NAME_PREFIX}${id}-sw`;
    const switchAddress = `${SUBNET_PREFIX}${SWITCH_HOST}`;
    const nodes = Array.from({ length: count }, (_, i) => ({
      ns: `${NAME_PREFIX}${id}-${i + 1}`,
      address: `${SUBNET_PREFIX}${i + 1}`,
    }));
    const network = new TestNetwork(id, switchNs, switchAddress, nodes);
    try {
      await addNamespace(switchNs);
      await ip(["-n", switchNs, "link", "add", "br0", "type", "bridge"]);
      await ip(["-n", switchNs, "addr", "add", `${switchAddress}/24`, "dev", "br0"]);
      await ip(["-n", switchNs, "link", "set", "br0", "up"]);
      for (const [i, node] of nodes.entries()) {
        const port = `v${i + 1}`;
        await addNamespace(node.ns);
        await ip([
          "-n",
          switchNs,
          "link",
          "add",
          port,
          "type",
          "veth",
          "peer",
          "name",
          "eth0",
          "netns",
          node.ns,
        ]);
        await ip(["-n", switchNs, "link", "set", port, "master", "br0"]);
        await ip(["-n", switchNs, "link", "set", port, "up"]);
        await ip(["-n", node.ns, "addr", "add", `${node.address}/24`, "dev", "eth0"]);
        await ip(["-n", node.ns, "link", "set", "eth0", "up"]);
      }
    } catch (error) {
      await network.destroy();
      throw error;
    }
    return network;
  }

  /** The command prefix that runs a program inside node `i`'s namespace (0-based). */
  wrap(i: number): string[] {
    return ["ip", "netns", "exec", this.node(i).ns];
  }

  node(i: number): NetNode {
    const n = this.nodes[i];
    if (n === undefined) throw new RangeError(`no node ${i} in a network of ${this.nodes.length}`);
    return n;
  }

  /** Index of the node that owns `address` ("host" or "host:port"); throws for anything else. */
  indexOf(address: string): number {
    assertInsideSubnet(address);
    const host = address.replace(/:\d+$/, "");
    const i = this.nodes.findIndex((n) => n.address === host);
    if (i < 0) throw new OutsideSubnetError(`${address} is not a node of network ${this.id}`);
    return i;
  }

  /** Runs nftables commands (an `nft -f` script) inside namespace `ns` of this network. */
  async nft(ns: string, script: string): Promise<string> {
    this.requireOwn(ns);
    const child = execFile("ip", ["netns", "exec", ns, "nft", "-f", "-"]);
    const output = new Promise<string>((resolve, reject) => {
      let out = "";
      let err = "";
      child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
      child.stderr?.on("data", (d: Buffer) => (err += d.toString()));
      child.on("error", reject);
      child.on("close", (code) =>
        code === 0 ? resolve(out) : reject(new Error(`nft in ${ns} failed (${code}): ${err}\n${script}`)),
      );
    });
    child.stdin?.end(script);
    return output;
  }

  /** Runs one command inside namespace `ns` of this network and returns its standard output. */
  async exec(ns: string, argv: readonly string[]): Promise<string> {
    this.requireOwn(ns);
    const { stdout } = await run("ip", ["netns", "exec", ns, ...argv]);
    return stdout;
  }

  /** Deletes every namespace of this network (their veths and bridge go with them). Idempotent. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const ns of [...this.nodes.map((n) => n.ns), this.switchNs]) {
      if (!created.has(ns)) continue;
      await run("ip", ["netns", "del", ns]).catch(() => undefined);
      created.delete(ns);
    }
  }

  private requireOwn(ns: string): void {
    if (ns !== this.switchNs && !this.nodes.some((n) => n.ns === ns)) {
      throw new OutsideSubnetError(`namespace ${ns} does not belong to test network ${this.id}`);
    }
  }
}

async function addNamespace(ns: string): Promise<void> {
  await ip(["netns", "add", ns]);
  created.add(ns);
  await ip(["-n", ns, "link", "set", "lo", "up"]);
}

async function ip(args: readonly string[]): Promise<void> {
  await run("ip", [...args]);
}

/** Names of this process's namespaces that still exist (for cleanup tests). */
export async function listOwnNamespaces(): Promise<string[]> {
  const { stdout } = await run("ip", ["netns", "list"]);
  return stdout
    .split("\n")
    .map((l) => l.split(" ")[0] ?? "")
    .filter((n) => n.startsWith(`${NAME_PREFIX}${process.pid}x`));
}
