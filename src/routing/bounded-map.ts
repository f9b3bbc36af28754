// A Map that forgets its oldest entries beyond a fixed capacity: bookkeeping memory stays bounded no matter
// how many peers or messages a node sees over its lifetime.
export class BoundedMap<K, V> {
  private readonly map = new Map<K, V>();

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
    }
  }

  get size(): number {
    return this.map.size;
  }

  has(key: K): boolean {
    return this.map.has(key);
  }

  get(key: K): V | undefined {
    return this.map.get(key);
  }

  /** Sets the value; a new key beyond capacity evicts the oldest inserted key. */
  set(key: K, value: V): void {
    // Size first: below capacity no look-up is needed before the set.
    if (this.map.size >= this.capacity && !this.map.has(key)) {
      const oldest = this.map.keys().next();
      if (oldest.done !== true) this.map.delete(oldest.value);
    }
    this.map.set(key, value);
  }

  delete(key: K): boolean {
    return this.map.delete(key);
  }

  /** Entries, oldest inserted first. */
  entries(): IterableIterator<[K, V]> {
    return this.map.entries();
  }
}
