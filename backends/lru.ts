/**
 * A least-recently-used cache bounded by entry count and by bytes, for
 * compiled kernel sets (backends/runner.ts). Sizes are read whenever the cache
 * is touched rather than once at insertion, because what an entry holds can
 * grow after it is cached (a wasm memory grows to fit the tensors run through
 * it); that is why this is not npm lru-cache, which sizes an entry once.
 */
export interface LruLimits {
  /** most entries kept */
  readonly maxEntries: number;
  /** most bytes kept, summed over the entries (the entry used last stays, whatever its size) */
  readonly maxBytes: number;
}

export class Lru<V> {
  /** in use order: the first key is the least recently used */
  private readonly entries = new Map<string, V>();

  constructor(
    private limits: LruLimits,
    /** the bytes an entry holds now */
    private readonly bytesOf: (value: V) => number,
  ) {}

  /** The value for `key`, now the most recently used; evicts what no longer fits. */
  get(key: string): V | undefined {
    const value = this.entries.get(key);
    if (value === undefined) return undefined;
    this.entries.delete(key);
    this.entries.set(key, value);
    this.evict();
    return value;
  }

  /** Keeps `value` as the most recently used; evicts what no longer fits. */
  set(key: string, value: V): void {
    this.entries.delete(key);
    this.entries.set(key, value);
    this.evict();
  }

  /** Forgets `key`; with `only`, only while `key` still holds that value. */
  delete(key: string, only?: V): void {
    if (only === undefined || this.entries.get(key) === only) this.entries.delete(key);
  }

  /** Changes the limits (evicting at once what no longer fits). */
  limit(limits: LruLimits): void {
    this.limits = limits;
    this.evict();
  }

  get size(): number {
    return this.entries.size;
  }

  /** The bytes the entries hold now. */
  get bytes(): number {
    let total = 0;
    for (const v of this.entries.values()) total += this.bytesOf(v);
    return total;
  }

  keys(): string[] {
    return [...this.entries.keys()];
  }

  private evict(): void {
    let bytes = this.bytes;
    for (const [key, value] of this.entries) {
      if (this.entries.size <= 1) break;
      if (this.entries.size <= this.limits.maxEntries && bytes <= this.limits.maxBytes) break;
      bytes -= this.bytesOf(value);
      this.entries.delete(key);
    }
  }
}
