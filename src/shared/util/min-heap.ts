/**
 * A binary min-heap of integer items (array indices, pixel numbers) keyed by numbers, held in
 * typed arrays of a fixed capacity so that a hot loop pushes and pops without allocating.
 * Items of equal key come out in the order they went in.
 */
export class MinHeap {
  private readonly keys: Float64Array;
  // Insertion counter per slot: the tie-break that makes equal keys first-in, first-out,
  // so a pop order never depends on how the heap happened to arrange its array.
  private readonly order: Float64Array;
  private readonly items: Int32Array;
  private length = 0;
  private pushed = 0;

  constructor(readonly capacity: number) {
    if (!(Number.isSafeInteger(capacity) && capacity >= 0)) throw new RangeError(`heap capacity ${capacity}: expected an integer >= 0`);
    this.keys = new Float64Array(capacity);
    this.order = new Float64Array(capacity);
    this.items = new Int32Array(capacity);
  }

  /** Number of items held. */
  get size(): number {
    return this.length;
  }

  /** Empties the heap, keeping its storage. */
  clear(): void {
    this.length = 0;
    this.pushed = 0;
  }

  /** Adds `item` with `key`; throws a RangeError when the heap is full. */
  push(item: number, key: number): void {
    if (this.length === this.capacity) throw new RangeError(`heap of capacity ${this.capacity} is full`);
    const seq = this.pushed++;
    let i = this.length++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!precedes(key, seq, this.keys[parent], this.order[parent])) break;
      this.move(parent, i);
      i = parent;
    }
    this.set(i, item, key, seq);
  }

  /** Removes and returns the item of least key (the earliest pushed among equals); throws a RangeError when empty. */
  pop(): number {
    if (this.length === 0) throw new RangeError('pop from an empty heap');
    const top = this.items[0];
    const last = --this.length;
    if (last > 0) {
      const item = this.items[last];
      const key = this.keys[last];
      const seq = this.order[last];
      let i = 0;
      for (;;) {
        let child = 2 * i + 1;
        if (child >= last) break;
        if (child + 1 < last && precedes(this.keys[child + 1], this.order[child + 1], this.keys[child], this.order[child])) child++;
        if (!precedes(this.keys[child], this.order[child], key, seq)) break;
        this.move(child, i);
        i = child;
      }
      this.set(i, item, key, seq);
    }
    return top;
  }

  private move(from: number, to: number): void {
    this.set(to, this.items[from], this.keys[from], this.order[from]);
  }

  private set(slot: number, item: number, key: number, seq: number): void {
    this.items[slot] = item;
    this.keys[slot] = key;
    this.order[slot] = seq;
  }
}

function precedes(key: number, seq: number, otherKey: number, otherSeq: number): boolean {
  return key < otherKey || (key === otherKey && seq < otherSeq);
}
