// The key-value store's Prometheus metrics, read from its stats at scrape time.
import { Counter, Gauge, type Registry } from "../metrics/prom-client.js";
import type { KvRepairKind, KvStats } from "./kv-node.js";

const REPAIR_KINDS: readonly KvRepairKind[] = ["read_repair", "re_replication", "handoff", "anti_entropy"];

export function registerKvMetrics(registry: Registry, stats: () => KvStats): void {
  const registers = [registry];
  const gauge = (name: string, help: string, pick: (s: KvStats) => number): void => {
    new Gauge({
      name,
      help,
      registers,
      collect() {
        this.set(pick(stats()));
      },
    });
  };
  gauge("wendy_kv_keys", "Key-value records held by this node, tombstones included.", (s) => s.keys);
  gauge("wendy_kv_bytes", "Bytes of keys, versions and values held by this node.", (s) => s.bytes);
  gauge(
    "wendy_kv_repair_backlog_keys",
    "Keys waiting for a re-replication check (the replication lag, in keys): each is sent to the replicas missing it.",
    (s) => s.repairBacklog,
  );
  gauge(
    "wendy_kv_tombstones",
    "Deletions' tombstones held by this node (included in wendy_kv_keys).",
    (s) => s.tombstones,
  );
  new Counter({
    name: "wendy_kv_tombstones_removed_total",
    help: "Tombstones this node removed after their grace, once no replica held an older version of the key.",
    registers,
    collect() {
      this.reset();
      this.inc(stats().tombstonesRemoved);
    },
  });
  new Counter<"kind">({
    name: "wendy_kv_repairs_total",
    help: "Records sent to replicas that lacked them or held them older, by kind: read_repair, re_replication, handoff, anti_entropy.",
    labelNames: ["kind"],
    registers,
    collect() {
      const s = stats();
      this.reset();
      for (const kind of REPAIR_KINDS) this.inc({ kind }, s.repairs[kind]);
    },
  });
}
