// A binary min-heap of timed events on a virtual clock (ms). Events at the same time come out in the
// order they were scheduled (a sequence number breaks ties), so a run never depends on heap internals.
// Times and sequence numbers live in typed arrays beside the events (no entry object per event): with
// 100,000 simulated nodes the heap holds about a million events, and comparisons then stay within two
// contiguous arrays instead of chasing a pointer per entry; fewer objects also means less for the GC.
// Beside the heap, a FIFO lane for events scheduled in time order (scheduleInOrder): a node's periodic tick
// is re-scheduled one period after the tick just taken, and taken times never decrease, so those events
// arrive already sorted. About one per simulated node is waiting at any time: in the lane each costs O(1)
// instead of a sift through a heap that would otherwise hold mostly ticks.

const INITIAL_CAPACITY = 1024;

export class EventQueue<T> {
  private times = new Float64Array(INITIAL_CAPACITY);
  private seqs = new Float64Array(INITIAL_CAPACITY);
  /** Only ever appended to (a slot past the end is written before it is read), so it stays a dense array. */
  private readonly events: (T | undefined)[] = [];
  private count = 0;
  /** The in-order lane: a ring of times, sequence numbers and events, oldest at laneHead. */
  private laneTimes = new Float64Array(INITIAL_CAPACITY);
  private laneSeqs = new Float64Array(INITIAL_CAPACITY);
  private laneEvents: (T | undefined)[] = Array.from<T | undefined>({ length: INITIAL_CAPACITY });
  private laneHead = 0;
  private laneCount = 0;
  private nextSeq = 0;
  private clock = 0;

  /** The virtual time of the event most recently taken (starts at 0). */
  get now(): number {
    return this.clock;
  }

  get size(): number {
    return this.count + this.laneCount;
  }

  /** Schedules `event` at absolute virtual time `time`; never earlier than now (no travel into the past). */
  schedule(time: number, event: T): void {
    const t = Math.max(time, this.clock);
    // The newest event has the highest sequence number: on a tie in time it goes after its parent.
    const seq = this.nextSeq++;
    if (this.count === this.times.length) this.grow();
    const times = this.times;
    const seqs = this.seqs;
    const events = this.events;
    let i = this.count++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const parentTime = times[parent] as number;
      if (parentTime <= t) break;
      times[i] = parentTime;
      seqs[i] = seqs[parent] as number;
      events[i] = events[parent];
      i = parent;
    }
    times[i] = t;
    seqs[i] = seq;
    events[i] = event;
  }

  /** Schedules `event` `delay` ms after now. */
  after(delay: number, event: T): void {
    this.schedule(this.clock + delay, event);
  }

  /**
   * schedule(), for a caller whose times mostly come in order (each no earlier than the last one it
   * scheduled so): such an event waits in the lane; one out of order goes to the heap. Either way it comes
   * out exactly where schedule() would have put it: by time, ties in scheduling order.
   */
  scheduleInOrder(time: number, event: T): void {
    const t = Math.max(time, this.clock);
    const n = this.laneCount;
    const mask = this.laneTimes.length - 1;
    if (n > 0 && t < (this.laneTimes[(this.laneHead + n - 1) & mask] as number)) {
      this.schedule(t, event);
      return;
    }
    if (n === this.laneTimes.length) this.growLane();
    const at = (this.laneHead + n) & (this.laneTimes.length - 1);
    this.laneTimes[at] = t;
    this.laneSeqs[at] = this.nextSeq++;
    this.laneEvents[at] = event;
    this.laneCount = n + 1;
  }

  /** The time of the next event, or undefined when empty. */
  peekTime(): number | undefined {
    if (this.laneCount === 0) return this.count > 0 ? this.times[0] : undefined;
    const laneTime = this.laneTimes[this.laneHead] as number;
    return this.count > 0 && (this.times[0] as number) < laneTime ? this.times[0] : laneTime;
  }

  /** Moves the clock forward to `time` when no event is due before it (a quiet stretch of time). */
  advanceTo(time: number): void {
    const next = this.peekTime();
    if (next !== undefined && next < time) throw new Error(`an event is due at ${next}, before ${time}`);
    if (time > this.clock) this.clock = time;
  }

  /** Takes the earliest event and advances the clock to its time. */
  pop(): T | undefined {
    if (this.laneCount > 0) {
      const head = this.laneHead;
      const laneTime = this.laneTimes[head] as number;
      if (
        this.count === 0 ||
        before(laneTime, this.laneSeqs[head] as number, this.times[0] as number, this.seqs[0] as number)
      ) {
        const event = this.laneEvents[head] as T;
        this.laneEvents[head] = undefined;
        this.laneHead = (head + 1) & (this.laneTimes.length - 1);
        this.laneCount--;
        this.clock = laneTime;
        return event;
      }
    }
    if (this.count === 0) return undefined;
    const times = this.times;
    const seqs = this.seqs;
    const events = this.events;
    const top = events[0] as T;
    const topTime = times[0] as number;
    const n = --this.count;
    const lastTime = times[n] as number;
    const lastSeq = seqs[n] as number;
    const lastEvent = events[n];
    events[n] = undefined;
    if (n > 0) {
      let i = 0;
      while (true) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        let child = l;
        if (r < n && before(times[r] as number, seqs[r] as number, times[l] as number, seqs[l] as number))
          child = r;
        const childTime = times[child] as number;
        const childSeq = seqs[child] as number;
        if (!before(childTime, childSeq, lastTime, lastSeq)) break;
        times[i] = childTime;
        seqs[i] = childSeq;
        events[i] = events[child];
        i = child;
      }
      times[i] = lastTime;
      seqs[i] = lastSeq;
      events[i] = lastEvent;
    }
    this.clock = topTime;
    return top;
  }

  private grow(): void {
    const capacity = this.times.length * 2;
    const times = new Float64Array(capacity);
    times.set(this.times);
    const seqs = new Float64Array(capacity);
    seqs.set(this.seqs);
    this.times = times;
    this.seqs = seqs;
  }

  /** Doubles the lane, its waiting events moved to the front in order. */
  private growLane(): void {
    const capacity = this.laneTimes.length * 2;
    const times = new Float64Array(capacity);
    const seqs = new Float64Array(capacity);
    const events = Array.from<T | undefined>({ length: capacity });
    const mask = this.laneTimes.length - 1;
    for (let k = 0; k < this.laneCount; k++) {
      const from = (this.laneHead + k) & mask;
      times[k] = this.laneTimes[from] as number;
      seqs[k] = this.laneSeqs[from] as number;
      events[k] = this.laneEvents[from];
    }
    this.laneTimes = times;
    this.laneSeqs = seqs;
    this.laneEvents = events;
    this.laneHead = 0;
  }
}

function before(timeA: number, seqA: number, timeB: number, seqB: number): boolean {
  return timeA < timeB || (timeA === timeB && seqA < seqB);
}
