// Pastry's routing table (paper section 2.1): row r holds nodes sharing exactly r leading digits with self,
// in the column of their digit r. Rows are allocated on first use: with N nodes only about log16(N) rows are
// ever populated, which keeps 100,000 tables in one process affordable.
import { commonPrefixLengthOfHex, DIGIT_BASE, digitOfHex, ID_DIGITS, type NodeId } from "./id.js";
import type { NodeInfo } from "./types.js";

/** Proximity of a peer (smaller is nearer), or undefined when not measured yet. */
export type ProximityOf = (peer: NodeInfo) => number | undefined;

/** "inserted": the node now holds its slot; "present": it already did; "rejected": the occupant stays. */
export type TableInsertResult = "inserted" | "present" | "rejected";

type Row = (NodeInfo | undefined)[];

/** insertMeasured's marker for "the caller did not look the proximity up": insert looks it up if needed. */
const NOT_LOOKED_UP = Symbol("not looked up");

const EMPTY_ROW: readonly (NodeInfo | undefined)[] = Object.freeze(new Array<undefined>(DIGIT_BASE));

export class RoutingTable {
  private readonly rows: (Row | undefined)[] = new Array<Row | undefined>(ID_DIGITS);
  /**
   * Per slot, the nearest measured node that lost the slot to its holder (or was displaced by a nearer one):
   * it takes the slot at once when the holder is removed, instead of leaving a hole until a repair answers.
   */
  private readonly backups: (Row | undefined)[] = new Array<Row | undefined>(ID_DIGITS);
  private count = 0;
  /** Writes to any slot so far (see version). */
  private changes = 0;
  /** Entries that left the table so far, removed or replaced by another ID (see removals). */
  private removed = 0;

  constructor(
    private readonly self: NodeInfo,
    private readonly proximityOf: ProximityOf,
    private readonly proximityAware: boolean,
  ) {}

  get size(): number {
    return this.count;
  }

  /** Grows whenever a slot is written or cleared: a cache of look-ups keyed on it is never stale. */
  get version(): number {
    return this.changes;
  }

  /**
   * Grows whenever an ID stops being in the table (removed, or its slot taken by a nearer node); not when one
   * enters an empty slot or an entry's incarnation is replaced.
   */
  get removals(): number {
    return this.removed;
  }

  /** Row r (16 slots); an unpopulated row reads as empty. */
  row(r: number): readonly (NodeInfo | undefined)[] {
    return this.rows[r] ?? EMPTY_ROW;
  }

  /** The non-empty slots of row r. */
  rowEntries(r: number): NodeInfo[] {
    const row = this.rows[r];
    return row === undefined ? [] : row.filter((n): n is NodeInfo => n !== undefined);
  }

  get(r: number, column: number): NodeInfo | undefined {
    return this.rows[r]?.[column];
  }

  /** The entry holding this exact ID, if any (one slot can hold it: the slot its ID maps to). */
  lookup(id: NodeId): NodeInfo | undefined {
    const r = this.self.id.commonPrefixLength(id);
    if (r >= ID_DIGITS) return undefined;
    const entry = this.rows[r]?.[id.digit(r)];
    return entry !== undefined && entry.id.equals(id) ? entry : undefined;
  }

  /**
   * Whether an entry holds the ID whose hex is `hex` (lookup(id) !== undefined), from the hex alone: a caller
   * sweeping its memories by ID need not load each peer's NodeInfo to ask.
   */
  holds(hex: string): boolean {
    const r = commonPrefixLengthOfHex(this.self.id.hex, hex);
    if (r >= ID_DIGITS) return false;
    const entry = this.rows[r]?.[digitOfHex(hex, r)];
    return entry !== undefined && entry.id.hex === hex;
  }

  /** The entry currently in the slot `node` would take (possibly `node` itself). */
  occupantFor(node: NodeInfo): NodeInfo | undefined {
    const r = this.self.id.commonPrefixLength(node.id);
    if (r >= ID_DIGITS) return undefined;
    return this.rows[r]?.[node.id.digit(r)];
  }

  /**
   * Offers `node` for its slot. An empty slot takes it. A known ID with a new incarnation replaces the old.
   * Otherwise, when proximity-aware, a measured candidate beats an unmeasured or farther occupant; else the
   * occupant stays.
   */
  insert(node: NodeInfo): TableInsertResult {
    return this.insertMeasured(node, NOT_LOOKED_UP);
  }

  /**
   * insert() with the candidate's proximity already looked up by the caller (`proximity`, undefined when
   * unmeasured): a node offered to the table and the neighbourhood set is looked up once, not twice.
   */
  insertMeasured(node: NodeInfo, proximity: number | undefined | typeof NOT_LOOKED_UP): TableInsertResult {
    const r = this.self.id.commonPrefixLength(node.id);
    if (r >= ID_DIGITS) return "rejected";
    const column = node.id.digit(r);
    let row = this.rows[r];
    if (row === undefined) {
      row = new Array<NodeInfo | undefined>(DIGIT_BASE);
      this.rows[r] = row;
    }
    const occupant = row[column];
    if (occupant === undefined) {
      row[column] = node;
      this.dropBackup(r, column, node.id);
      this.count++;
      this.changes++;
      return "inserted";
    }
    if (occupant.id.equals(node.id)) {
      if (occupant === node || occupant.incarnation === node.incarnation) return "present";
      row[column] = node;
      this.changes++;
      return "inserted";
    }
    if (!this.proximityAware) return "rejected";
    const candidate = proximity === NOT_LOOKED_UP ? this.proximityOf(node) : proximity;
    if (candidate === undefined) return "rejected";
    const current = this.proximityOf(occupant);
    if (current !== undefined && current <= candidate) {
      this.offerBackup(r, column, node, candidate);
      return "rejected";
    }
    row[column] = node;
    this.dropBackup(r, column, node.id);
    if (current !== undefined) this.offerBackup(r, column, occupant, current);
    this.changes++;
    this.removed++;
    return "inserted";
  }

  /** Whether a slot's backup is the node whose ID hex is `hex` (its measurement is worth keeping). */
  holdsBackup(hex: string): boolean {
    const r = commonPrefixLengthOfHex(this.self.id.hex, hex);
    if (r >= ID_DIGITS) return false;
    return this.backups[r]?.[digitOfHex(hex, r)]?.id.hex === hex;
  }

  /** The backup of slot (r, column), if any. */
  backup(r: number, column: number): NodeInfo | undefined {
    return this.backups[r]?.[column];
  }

  /** `node`, measured at `proximity`, becomes the slot's backup if it is nearer than the backup it has. */
  private offerBackup(r: number, column: number, node: NodeInfo, proximity: number): void {
    let row = this.backups[r];
    const held = row?.[column];
    if (held !== undefined && !held.id.equals(node.id)) {
      const heldProximity = this.proximityOf(held);
      if (heldProximity !== undefined && heldProximity <= proximity) return;
    }
    if (row === undefined) {
      row = new Array<NodeInfo | undefined>(DIGIT_BASE);
      this.backups[r] = row;
    }
    if (held !== undefined && !held.id.equals(node.id)) this.removed++;
    row[column] = node;
  }

  private dropBackup(r: number, column: number, id: NodeId): void {
    const row = this.backups[r];
    if (row?.[column]?.id.equals(id) === true) {
      row[column] = undefined;
      this.removed++;
    }
  }

  /** Removes the entry with this ID; returns the row it was in, or undefined when absent. */
  remove(id: NodeId): number | undefined {
    const r = this.self.id.commonPrefixLength(id);
    if (r >= ID_DIGITS) return undefined;
    const row = this.rows[r];
    const column = id.digit(r);
    const entry = row?.[column];
    if (row === undefined || entry === undefined || !entry.id.equals(id)) {
      this.dropBackup(r, column, id);
      return undefined;
    }
    const backup = this.backups[r]?.[column];
    if (backup !== undefined) {
      // The runner-up, measured when it lost the slot, takes it now.
      row[column] = backup;
      (this.backups[r] as Row)[column] = undefined;
    } else {
      row[column] = undefined;
      this.count--;
    }
    this.changes++;
    this.removed++;
    return r;
  }

  /** Every entry, row by row. */
  entries(): NodeInfo[] {
    const all: NodeInfo[] = [];
    for (const row of this.rows) {
      if (row === undefined) continue;
      for (const entry of row) if (entry !== undefined) all.push(entry);
    }
    return all;
  }

  /** Entries of rows >= fromRow, passed to `visit` without building an array. */
  forEachFromRow(fromRow: number, visit: (node: NodeInfo) => void): void {
    for (let r = fromRow; r < ID_DIGITS; r++) {
      const row = this.rows[r];
      if (row === undefined) continue;
      for (const entry of row) if (entry !== undefined) visit(entry);
    }
  }

  /** A snapshot as 32 rows of 16 slots. */
  snapshot(): (NodeInfo | undefined)[][] {
    const out: (NodeInfo | undefined)[][] = [];
    for (let r = 0; r < ID_DIGITS; r++) out.push([...this.row(r)]);
    return out;
  }
}
