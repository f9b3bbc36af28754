// `make demo`: a few hundred simulated Pastry nodes join through the real join protocol, route messages to
// random keys, lose 10 % of their number to crashes, repair, and route correctly again.
import { performance } from "node:perf_hooks";
import { leafSetMembers } from "./machine.js";
import { measureRoutes } from "./measure.js";
import { createPastryMachine } from "./pastry.js";
import { Simulator } from "./simulator.js";

const NODES = 300;
const started = performance.now();
const sim = new Simulator({
  seed: 2026,
  createMachine: createPastryMachine,
  seedSelection: { kind: "nearestOfSample", sample: 8 },
});
const short = (hex: string): string => hex.slice(0, 8);
const log = (line = ""): void => console.log(line);

log(
  `Wendy simulation demo: ${NODES} Pastry nodes on a virtual network (4 regions, 2-143 ms one-way latency)`,
);
log();
sim.grow(NODES, { growth: 0.5, spreadMs: 1000 });
log(
  `1. Built: ${sim.truth.size}/${NODES} nodes ready after ${(sim.now / 1000).toFixed(1)} s of virtual time ` +
    `(every node joined through a live seed with the real join protocol).`,
);
sim.runFor(3000);

log();
log("2. A few messages, each to a random key from a random node:");
const shown: string[] = [];
for (let i = 0; i < 6; i++) {
  const id = sim.sendRandomMessage(true);
  if (id !== undefined) shown.push(id);
}
sim.runFor(2000);
for (const id of shown) {
  const m = sim.message(id);
  if (m === undefined) continue;
  const from = sim.node(m.origin);
  if (m.status !== "delivered" || m.deliveredBy === undefined) {
    log(`   key ${short(m.key.hex)}… from ${short(from.info.id.hex)}…: ${m.status} ${m.dropReason ?? ""}`);
    continue;
  }
  const at = sim.node(m.deliveredBy);
  log(
    `   key ${short(m.key.hex)}… from ${short(from.info.id.hex)}… (${from.info.region}) -> ` +
      `${short(at.info.id.hex)}… (${at.info.region}) in ${m.hops} hop(s), ` +
      `${m.deliveredCorrectly === true ? "the true owner" : "NOT the true owner"}`,
  );
}

function trafficRound(label: string, count: number): void {
  sim.clearTrackedMessages();
  sim.scheduleTraffic(count, 2000, true);
  sim.runFor(2000 + 5000);
  const a = sim.account();
  const r = measureRoutes(sim);
  const lost = a.lostToCrash + a.lostToLeave;
  const dropped = Object.entries(a.dropped)
    .map(([reason, n]) => `${n} ${reason}`)
    .join(", ");
  log(
    `${label}: ${a.delivered}/${a.sent} delivered (${a.deliveredCorrectly} at the true owner, ` +
      `${a.misdelivered} elsewhere), ${dropped === "" ? "none dropped" : `dropped: ${dropped}`}, ` +
      `${lost} lost with a crashed node, ${a.unaccounted} unaccounted, mean ${r.hops.mean.toFixed(2)} hops (max ${r.hops.max}), ` +
      `stretch ${r.stretch.mean.toFixed(2)}`,
  );
}

/** Leaf-set entries, over all live nodes, that point at nodes which are no longer alive. */
function staleLeafEntries(): number {
  const dead = new Set(
    sim
      .allNodes()
      .filter((n) => n.state === "crashed" || n.state === "left")
      .map((n) => n.info.id.hex),
  );
  let stale = 0;
  for (const n of sim.liveNodes()) for (const e of leafSetMembers(n.machine)) if (dead.has(e.id.hex)) stale++;
  return stale;
}

log();
trafficRound("3. 2,000 random messages on the stable overlay", 2000);

log();
const crashed = sim.crashRandom(Math.round(NODES / 10));
log(
  `4. Crashed ${crashed.length} random nodes at once (no goodbye); ${staleLeafEntries()} leaf-set entries now point at dead nodes.`,
);
trafficRound("   Traffic right after the crash", 1000);
sim.runFor(5000);
log(`   After repair: ${staleLeafEntries()} stale leaf-set entries left.`);
trafficRound("   2,000 messages after repair", 2000);

log();
const leavers = sim.readyNodes().slice(0, 10);
for (const n of leavers) sim.leave(n.index);
sim.runFor(3000);
log(`5. ${leavers.length} nodes left gracefully; ${staleLeafEntries()} stale leaf-set entries.`);
trafficRound("   2,000 messages after the leaves", 2000);

const checks = sim.deliveryChecks();
const mem = sim.peakMemory();
log();
log(
  `Summary: ${sim.truth.size} live ready nodes, ${checks.misdeliveries} misdeliveries and ` +
    `${checks.duplicateDeliveries} duplicate deliveries in the whole run, ${sim.events.toLocaleString("en-US")} ` +
    `events, ${(sim.now / 1000).toFixed(1)} s virtual in ${((performance.now() - started) / 1000).toFixed(1)} s wall, ` +
    `peak RSS ${Math.round(mem.rssBytes / 1024 / 1024)} MiB.`,
);
