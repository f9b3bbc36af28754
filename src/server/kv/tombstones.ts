// Tombstone removal: every interval this node looks at the tombstones it has held for longer than the grace
// (at most `maxPerRound`), asks the other members of each key's replica set which version they hold, and
// forgets the tombstones that no member still needs to overrule an older write with (src/kv/tombstone.ts).
// A replica that forgot a tombstone sooner than another may be sent it again by a repair; it then forgets it
// again a grace later, so removal ends on every replica within about two graces of the deletion.
import type { NodeInfo } from "../../routing/types.js";
import type { KvRecord } from "../../kv/record.js";
import { tombstoneRemovable } from "../../kv/tombstone.js";
import type { Version } from "../../kv/version.js";
import { encodeNodeInfo } from "../../wire/codec.js";
import { chunks, MAX_RECORDS_PER_REQUEST } from "./batches.js";
import type { KvOverlay } from "./overlay.js";
import type { KvPeers } from "./peer-client.js";
import type { Placement } from "../../kv/placement.js";
import { PeriodicRound } from "./periodic-round.js";
import type { MemoryKvStore } from "./store.js";
import { decodeRecord, idBytes } from "./wire.js";

export interface TombstoneOptions {
  /** How long a tombstone is kept at least after this node stored it. */
  readonly graceMs: number;
  readonly intervalMs: number;
  /** Tombstones checked per round at most: a bounded cost per node per second. */
  readonly maxPerRound: number;
  readonly replicaTimeoutMs: number;
}

export interface TombstoneHooks {
  removed(count: number): void;
}

export class KvTombstoneCollector {
  private readonly rounds: PeriodicRound<number>;

  constructor(
    private readonly overlay: KvOverlay,
    private readonly store: MemoryKvStore,
    private readonly peers: KvPeers,
    private readonly placement: Placement,
    private readonly options: TombstoneOptions,
    private readonly hooks: TombstoneHooks,
  ) {
    this.rounds = new PeriodicRound(
      options.intervalMs,
      () => overlay.ready(),
      () => this.collect(),
      0,
    );
  }

  start(): void {
    this.rounds.start();
  }

  stop(): void {
    this.rounds.stop();
  }

  /** One round now (tests; the timer does the same). Returns the tombstones removed. */
  round(): Promise<number> {
    return this.rounds.run();
  }

  private async collect(): Promise<number> {
    const due: { record: KvRecord; heldForMs: number }[] = [];
    for (const t of this.store.tombstones()) {
      if (due.length >= this.options.maxPerRound) break;
      if (t.heldForMs >= this.options.graceMs) due.push(t);
    }
    if (due.length === 0) return 0;
    const self = this.overlay.self();
    // The other members of each key's replica set, and the keys to ask each about.
    const asked = new Map<string, { node: NodeInfo; keys: KvRecord[] }>();
    const membersOf = new Map<string, NodeInfo[]>();
    for (const { record } of due) {
      const others = this.placement.of(record.key).set.filter((n) => !n.id.equals(self.id));
      membersOf.set(record.key.hex, others);
      for (const node of others) {
        let entry = asked.get(node.id.hex);
        if (entry === undefined) asked.set(node.id.hex, (entry = { node, keys: [] }));
        entry.keys.push(record);
      }
    }
    const answers = new Map<string, Map<string, Version>>();
    await Promise.all(
      [...asked.values()].map(async ({ node, keys }) => {
        const held = new Map<string, Version>();
        try {
          for (const group of chunks(keys, MAX_RECORDS_PER_REQUEST)) {
            const response = await this.peers.fetch(
              node,
              {
                sender: encodeNodeInfo(self),
                keys: group.map((r) => idBytes(r.key)),
                versionsOnly: true,
              },
              this.options.replicaTimeoutMs,
            );
            response.records.forEach((r, i) => {
              const decoded = decodeRecord(r, `records[${i}]`, Number.MAX_SAFE_INTEGER);
              held.set(decoded.key.hex, decoded.version);
            });
          }
          answers.set(node.id.hex, held);
        } catch {
          // Unreachable: its keys keep their tombstones until a later round can ask it.
        }
      }),
    );
    let removed = 0;
    for (const { record, heldForMs } of due) {
      const others = (membersOf.get(record.key.hex) ?? []).map((n) => {
        const held = answers.get(n.id.hex);
        return held === undefined ? ("unknown" as const) : held.get(record.key.hex);
      });
      if (
        tombstoneRemovable(record, heldForMs, this.options.graceMs, others) &&
        this.store.removeTombstone(record)
      ) {
        this.placement.forget(record.key.hex);
        removed++;
      }
    }
    if (removed > 0) this.hooks.removed(removed);
    return removed;
  }
}
