// The markdown table of one run (bench/results/latest.md): every figure beside the same-run baseline.
import type { BenchResult, ClusterFigure, RoutedFigure, UnaryFigure } from "./lib/result.js";
import { cpuPerHop } from "./lib/targets.js";
import { codeWarmupLimits, idleSettleMs } from "./lib/settings.js";

const MIB = 1024 * 1024;

export function renderMarkdown(r: BenchResult, svgName: string): string {
  const out: string[] = [];
  const line = (text = ""): void => void out.push(text);
  line(`# Wendy benchmark (${r.date})`);
  line();
  line(
    `Commit ${r.commit}; ${r.machine.cpus} cores (${r.machine.cpuModel}), Node ${r.machine.node}; load average ` +
      `${fmtLoad(r.machine.loadAverageAtStart)} at start, ${fmtLoad(r.machine.loadAverageAtEnd)} at end (a shared ` +
      `machine: read ratios, not absolute figures). Daemons: ${r.daemonRuntime}, default protocol settings, ` +
      `127.0.0.1 only. Each figure is the median of ${r.settings.repeats} repeats of ${r.settings.measureMs} ms ` +
      `after ${r.settings.warmupMs} ms of warm-up${codeWarmupClause(r)}. Produced by \`make bench\` (bench/run.ts); raw figures in ` +
      `${r.date}.json.`,
  );
  line();
  for (const p of r.problems) line(`**Not measured:** ${p}`);
  if (r.problems.length > 0) line();
  line("## Targets (ratios against the baseline of this run)");
  line();
  line("| target | measured | goal | met |");
  line("| --- | ---: | ---: | :---: |");
  for (const t of r.targets)
    line(`| ${t.name} | ${t.measured} | ${t.target} | ${t.met ? "yes" : "**no**"} |`);
  line();
  line("## Baseline: plain @grpc/grpc-js between two processes");
  line();
  line(
    "| payload | in flight | unary calls/s | p50 / p99 / p999 ms | server CPU µs/call | client CPU µs/call |",
  );
  line("| ---: | ---: | ---: | ---: | ---: | ---: |");
  for (const u of r.baseline.unary)
    line(
      `| ${bytes(u.payloadBytes)} | ${u.inFlight} | ${n0(u.callsPerSecond)} | ${lat(u)} | ${n0(u.serverCpuSecondsPerCall * 1e6)} | ${n0(u.clientCpuSecondsPerCall * 1e6)} |`,
    );
  line();
  for (const s of r.baseline.stream)
    line(`- server-streaming rate, ${bytes(s.payloadBytes)} messages: ${n0(s.messagesPerSecond)} msgs/s`);
  line();
  const roundTrips = r.baseline.roundTrips;
  if (roundTrips !== undefined && roundTrips.length > 0) {
    line(
      "Round trips on one long-lived bidi stream (each message written comes back; a round trip counts as a " +
        "call): the least one leg of the daemon path can cost, since every leg (the client's streams, the " +
        "subscriber's, the route streams between nodes) is a message on such a stream.",
    );
    line();
    line(
      "| payload | in flight | round trips/s | p50 / p99 / p999 ms | server CPU µs/round trip | client CPU µs/round trip |",
    );
    line("| ---: | ---: | ---: | ---: | ---: | ---: |");
    for (const u of roundTrips)
      line(
        `| ${bytes(u.payloadBytes)} | ${u.inFlight} | ${n0(u.callsPerSecond)} | ${lat(u)} | ${n0(u.serverCpuSecondsPerCall * 1e6)} | ${n0(u.clientCpuSecondsPerCall * 1e6)} |`,
      );
    line();
  }
  line("## Routed through the overlay (client API, keys owned by other nodes)");
  line();
  line(
    "Send: from `WendyClient.send` (the TypeScript client API, which carries sends on the node's SendStream: " +
      "one long-lived stream per client, the sends of one event-loop turn in one stream message) to the owner's " +
      "subscriber receiving the message. Call: request/response " +
      "answered by the owner's subscriber. Daemon CPU is all daemons together per message; harness CPU is the " +
      "load generator and subscribers (this process) per message. Echo: the plain unary echo with the same " +
      "payload and in-flight count, measured just before each repeat; vs echo is the median of the per-repeat " +
      "ratios. CPU µs/op/hop: daemon CPU per message over its mean hops. Rows with a leaf set (`nodes/l`) are the " +
      "multi-hop set: a small leaf set makes routes longer than one hop. embedded: the same Send between " +
      "clusters of the library API in one process (its CPU column covers that whole process: clusters, load " +
      "and applications), the floor the daemon path is held against.",
  );
  line();
  line(
    "| kind | nodes | payload | in flight | ops/s | echo calls/s | vs echo | p50 / p99 / p999 ms | echo p50 ms | p50 vs echo | daemon CPU µs/op | CPU µs/op/hop | harness CPU µs/op | mean hops | failed / misdelivered |",
  );
  line(
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  );
  for (const x of r.routed) line(routedRow(x));
  line();
  out.push(...socketSection(r));
  out.push(...kvSection(r));
  out.push(...warmupSection(r));
  line("## Memory, maintenance, hops per cluster");
  line();
  line(
    "| nodes | idle RSS MiB (of it: Node.js executable / anonymous) | RSS under load MiB (max) | known peers | maintenance msgs/node/s at rest | idle CPU % of a core per daemon (max) | mean hops |",
  );
  line("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
  for (const c of r.clusters)
    line(
      `| ${c.nodes} | ${n1(c.idleRssBytes / MIB)}${idleParts(c)} | ${n1(c.loadRssBytes / MIB)} | ${n1(c.knownPeers)} | ${c.maintenancePerNodePerSecond.toFixed(2)} | ${idleCpu(c)} | ${c.meanHops.toFixed(2)} |`,
    );
  line();
  for (const c of r.clusters) {
    const m = c.memoryLimit;
    if (m === undefined) continue;
    line(
      `${c.nodes} nodes, each daemon in a memory cgroup of its own with a limit of ${n1(m.limitBytes / MIB)} MiB ` +
        `(as a pod's container): largest peak charged ${n1(m.peakChargedBytes / MIB)} MiB, ` +
        `${m.oomKills} OOM kills over ${m.daemons} daemons.`,
    );
    line();
  }
  line(
    `At rest: ${n0(r.settings.idleMs / 1000)} s with no traffic, from ${n0(idleSettleMs(r.settings) / 1000)} s after the ` +
      "cluster's last join (so that start-up work, V8's start-up collections among it, is over); maintenance counts every " +
      "outgoing peer RPC but Route, Ack and RouteStream; CPU is each daemon's own CPU time from /proc (median " +
      "over the daemons, the busiest in brackets), so load from other processes does not count.",
  );
  line();
  line(
    `Memory per known peer (idle RSS difference between the largest and smallest cluster over the difference in ` +
      `known peers): ${Number.isFinite(r.memoryPerKnownPeerBytes) ? `${n1(r.memoryPerKnownPeerBytes / 1024)} KiB` : "n/a"}.`,
  );
  line();
  if (r.joins.length > 0) {
    line("## Join (`wendy start --join` to /readyz 200)");
    line();
    line(
      "| cluster after join | spawn to ready ms | spawn to started ms (process boot) | started to ready ms (join) | runs ms |",
    );
    line("| ---: | ---: | ---: | ---: | --- |");
    for (const j of r.joins)
      line(
        `| ${j.nodes} | ${n0(j.readyMs)} | ${n0(j.bootMs)} | ${n0(j.joinMs)} | ${j.runsReadyMs.map(n0).join(", ")} |`,
      );
    line();
  }
  if (r.failures.length > 0) {
    line("## Failure (SIGKILL of one node, default protocol settings)");
    line();
    line(
      "| nodes | first survivor drops it ms | all leaf sets repaired ms | delivery to its keys correct ms | runs (repaired) ms |",
    );
    line("| ---: | ---: | ---: | ---: | --- |");
    for (const f of r.failures)
      line(
        `| ${f.nodes} | ${n0(f.firstDetectedMs)} | ${n0(f.repairedMs)} | ${n0(f.deliveryCorrectMs)} | ${f.runsRepairedMs.map(n0).join(", ")} |`,
      );
    line();
    for (const f of r.failures) for (const p of f.problems) line(`- ${f.nodes} nodes: ${p}`);
    if (r.failures.some((f) => f.problems.length > 0)) line();
  }
  line("## Simulation (routing core, from `make bench-sim`; not re-run here)");
  line();
  if (r.sim === null) line("No simulation results found in bench/results.");
  else {
    line(
      `From ${r.sim.file.split("/").at(-1)}. In brackets: the same keys over the same live nodes with ideal ` +
        "proximity tables ranked as the nodes rank (sim-latest.md explains).",
    );
    line();
    line(
      "| nodes | proximity | mean hops | p99 hops | log16 N | mean stretch (ideal tables) | state entries/node | maintenance msgs/node/s |",
    );
    line("| ---: | :---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (const s of r.sim.rows)
      if (!Number.isFinite(s.meanHops))
        line(
          `| ${n0(s.nodes)} | ${s.proximityAware ? "yes" : "no"} | build not complete: no routes measured | | | | | |`,
        );
      else
        line(
          `| ${n0(s.nodes)} | ${s.proximityAware ? "yes" : "no"} | ${s.meanHops.toFixed(2)} | ${s.p99Hops} | ${(Math.log(s.nodes) / Math.log(16)).toFixed(2)} | ${s.meanStretch.toFixed(2)}${Number.isFinite(s.idealStretch) ? ` (${s.idealStretch.toFixed(2)})` : ""} | ${n1(s.stateEntries)} | ${s.maintenancePerNodePerSecond.toFixed(2)} |`,
        );
  }
  line();
  line(`![latency distributions and hops per N](${svgName})`);
  line();
  out.push(...closingNote(r));
  return out.join("\n");
}

/** For each missed target: by how much, and the figures of this run that show what stands in the way. */
function closingNote(r: BenchResult): string[] {
  const missed = r.targets.filter((t) => !t.met);
  const out = ["## Closing note", ""];
  if (missed.length === 0) return [...out, "Every target was met in this run.", ""];
  const send = (nodes: number, inFlight: number): RoutedFigure | undefined =>
    r.routed.find(
      (x) =>
        x.kind === "send" && x.nodes === nodes && x.inFlight === inFlight && x.payloadBytes === smallest(r),
    );
  const echo = (inFlight: number) =>
    r.baseline.unary.find((u) => u.inFlight === inFlight && u.payloadBytes === smallest(r));
  for (const t of missed) {
    if (t.name.startsWith("routed Send msgs/s")) {
      const x = send(8, 64) ?? r.routed.find((y) => y.kind === "send" && y.inFlight === 64);
      const e = echo(64);
      if (x === undefined || e === undefined) continue;
      out.push(
        `- **Throughput** ${t.measured} of the echo (goal ${t.target}, ${fmt(1 / t.factor)}x short). The daemons together ` +
          `spend ${n0(x.cpuSecondsPerOp * 1e6)} µs of CPU per routed message against ${n0(e.serverCpuSecondsPerCall * 1e6)} µs ` +
          `per call for the echo server (${fmt(x.cpuSecondsPerOp / e.serverCpuSecondsPerCall)}x), and the harness ` +
          `${n0(x.clientCpuSecondsPerOp * 1e6)} µs per message against ${n0(e.clientCpuSecondsPerCall * 1e6)} µs per echo call: a ` +
          "routed message is a share of a SendStream message to the entry node, a RouteStream hop (a signed " +
          "batch, and its acknowledgement back) and a subscriber-stream write, and on two shared cores the CPU " +
          "per message sets the rate." +
          batchingNote(r) +
          throughputFloorNote(r, e.callsPerSecond) +
          " profile-latest.md shows where the daemons' time goes.",
      );
    } else if (t.name.startsWith("routed Send p50")) {
      const x = send(8, 1) ?? r.routed.find((y) => y.kind === "send" && y.inFlight === 1);
      if (x === undefined) continue;
      out.push(
        `- **One-hop latency** p50 ${x.p50Ms.toFixed(2)} ms against the echo's ${x.pairedUnaryP50Ms.toFixed(2)} ms ` +
          `(${t.measured}, goal ${t.target}): the routed path has three legs where the echo has one round trip (client ` +
          "to entry node on the SendStream, the RouteStream hop, the owner's subscriber stream back to the " +
          "client), each at least " +
          `one event-loop turn; daemon CPU ${n0(x.cpuSecondsPerOp * 1e6)} µs per message at one in flight.` +
          latencyFloorNote(r, x, 1.5, "three legs one way: half of three"),
      );
    } else if (t.name.startsWith("Call p50")) {
      const x = r.routed.find(
        (y) =>
          y.kind === "call" &&
          y.nodes === 8 &&
          y.inFlight === 1 &&
          y.leafSetSize === undefined &&
          y.payloadBytes === smallest(r),
      );
      if (x === undefined) continue;
      out.push(
        `- **Call latency** p50 ${x.p50Ms.toFixed(2)} ms against the echo's ${x.pairedUnaryP50Ms.toFixed(2)} ms ` +
          `(${t.measured}, goal ${t.target}): a Call crosses six legs (client to entry node, the hop to the owner, ` +
          "the owner to its subscriber, and each back), where the echo has one round trip; daemon CPU " +
          `${n0(x.cpuSecondsPerOp * 1e6)} µs per call at one in flight.` +
          latencyFloorNote(r, x, 3, "six legs: three"),
      );
    } else if (t.name.startsWith("idle daemon RSS")) {
      out.push(
        `- **Idle memory** ${t.measured} against ${t.target} (${fmt(t.factor)}x). Memory per known peer is ` +
          `${Number.isFinite(r.memoryPerKnownPeerBytes) ? `about ${n0(r.memoryPerKnownPeerBytes / 1024)} KiB` : "not measurable here"}, so the ` +
          "resident set is mostly fixed cost, not routing state: most of it is pages of the Node.js executable " +
          "(its code, built-in libraries and start-up snapshot: clean, shared with every Node.js process on the " +
          "machine, and dropped first under memory pressure), the rest the daemon's own anonymous memory (V8's " +
          "heap with the loaded code of grpc-js, prom-client and the protobuf runtimes, buffers, malloc)" +
          idleSplit(r, t.name) +
          ".",
      );
    } else if (t.name.startsWith("idle daemon CPU")) {
      out.push(
        `- **Idle CPU** ${t.measured} of a core against ${t.target} (${fmt(t.factor)}x): what remains at rest is ` +
          "the maintenance traffic itself (each heartbeat is an authenticated HTTP/2 call on both ends) and the " +
          "timers that drive it.",
      );
    } else if (t.name.startsWith("join to ready")) {
      const j = r.joins.at(-1)!;
      out.push(
        `- **Join** ${t.measured} (${fmt(t.factor)}x the 1 s goal): ${n0(j.bootMs)} ms of it is process start-up ` +
          `before the node listens, ${n0(j.joinMs)} ms the join itself.`,
      );
    } else if (t.name.startsWith("SIGKILL")) {
      const f = r.failures.at(-1)!;
      out.push(
        `- **Failure repair** ${t.measured} at ${f.nodes} nodes (${fmt(t.factor)}x the 3 s goal; runs ` +
          `${f.runsRepairedMs.map(n0).join(", ")} ms). The first survivor drops the node after ${n0(f.firstDetectedMs)} ms: ` +
          "survivors with a connection to it see the connection break and probe it (a refused probe is a " +
          "verdict within a fraction of a second); the others hear of the death from them, or miss its " +
          `heartbeats. The rest is the news reaching every leaf set. ${f.problems.length > 0 ? `Problems: ${f.problems.join("; ")}.` : ""}`,
      );
    } else if (t.name.startsWith("key-value")) {
      const get = t.name.startsWith("key-value Get");
      out.push(
        `- **Key-value ${get ? "Get" : "Put"}** ${t.measured} the echo's p50 (goal ${t.target}): ` +
          (get
            ? "a Get is the client's call to a node, that node's reads at the key's 3 replicas (or its hand-on to " +
              "the owner when its leaf set does not span them) and the answers back, each leg a gRPC call between " +
              "processes, each at least one event-loop turn."
            : "a Put is the client's call, the hand-on to the key's owner, a version read at the replicas and " +
              "the write to them: four legs in sequence, where the echo has one."),
      );
    } else if (t.name.startsWith("daemon CPU per message per hop")) {
      out.push(`- **CPU per hop** ${t.measured} (goal ${t.target}).` + perHopNote(r));
    } else if (t.name.startsWith("maintenance")) {
      out.push(`- **Maintenance at rest** ${t.measured} messages per node per second (goal ${t.target}).`);
    } else {
      out.push(`- ${t.name}: ${t.measured} (goal ${t.target}, ${fmt(t.factor)}x of the limit).`);
    }
  }
  out.push("");
  return out;
}

/** The round trip on one bidi stream of the smallest payload at `inFlight`, when this run measured it. */
function streamRoundTrip(r: BenchResult, inFlight: number): UnaryFigure | undefined {
  return r.baseline.roundTrips?.find((u) => u.inFlight === inFlight && u.payloadBytes === smallest(r));
}

/**
 * What the legs of a path cost at the least: `roundTrips` stream round trips at one in flight (the p50 of
 * the baseline's), against the path's own p50; the rest is the nodes' and the client library's own work.
 */
function latencyFloorNote(r: BenchResult, x: RoutedFigure, roundTrips: number, legs: string): string {
  const rt = streamRoundTrip(r, 1);
  if (rt === undefined) return "";
  const floor = roundTrips * rt.p50Ms;
  return (
    ` Its legs alone, as messages on plain gRPC streams, take ${floor.toFixed(2)} ms (${legs} stream round trips ` +
    `of ${rt.p50Ms.toFixed(2)} ms p50 in the baseline): ${fmt(floor / x.pairedUnaryP50Ms)}x the echo; the other ` +
    `${Math.max(0, x.p50Ms - floor).toFixed(2)} ms are the nodes' and the client library's own work on the way.`
  );
}

/**
 * What a routed Send's legs cost at the least at 64 in flight: six stream messages (three round trips: the
 * send and its result, the hop and its acknowledgement, the delivery and the subscriber's acknowledgement),
 * each at the CPU of the baseline's well-used stream; two cores spending only that would carry about
 * cores / that many messages a second, against the echo's `echoPerSecond`.
 */
function throughputFloorNote(r: BenchResult, echoPerSecond: number): string {
  const rt = streamRoundTrip(r, 64);
  if (rt === undefined) return "";
  const perRoundTrip = rt.serverCpuSecondsPerCall + rt.clientCpuSecondsPerCall;
  const floor = 3 * perRoundTrip;
  const rate = r.machine.cpus / floor;
  return (
    ` At the least, a routed Send is six messages on gRPC streams (the send and its result, the hop and its ` +
    "acknowledgement, the delivery and the subscriber's acknowledgement); on one well-used stream at 64 in " +
    `flight a round trip costs ${n0(perRoundTrip * 1e6)} µs of CPU (both ends, in the baseline), so ${n0(floor * 1e6)} µs per ` +
    `message, and ${r.machine.cpus} cores spending nothing else would carry about ${n0(rate)} messages a second: ` +
    `${fmt(rate / echoPerSecond)}x the echo, before any routing, signing or spreading over many links.`
  );
}

/**
 * The multi-hop rows' CPU per hop beside the 1-hop Send of a cluster of as many daemons (default leaf set),
 * and the 1-hop Send's CPU per message at each size: on two cores, a daemon's cost per message grows with
 * the number of daemons the same traffic is spread over, hops or not.
 */
function perHopNote(r: BenchResult): string {
  const multi = r.routed.find(
    (x) =>
      x.kind === "send" && x.leafSetSize !== undefined && x.inFlight === 64 && x.payloadBytes === smallest(r),
  );
  if (multi === undefined) return "";
  const oneHop = r.routed
    .filter(
      (x) =>
        x.kind === "send" &&
        x.leafSetSize === undefined &&
        x.inFlight === 64 &&
        x.payloadBytes === smallest(r),
    )
    .sort((a, b) => a.nodes - b.nodes);
  const same = oneHop.find((x) => x.nodes === multi.nodes);
  const sizes = oneHop.map((x) => `${n0(x.cpuSecondsPerOp * 1e6)} µs at ${x.nodes}`).join(", ");
  return (
    ` The 1-hop Send's daemon CPU per message grows with the number of daemons it is spread over (${sizes}; ` +
    "each daemon sees fewer messages per event-loop turn, so each turn's fixed cost is shared by fewer)" +
    (same === undefined
      ? "."
      : `: against the 1-hop Send of ${same.nodes} daemons (default leaf set, ${same.meanHops.toFixed(2)} hops), ` +
        `the multi-hop rows' ${n0(cpuPerHop(multi) * 1e6)} µs per hop are ` +
        `${fmt(cpuPerHop(multi) / cpuPerHop(same))}x.`)
  );
}

/** Put and Get at random nodes against the paired echo, and Redis beside them; nothing for older runs. */
function kvSection(r: BenchResult): string[] {
  const kv = r.kv;
  if (kv === undefined || kv.length === 0) return [];
  const out = ["## Key-value store (Put and Get at random nodes; k = 3, W = R = 2)", ""];
  out.push(
    `${kv[0]!.nodes} daemons, ${n0(kv[0]!.keys)} keys written first, values of ${bytes(kv[0]!.valueBytes)}; each request to a random ` +
      "node's client port (most keys owned elsewhere). Echo: the plain unary echo, same payload and in-flight " +
      "count, measured just before each repeat. Daemon CPU is all daemons together per operation.",
    "",
    "| operation | nodes | in flight | ops/s | echo calls/s | vs echo | p50 / p99 / p999 ms | echo p50 ms | p50 vs echo | daemon CPU µs/op | failed |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  );
  for (const x of kv)
    out.push(
      `| ${x.operation === "get" ? "Get (R = 2)" : "Put (W = 2)"} | ${x.nodes} | ${x.inFlight} | ${n0(x.perSecond)} | ${n0(x.pairedUnaryPerSecond)} | ${fmt(x.throughputVsUnary)}x | ${lat(x)} | ${fmt(x.pairedUnaryP50Ms)} | ${fmt(x.p50VsUnary)}x | ${n0(x.cpuSecondsPerOp * 1e6)} | ${x.failed} |`,
    );
  out.push("");
  if (r.redis === null || r.redis === undefined) {
    out.push("Redis: not measured (no redis-server on this machine; Debian's package provides it).", "");
    return out;
  }
  out.push(
    "Redis for comparison: one Debian redis-server on 127.0.0.1 started by the benchmark (no replication, " +
      "persistence off), one connection, the same keys and values: the figure a user would compare with, not a " +
      "like-for-like one.",
    "",
    "| operation | in flight | ops/s | p50 / p99 / p999 ms |",
    "| --- | ---: | ---: | ---: |",
  );
  for (const x of r.redis)
    out.push(`| Redis ${x.operation} | ${x.inFlight} | ${n0(x.perSecond)} | ${lat(x)} |`);
  out.push("");
  return out;
}

/**
 * The same path where batches fill (the smallest cluster: every hop on one peer link) against the target's
 * cluster (64 in flight spread over every link, about one hop per batch).
 */
/** The header's words on the code warm-up (none in runs before it was done). */
function codeWarmupClause(r: BenchResult): string {
  const { minMs, maxMs } = codeWarmupLimits(r.settings);
  if (minMs <= 0 || r.warmups === undefined) return "";
  const until =
    maxMs > minMs
      ? ` or more, until the daemons' CPU per message stopped falling (${n0(maxMs / 1000)} s at most)`
      : "";
  return `, each kind of traffic having first run unmeasured on its cluster for ${n0(minMs / 1000)} s${until} (code warm-up, below)`;
}

/** Each kind of traffic's unmeasured warm-up: its first window (cold daemons) against its last. */
function warmupSection(r: BenchResult): string[] {
  const warmups = r.warmups ?? [];
  if (warmups.length === 0) return [];
  const out = [
    "## Code warm-up (unmeasured traffic before each cluster's figures)",
    "",
    "V8 optimizes a function only after it has run many times, and a daemon sees only its share of a " +
      "cluster's traffic: fresh daemons run at a fraction of their steady rate for their first seconds of " +
      "traffic. Every figure above is of warm daemons; these are the warm-up windows themselves, the first " +
      `one the cold figure (${warmups[0]!.inFlight} in flight, no echo paired; bench/lib/warmup.ts).`,
    "",
    "| traffic | nodes | windows | first window ops/s | last window ops/s | last / first | first window CPU µs/op | last window CPU µs/op |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const w of warmups) {
    const first = w.windows[0]!;
    const last = w.windows.at(-1)!;
    const nodes = w.leafSetSize === undefined ? `${w.nodes}` : `${w.nodes}/l${w.leafSetSize}`;
    out.push(
      `| ${w.what} | ${nodes} | ${w.windows.length} | ${n0(first.perSecond)} | ${n0(last.perSecond)} | ${fmt(last.perSecond / first.perSecond)}x | ${n0(first.cpuSecondsPerOp * 1e6)} | ${n0(last.cpuSecondsPerOp * 1e6)} |`,
    );
  }
  out.push("");
  return out;
}

function batchingNote(r: BenchResult): string {
  const at = (nodes: number) =>
    r.routed.find(
      (x) => x.kind === "send" && x.nodes === nodes && x.inFlight === 64 && x.payloadBytes === smallest(r),
    );
  const fewest = Math.min(...r.clusters.map((c) => c.nodes));
  const full = at(fewest);
  const spread = at(8);
  if (full === undefined || spread === undefined || fewest >= 8) return "";
  const links = 8 * 7;
  return (
    ` With ${fewest} nodes the same 64 in flight share ${fewest * (fewest - 1)} peer link(s), batches fill, and the ` +
    `daemons spend ${n0(full.cpuSecondsPerOp * 1e6)} µs per message (${fmt(full.throughputVsUnary)}x the echo); ` +
    `with 8 they spread over ${links} links, about one hop per link at a time, so a batch rarely holds more ` +
    "than one and each hop pays a whole batch's signing, stream messages and process wake-ups " +
    `(${n0(spread.cpuSecondsPerOp * 1e6)} µs per message).`
  );
}

/**
 * The rows measured with the clients on each daemon's Unix socket, each beside the TCP row of the same kind,
 * cluster size and in-flight count: how much of the daemon path the loopback TCP stack of the client legs
 * costs, and what an application beside its node gains from the socket.
 */
function socketSection(r: BenchResult): string[] {
  const rows = r.socketRouted ?? [];
  if (rows.length === 0) return [];
  const out = [
    "### Clients on a Unix socket (`WENDY_CLIENT_SOCKET`)",
    "",
    "The same kinds again on a cluster whose daemons also serve their client services on a Unix socket, every " +
      "client of the harness (senders, callers, subscribers) on it instead of the TCP client port: an " +
      "application beside its node. The peer hops stay TCP. Each row beside the TCP row of the same kind, " +
      "cluster size and in-flight count above; echo is still the TCP unary echo, paired as above.",
    "",
    "| kind | nodes | in flight | ops/s | vs echo | over TCP: vs echo | p50 ms | over TCP: p50 ms | p50 vs echo | daemon CPU µs/op | over TCP: µs/op | daemon CPU socket / TCP | harness CPU µs/op |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const x of rows) {
    const tcp = r.routed.find(
      (y) =>
        y.kind === x.kind &&
        y.nodes === x.nodes &&
        y.inFlight === x.inFlight &&
        y.payloadBytes === x.payloadBytes &&
        y.leafSetSize === undefined,
    );
    out.push(
      `| ${x.kind} | ${x.nodes} | ${x.inFlight} | ${n0(x.perSecond)} | ${fmt(x.throughputVsUnary)}x | ` +
        `${tcp === undefined ? "-" : `${fmt(tcp.throughputVsUnary)}x`} | ${fmt(x.p50Ms)} | ` +
        `${tcp === undefined ? "-" : fmt(tcp.p50Ms)} | ${fmt(x.p50VsUnary)}x | ${n0(x.cpuSecondsPerOp * 1e6)} | ` +
        `${tcp === undefined ? "-" : n0(tcp.cpuSecondsPerOp * 1e6)} | ` +
        `${tcp === undefined ? "-" : `${fmt(x.cpuSecondsPerOp / tcp.cpuSecondsPerOp)}x`} | ${n0(x.clientCpuSecondsPerOp * 1e6)} |`,
    );
  }
  out.push("");
  return out;
}

function smallest(r: BenchResult): number {
  return Math.min(...r.settings.payloadBytes);
}

function fmt(x: number): string {
  return Number.isFinite(x) ? x.toFixed(2) : "n/a";
}

function routedRow(x: RoutedFigure): string {
  return (
    `| ${x.kind} | ${x.nodes}${x.leafSetSize === undefined ? "" : `/l${x.leafSetSize}`} | ${bytes(x.payloadBytes)} | ${x.inFlight} | ${n0(x.perSecond)} | ${n0(x.pairedUnaryPerSecond)} | ${fmt(x.throughputVsUnary)}x | ` +
    `${lat(x)} | ${fmt(x.pairedUnaryP50Ms)} | ${fmt(x.p50VsUnary)}x | ${n0(x.cpuSecondsPerOp * 1e6)} | ${n0(cpuPerHop(x) * 1e6)} | ${x.kind === "embedded" ? "(in CPU)" : n0(x.clientCpuSecondsPerOp * 1e6)} | ${fmt(x.meanHops)} | ${x.failed} / ${x.misdelivered} |`
  );
}

function lat(x: { p50Ms: number; p99Ms: number; p999Ms: number }): string {
  return `${fmt(x.p50Ms)} / ${fmt(x.p99Ms)} / ${fmt(x.p999Ms)}`;
}

function bytes(b: number): string {
  return b >= 1024 && b % 1024 === 0 ? `${b / 1024} KiB` : `${b} B`;
}

function n0(x: number): string {
  return Number.isFinite(x) ? Math.round(x).toLocaleString("en-US") : "n/a";
}

function n1(x: number): string {
  return Number.isFinite(x) ? x.toFixed(1) : "n/a";
}

function fmtLoad(l: readonly number[]): string {
  return l.map((x) => x.toFixed(1)).join(" / ");
}

/** Idle CPU of a cluster; "n/a" for runs recorded before it was measured. */
function idleCpu(c: { readonly idleCpuPercent?: number; readonly idleCpuPercentMax?: number }): string {
  if (c.idleCpuPercent === undefined || !Number.isFinite(c.idleCpuPercent)) return "n/a";
  return `${c.idleCpuPercent.toFixed(2)} (${(c.idleCpuPercentMax ?? Number.NaN).toFixed(2)})`;
}

/** " (executable / anonymous)" MiB of a cluster's idle RSS, for runs that measured them. */
function idleParts(c: ClusterFigure): string {
  if (c.idleExecutableBytes === undefined || c.idleAnonymousBytes === undefined) return "";
  return ` (${n1(c.idleExecutableBytes / MIB)} / ${n1(c.idleAnonymousBytes / MIB)})`;
}

/** The idle RSS target's split for its cluster (named in the target), when the run measured it. */
function idleSplit(r: BenchResult, targetName: string): string {
  const nodes = Number(/\((\d+)-node cluster/.exec(targetName)?.[1]);
  const c = r.clusters.find((x) => x.nodes === nodes);
  if (c?.idleExecutableBytes === undefined || c.idleAnonymousBytes === undefined)
    return " (this run did not split it)";
  return `: here ${n1(c.idleExecutableBytes / MIB)} MiB and ${n1(c.idleAnonymousBytes / MIB)} MiB`;
}
