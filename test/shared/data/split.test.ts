import { createHash } from 'node:crypto';
import test from 'ava';
import { parseSplitFractions, splitOf } from '../../../src/shared/data/split';

const hash = (i: number) => createHash('sha256').update(String(i)).digest('hex');

test('the split depends only on the hash (so byte-identical copies share one) and follows the fractions', (t) => {
  const counts = { train: 0, val: 0, test: 0 };
  const n = 20000;
  for (let i = 0; i < n; i++) {
    const s = splitOf(hash(i));
    t.is(splitOf(hash(i)), s);
    counts[s]++;
  }
  t.true(Math.abs(counts.train / n - 0.8) < 0.02);
  t.true(Math.abs(counts.val / n - 0.1) < 0.02);
  t.true(Math.abs(counts.test / n - 0.1) < 0.02);
});

test('custom fractions are honoured, including empty splits', (t) => {
  for (let i = 0; i < 500; i++) {
    t.is(splitOf(hash(i), [1, 0, 0]), 'train');
    t.is(splitOf(hash(i), [0, 0, 1]), 'test');
    t.not(splitOf(hash(i), [0.5, 0.5, 0]), 'test');
  }
  t.deepEqual(parseSplitFractions('0.7,0.2,0.1'), [0.7, 0.2, 0.1]);
});

test('bad split fractions are rejected with the expected form', (t) => {
  for (const bad of ['0.8,0.1', '0.8,0.1,0.2', 'a,b,c', '1.2,-0.1,-0.1']) {
    t.throws(() => parseSplitFractions(bad), { message: /three non-negative fractions summing to 1/ });
  }
});
