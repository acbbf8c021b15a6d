import test from 'ava';
import fc from 'fast-check';
import { MinHeap } from '../../../src/shared/util/min-heap';

test('pops come out in key order, equal keys in the order they were pushed', (t) => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 8 }), { maxLength: 200 }), (keys) => {
      const heap = new MinHeap(keys.length);
      keys.forEach((key, item) => heap.push(item, key / 2));
      const popped: number[] = [];
      while (heap.size > 0) popped.push(heap.pop());
      // A stable sort by key is exactly the order the heap must give.
      const expected = keys.map((key, item) => ({ key, item })).sort((a, b) => a.key - b.key).map((e) => e.item);
      t.deepEqual(popped, expected);
    }),
  );
});

test('pushes and pops interleave, and clear empties the heap for reuse', (t) => {
  const heap = new MinHeap(4);
  heap.push(10, 3);
  heap.push(11, 1);
  t.is(heap.pop(), 11);
  heap.push(12, 0.5);
  heap.push(13, 3);
  t.is(heap.pop(), 12);
  t.is(heap.pop(), 10);
  t.is(heap.pop(), 13);
  heap.push(1, 1);
  heap.clear();
  t.is(heap.size, 0);
  heap.push(2, 0);
  t.is(heap.pop(), 2);
});

test('a full heap refuses a push, an empty one a pop, and a capacity must be a count', (t) => {
  const heap = new MinHeap(1);
  heap.push(0, 0);
  t.throws(() => heap.push(1, 0), { instanceOf: RangeError });
  heap.pop();
  t.throws(() => heap.pop(), { instanceOf: RangeError });
  t.throws(() => new MinHeap(-1), { instanceOf: RangeError });
});
