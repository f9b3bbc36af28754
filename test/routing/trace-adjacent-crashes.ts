// Traces one case of the adjacent-crash property (overlay.test.ts) as the sweep (sweep-adjacent-crashes.ts)
// reports it: which nodes crashed, every message sent from the crashes on (probes, pushes, answers; not
// heartbeats unless asked), and, whenever it changes, every live node whose leaf set is not exact, with the
// sides it holds against the true ones. Nodes are named N0, N1, ... in ring order before the crashes.
//
//   npx tsx test/routing/trace-adjacent-crashes.ts --seed 141240 [--leaf-set-size 8] [--crashes 4]
//       [--report-all] [--focus N7,N12] [--heartbeats] [--until 20000]
//
// --focus keeps only the messages sent by or to the nodes named. The run stops once every leaf set is exact,
// or at --until ms after the crashes.
import { parseArgs } from "node:util";
import type { NodeId } from "../../src/routing/id.js";
import type { NodeInfo, PeerMessage } from "../../src/routing/types.js";
import { build, crashAdjacent, ringOrder } from "./adjacent-crash-runs.js";
import { trueSides, type Overlay } from "./overlay-harness.js";

const STEP_MS = 250;

const { values } = parseArgs({
  options: {
    seed: { type: "string" },
    "leaf-set-size": { type: "string", default: "8" },
    crashes: { type: "string", default: "4" },
    "report-all": { type: "boolean", default: false },
    focus: { type: "string", default: "" },
    heartbeats: { type: "boolean", default: false },
    until: { type: "string", default: "20000" },
  },
});
const seed = Number(values.seed);
const leafSetSize = Number(values["leaf-set-size"]);
const crashCount = Number(values.crashes);
const untilMs = Number(values.until);
if (!Number.isInteger(seed) || seed < 1 || ![8, 16].includes(leafSetSize) || !Number.isInteger(crashCount)) {
  console.error("--seed: a seed >= 1; --leaf-set-size: 8 or 16; --crashes: an integer");
  process.exit(2);
}
if (!Number.isFinite(untilMs) || untilMs < 0 || untilMs > 600_000) {
  console.error("--until: 0 to 600000 ms");
  process.exit(2);
}
const reportAll = values["report-all"];
const focus = new Set(values.focus.split(",").filter((name) => name !== ""));

// build is deterministic: the same overlay as crashAdjacent's, read before its crashes to name every node.
const names = new Map<string, string>();
ringOrder(build(2 * leafSetSize + 10, seed, leafSetSize, reportAll ? "all" : "route")).forEach((node, i) =>
  names.set(node.self.id.hex, `N${i}`),
);
const nameOf = (id: NodeId | undefined): string => (id === undefined ? "?" : (names.get(id.hex) ?? id.hex));
const list = (nodes: readonly NodeInfo[]): string => nodes.map((n) => nameOf(n.id)).join(" ");

/** The leaf sets and deaths a message carries, which is what repairs are made of. */
function carried(message: PeerMessage): string {
  switch (message.type) {
    case "leafSet":
      return ` [${list(message.leafSet)}] removed [${message.removed.map(nameOf).join(" ")}]`;
    case "probeReply":
      return ` [${list(message.leafSet)}] removed [${(message.removed ?? []).map(nameOf).join(" ")}]`;
    case "leave":
      return ` [${list(message.leafSet)}]`;
    default:
      return "";
  }
}

/** The overlay once crashAdjacent returns it, and its time then (its crashes and first sends are at 0 s). */
const traced: { overlay?: Overlay; crashedAt: number } = { crashedAt: 0 };
const { overlay } = crashAdjacent(seed, leafSetSize, crashCount, reportAll, (node, output) => {
  if (output.type !== "send") return;
  const { message } = output.out;
  if (message.type === "heartbeat" && !values.heartbeats) return;
  const from = nameOf(node.self.id);
  const to = nameOf(output.out.to?.id);
  if (focus.size > 0 && !focus.has(from) && !focus.has(to)) return;
  const at = traced.overlay === undefined ? 0 : (traced.overlay.now - traced.crashedAt) / 1000;
  const attempt = output.out.attempt === undefined ? "" : ` (send ${output.out.attempt + 1})`;
  console.log(`${at.toFixed(3)} s  ${from} -> ${to}  ${message.type}${carried(message)}${attempt}`);
});
traced.overlay = overlay;
traced.crashedAt = overlay.now;
const crashed = [...names].filter(([hex]) => !overlay.live().some((n) => n.self.id.hex === hex));
console.log(`crashed: ${crashed.map(([, name]) => name).join(" ")} of ${names.size} nodes`);

let last: string | undefined;
for (let waited = 0; waited <= untilMs; waited += STEP_MS) {
  const live = overlay.live();
  const wrong: string[] = [];
  for (const node of live) {
    const truth = trueSides(node, live, leafSetSize);
    const { left, right } = node.leafSet();
    const held = { left: left.map((n) => n.id.hex), right: right.map((n) => n.id.hex) };
    if (held.left.join() === truth.left.join() && held.right.join() === truth.right.join()) continue;
    const named = (hexes: readonly string[]): string => hexes.map((hex) => names.get(hex) ?? hex).join(" ");
    wrong.push(
      `${nameOf(node.self.id)}: left [${named(held.left)}] (true [${named(truth.left)}]), ` +
        `right [${named(held.right)}] (true [${named(truth.right)}])`,
    );
  }
  const state = wrong.join("\n  ");
  if (state !== last)
    console.log(`== ${(waited / 1000).toFixed(2)} s: ${wrong.length} not exact\n  ${state}`);
  last = state;
  if (wrong.length === 0) break;
  overlay.advance(STEP_MS);
}
