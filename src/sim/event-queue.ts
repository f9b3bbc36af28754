// A binary min-heap of timed events on a virtual clock (ms). Events at the same time come out in the
// order they were scheduled (a sequence number breaks ties), so a run never depends on heap internals.

interface Entry<T> {
  readonly time: number;
  readonly seq: number;
  readonly event: T;
}

export class EventQueue<T> {
  private readonly heap: Entry<T>[] = [];
  private nextSeq = 0;
  private clock = 0;

  /** The virtual time of the event most recently taken (starts at 0). */
  get now(): number {
    return this.clock;
  }

  get size(): number {
    return this.heap.length;
  }

  /** Schedules `event` at absolute virtual time `time`; never earlier than now (no travel into the past). */
  schedule(time: number, event: T): void {
    const entry: Entry<T> = { time: Math.max(time, this.clock), seq: this.nextSeq++, event };
    const heap = this.heap;
    let i = heap.length;
    heap.push(entry);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = heap[parent] as Entry<T>;
      if (!before(entry, p)) break;
      heap[i] = p;
      i = parent;
    }
    heap[i] = entry;
  }

  /** Schedules `event` `delay` ms after now. */
  after(delay: number, event: T): void {
    this.schedule(this.clock + delay, event);
  }

  /** The time of the next event, or undefined when empty. */
  peekTime(): number | undefined {
    return this.heap[0]?.time;
  }

  /** Moves the clock forward to `time` when no event is due before it (a quiet stretch of time). */
  advanceTo(time: number): void {
    const next = this.peekTime();
    if (next !== undefined && next < time) throw new Error(`an event is due at ${next}, before ${time}`);
    if (time > this.clock) this.clock = time;
  }

  /** Takes the earliest event and advances the clock to its time. */
  pop(): T | undefined {
    const heap = this.heap;
    const top = heap[0];
    if (top === undefined) return undefined;
    const last = heap.pop() as Entry<T>;
    if (heap.length > 0) {
      let i = 0;
      const n = heap.length;
      while (true) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        let child = l;
        if (r < n && before(heap[r] as Entry<T>, heap[l] as Entry<T>)) child = r;
        const c = heap[child] as Entry<T>;
        if (!before(c, last)) break;
        heap[i] = c;
        i = child;
      }
      heap[i] = last;
    }
    this.clock = top.time;
    return top.event;
  }
}

function before<T>(a: Entry<T>, b: Entry<T>): boolean {
  return a.time < b.time || (a.time === b.time && a.seq < b.seq);
}
