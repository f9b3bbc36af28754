// The overlays of overlay.test.ts, and l/2 adjacent crashes in one, as plain functions: the property tests
// use them, and test/routing/sweep-adjacent-crashes.ts runs the crashes over thousands of seeds and reports how
// long each took to repair (fast-check stops at the first failure).
import { PROBE_ATTEMPTS } from "../../src/routing/failure-detector.js";
import type { PastryNode } from "../../src/routing/node.js";
import { DEFAULT_ROUTING_CONFIG, type RandomSource } from "../../src/routing/types.js";
import { leafSetsExact, Overlay, randomId, seededRandom } from "./overlay-harness.js";

/** How long a silent node's probe takes to find it dead, at the least timeout: attempt k waits k timeouts. */
const VERDICT_MS = ((PROBE_ATTEMPTS * (PROBE_ATTEMPTS + 1)) / 2) * DEFAULT_ROUTING_CONFIG.probeTimeoutMs;

/**
 * The longest l/2 adjacent crashes take to repair, the bound the property holds them to (with the default
 * timings): the first crashed node is suspected after a failure timeout of silence and found dead a verdict
 * later; a neighbour told of it by a finder whose leaf set reaches less far probes the nearest member beyond
 * that reach first, and the rest once that probe's first attempt goes unanswered (one probe timeout;
 * beyond-checks.ts), found dead a verdict after that: 6 + 3 + 0.5 + 3 = 12.5 s.
 */
export const ADJACENT_CRASH_BOUND_MS =
  DEFAULT_ROUTING_CONFIG.failureTimeoutMs + 2 * VERDICT_MS + DEFAULT_ROUTING_CONFIG.probeTimeoutMs;

/** `size` nodes joined one by one (ids from the seed), leaf sets of `leafSetSize`. */
export function build(
  size: number,
  seed: number,
  leafSetSize: number,
  failures: "route" | "all" = "route",
): Overlay {
  const overlay = new Overlay({ leafSetSize }, seed, failures);
  const random = seededRandom(seed * 7919 + 1);
  overlay.bootstrap(randomId(random));
  for (let i = 1; i < size; i++) overlay.join(randomId(random));
  return overlay;
}

/** Sends `count` messages to random keys from random live nodes; returns their ids. */
export function sendRandom(overlay: Overlay, random: RandomSource, count: number, wantAck = false): string[] {
  const ids: string[] = [];
  const nodes = overlay.live().filter((n) => n.isReady());
  for (let i = 0; i < count; i++) {
    const from = nodes[Math.floor(random.next() * nodes.length)] as PastryNode;
    ids.push(overlay.send(from, randomId(random), wantAck));
  }
  return ids;
}

/** The live nodes in ring order. */
export function ringOrder(overlay: Overlay): PastryNode[] {
  return overlay.live().sort((a, b) => a.self.id.compare(b.self.id));
}

/**
 * An overlay of 2l + 10 nodes in which `min(crashCount, l/2)` ring neighbours (from the seed's position) have
 * just crashed, and 30 messages to random keys went out at once (they meet the crashed nodes). `observe`
 * sees every node's outputs from the crashes on (trace-adjacent-crashes.ts).
 */
export function crashAdjacent(
  seed: number,
  leafSetSize: number,
  crashCount: number,
  reportAll: boolean,
  observe?: Overlay["observe"],
): { overlay: Overlay; random: RandomSource; crashes: number } {
  const crashes = Math.min(crashCount, leafSetSize / 2);
  const overlay = build(2 * leafSetSize + 10, seed, leafSetSize, reportAll ? "all" : "route");
  overlay.observe = observe;
  const ring = ringOrder(overlay);
  const start = seed % ring.length;
  for (let i = 0; i < crashes; i++) overlay.crash(ring[(start + i) % ring.length] as PastryNode);
  const random = seededRandom(seed + 1);
  sendRandom(overlay, random, 30);
  overlay.pump();
  return { overlay, random, crashes };
}

/** crashAdjacent, then how long until every leaf set is exact (checked every 250 ms), or undefined by `boundMs`. */
export function adjacentCrashRepairMs(
  seed: number,
  leafSetSize: number,
  crashCount: number,
  reportAll: boolean,
  boundMs: number,
): number | undefined {
  const { overlay } = crashAdjacent(seed, leafSetSize, crashCount, reportAll);
  for (let waited = 0; waited <= boundMs; waited += 250) {
    if (leafSetsExact(overlay, leafSetSize)) return waited;
    overlay.advance(250);
  }
  return undefined;
}
