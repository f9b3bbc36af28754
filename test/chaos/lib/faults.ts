// Faults a chaos test injects: packet loss and partitions with nftables inside the test's own namespaces,
// and process faults (freeze, thaw, kill -9, graceful stop, restart under the same name).
import type { PeerProcess, World } from "../../integration/harness.js";
import { assertInsideSubnet, type TestNetwork } from "./netns.js";

// One table per node namespace holds every packet fault; healing deletes it.
const TABLE = "inet wendy_chaos";

async function ensureTable(net: TestNetwork, ns: string): Promise<void> {
  await net.nft(
    ns,
    [
      `add table ${TABLE}`,
      `add chain ${TABLE} input { type filter hook input priority 0; policy accept; }`,
      `add chain ${TABLE} output { type filter hook output priority 0; policy accept; }`,
    ].join("\n"),
  );
}

function addressSet(hosts: readonly string[]): string {
  return `{ ${hosts.join(", ")} }`;
}

/**
 * Drops `percent` % of packets in both directions between every node of `a` and every node of `b`
 * (indices into the network). The drop is random per packet (nft numgen), so TCP sees real loss.
 */
export async function addLoss(
  net: TestNetwork,
  a: readonly number[],
  b: readonly number[],
  percent: number,
): Promise<void> {
  if (!Number.isInteger(percent) || percent < 1 || percent > 100) {
    throw new RangeError(`loss must be an integer percentage in 1..100, got ${percent}`);
  }
  const hostsA = a.map((i) => net.node(i).address);
  const hostsB = b.map((i) => net.node(i).address);
  assertInsideSubnet(...hostsA, ...hostsB);
  // Each side drops a share of what arrives from the other, so each direction loses `percent` %.
  for (const [mine, theirs] of [
    [a, hostsB],
    [b, hostsA],
  ] as const) {
    for (const i of mine) {
      const ns = net.node(i).ns;
      await ensureTable(net, ns);
      await net.nft(
        ns,
        `add rule ${TABLE} input ip saddr ${addressSet(theirs)} numgen random mod 100 < ${percent} counter drop`,
      );
    }
  }
}

/** Cuts every packet between the two groups (both directions), as a network split would. */
export async function partition(net: TestNetwork, a: readonly number[], b: readonly number[]): Promise<void> {
  const overlap = a.filter((i) => b.includes(i));
  if (overlap.length > 0) throw new RangeError(`nodes ${overlap.join(",")} are on both sides`);
  const hostsA = a.map((i) => net.node(i).address);
  const hostsB = b.map((i) => net.node(i).address);
  assertInsideSubnet(...hostsA, ...hostsB);
  for (const [mine, theirs] of [
    [a, hostsB],
    [b, hostsA],
  ] as const) {
    for (const i of mine) {
      const ns = net.node(i).ns;
      await ensureTable(net, ns);
      await net.nft(
        ns,
        [
          `add rule ${TABLE} input ip saddr ${addressSet(theirs)} counter drop`,
          `add rule ${TABLE} output ip daddr ${addressSet(theirs)} drop`,
        ].join("\n"),
      );
    }
  }
}

/** Removes every loss and partition rule from every node namespace of the network. */
export async function heal(net: TestNetwork): Promise<void> {
  for (const node of net.nodes) {
    // "add" first makes the delete succeed whether or not a fault was ever injected here.
    await net.nft(node.ns, `add table ${TABLE}\ndelete table ${TABLE}`);
  }
}

/** The packet-fault rules currently installed in a node's namespace (for tests of this module). */
export async function listRules(net: TestNetwork, i: number): Promise<string> {
  return net.exec(net.node(i).ns, ["nft", "list", "ruleset"]);
}

/** Stops the node's process in its tracks (SIGSTOP): it keeps its sockets but answers nothing. */
export function freeze(peer: PeerProcess): void {
  signal(peer, "SIGSTOP");
}

/** Lets a frozen node run again (SIGCONT). */
export function thaw(peer: PeerProcess): void {
  signal(peer, "SIGCONT");
}

function signal(peer: PeerProcess, name: NodeJS.Signals): void {
  const pid = peer.child.pid;
  if (pid === undefined || peer.exited) throw new Error(`${peer.options.name} is not running`);
  process.kill(pid, name);
}

/** Abrupt death (SIGKILL): no leave, no goodbye. */
export async function killHard(peer: PeerProcess): Promise<void> {
  await peer.kill();
}

/** Graceful leave; if the node does not exit within `limitMs` it is killed, so the test stays bounded. */
export async function stopGracefully(peer: PeerProcess, limitMs = 10_000): Promise<"left" | "killed"> {
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    peer.stop().then(() => "left" as const),
    new Promise<"late">((resolve) => {
      timer = setTimeout(() => resolve("late"), limitMs);
    }),
  ]);
  clearTimeout(timer);
  if (outcome === "late") {
    await peer.kill();
    return "killed";
  }
  return outcome;
}

/**
 * Starts a node again under the same name (hence the same ID) and the same options, joining through
 * `seeds`; the old process must be gone. The new process gets a fresh incarnation.
 */
export function restart(world: World, peer: PeerProcess, seeds: readonly string[]): PeerProcess {
  if (!peer.exited) throw new Error(`${peer.options.name} is still running; kill or stop it first`);
  for (const s of seeds) if (peer.options.host.startsWith("10.")) assertInsideSubnet(s);
  return world.start({ ...peer.options, seeds });
}
