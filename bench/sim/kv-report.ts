// Renders bench/results/sim-kv.md from the rows of sim-kv.json (bench/sim/kv.ts).
import type { KvRunResult, PhaseTraffic } from "../../src/sim/kv-run.js";

export interface KvBenchRow {
  readonly result: KvRunResult;
  readonly medianMinutes: number;
  readonly churnMinutes: number;
  readonly repairMinutes: number;
  readonly seed: number;
  readonly valueBytes: number;
  readonly crashFraction: number;
  /** Writes per second during churn and the share of them that overwrite a key (absent in older rows). */
  readonly churnWritesPerSecond?: number;
  readonly churnOverwriteShare?: number;
  readonly wallSeconds: number;
  readonly cpuSeconds: number;
  readonly commit: string;
  readonly date: string;
  readonly machine: { readonly cpus: number; readonly node: string };
}

const pct = (x: number): string => `${(100 * x).toFixed(3)} %`;
const n = (x: number): string => x.toLocaleString("en-US");
/** Repair traffic (re-replication and anti-entropy; the writes' own calls are not repair). */
const rate = (t: PhaseTraffic): string =>
  `${(t.re_replication.messages + t.anti_entropy.messages).toFixed(2)} msg, ` +
  `${((t.re_replication.bytes + t.anti_entropy.bytes) / 1024).toFixed(2)} KiB ` +
  `(re-repl. ${t.re_replication.messages.toFixed(2)} msg / ${(t.re_replication.bytes / 1024).toFixed(2)} KiB; ` +
  `anti-entropy ${t.anti_entropy.messages.toFixed(2)} msg / ${(t.anti_entropy.bytes / 1024).toFixed(2)} KiB)`;

export function renderKvMarkdown(rows: readonly KvBenchRow[]): string {
  const lines = [
    "# Key-value replication under churn (simulated)",
    "",
    "Produced by `make bench-sim-kv` (bench/sim/kv.ts; raw figures in sim-kv.json). The replication protocol",
    "runs on every simulated node with the runtime's own decisions (src/kv: re-replication tracker and plan,",
    "anti-entropy partners, digests and reconcile plan, placement, batching), over each node's own routing",
    "view (its PastryNode's leaf set and `replicas()`); only the sending is simulated (virtual network",
    "latency; a call to a crashed host times out after 2 s, to a dead process or an unjoined node is refused).",
    "Keys are written with W = 2 of k = 3 acknowledgements (coordinated by the key's owner: version read, then",
    "Replicate), the store rests 30 s, then sessions are drawn from the exponential law shown (half the",
    "departures crashes, half graceful leaves that hand nothing over; every departure replaced by a join) while",
    "writes go on (new keys and overwrites of written ones, each key's writes one after another, every value",
    "naming its write), churn stops and repair runs. k correct = all k live nodes closest to the key (the",
    "ring's truth) hold its latest acknowledged version; lost = no live node holds it. The read check at the",
    "end reads every key from its k true replicas: the newest record they hold must be the key's last",
    "acknowledged write (or a write issued after it, unacknowledged: the documented newer value), held by all",
    "k; behind = an earlier write instead (an acknowledged write lost), divergent = one version with two",
    "values, never written = a value no write carried. Traffic = requests and answers of re-replication",
    "and anti-entropy per ready node per second, sizes estimated from the protobuf fields (src/sim/kv-traffic.ts);",
    "at rest = the 30 s after the writes (each replica checks once the keys it received, then only the one",
    "anti-entropy digest call a second remains, the steady cost).",
    "",
    "| nodes | keys (acked) | sessions | departures | writes during churn: issued (acked), overwrites | fewest live holders 0/1/2/3 | k correct at churn end | worst during churn | k correct after repair (lost) | all k correct after | read check: last acked / newer / behind / missing / divergent / never written / fewer than k | traffic at rest /node/s | during churn /node/s | after churn /node/s | cpu s (wall) | commit |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
  ];
  for (const row of rows) {
    const r = row.result;
    const departures = Object.values(r.departures).reduce((a, b) => a + b, 0);
    const endOfChurn = r.duringChurn.at(-1);
    const worst = r.duringChurn.reduce(
      (w, c) => Math.min(w, c.shareWithAllReplicas),
      Number.POSITIVE_INFINITY,
    );
    lines.push(
      `| ${n(r.nodes)} | ${n(r.keysWritten)} (${n(r.keysAcknowledged)}) | exp., median ${row.medianMinutes} min, ` +
        `${row.churnMinutes} min of churn | ${n(departures)} (+${n(r.arrivals)} joins) | ${churnWrites(row)} | ${r.fewestLiveHolders.join("/")} | ` +
        `${endOfChurn === undefined ? "-" : pct(endOfChurn.shareWithAllReplicas)} | ${Number.isFinite(worst) ? pct(worst) : "-"} | ` +
        `${pct(r.final.shareWithAllReplicas)} (${r.final.lost}) | ` +
        `${r.convergedAfterMs === undefined ? `not within ${row.repairMinutes} min` : `${(r.convergedAfterMs / 1000).toFixed(0)} s`} | ` +
        `${readCheck(r)} | ` +
        `${rate(r.traffic.rest)} | ${rate(r.traffic.churn)} | ${rate(r.traffic.repair)} | ` +
        `${row.cpuSeconds.toFixed(0)} (${row.wallSeconds.toFixed(0)}) | ${row.commit} |`,
    );
  }
  lines.push(
    "",
    "Census windows (k correct share, lost) per run:",
    "",
    ...rows.map(
      (row) =>
        `- ${n(row.result.nodes)} nodes: churn ` +
        row.result.duringChurn.map((c) => `${pct(c.shareWithAllReplicas)}/${c.lost}`).join(", ") +
        "; repair " +
        row.result.afterChurn.map((c) => `${pct(c.shareWithAllReplicas)}/${c.lost}`).join(", "),
    ),
    "",
  );
  return lines.join("\n");
}

/** Writes issued during churn: all (acknowledged), of which overwrites (acknowledged); "-" for older rows. */
function churnWrites(row: KvBenchRow): string {
  // Rows of earlier runs (sim-kv.json) have neither writes during churn nor a read check.
  const w = (row.result as Partial<KvRunResult>).writes?.duringChurn;
  if (w === undefined) return "- (written before churn only)";
  return (
    `${n(w.issued)} (${n(w.acked)}) at ${row.churnWritesPerSecond ?? "?"}/s, ` +
    `${n(w.overwritesIssued)} (${n(w.overwritesAcked)}) overwrites`
  );
}

function readCheck(r: KvRunResult): string {
  const c = (r as Partial<KvRunResult>).readCheck;
  if (c === undefined) return "-";
  return `${n(c.atLatest)} / ${n(c.newer)} / ${c.behind} / ${c.missing} / ${c.divergent} / ${c.neverWritten} / ${c.short} of ${n(c.keys)}`;
}
