import test from 'ava';
import type { FaceLabels } from '../../../src/shared/data/api';
import { AGE_BUCKETS, ageBucket, labelHistograms } from '../../../src/shared/data/label-histogram';
import { Rng } from '../../../src/shared/util/rng';

const UNKNOWN: FaceLabels = { age: null, gender: null, race: null };

test('ages fall in decade buckets, the oldest in 90+', (t) => {
  t.is(ageBucket(0), '0-9');
  t.is(ageBucket(9), '0-9');
  t.is(ageBucket(10), '10-19');
  t.is(ageBucket(89), '80-89');
  t.is(ageBucket(90), '90+');
  t.is(ageBucket(116), '90+');
  t.is(ageBucket(null), 'unknown');
});

test('histograms count every image once per label, unknowns included', (t) => {
  const rng = new Rng(4);
  const labels: FaceLabels[] = Array.from({ length: 500 }, () =>
    rng.next() < 0.1 ? UNKNOWN : { age: rng.int(1, 116), gender: rng.int(0, 1), race: rng.int(0, 4) },
  );
  const h = labelHistograms(labels);
  const unknown = labels.filter((l) => l.age === null).length;
  for (const key of ['age', 'gender', 'race'] as const) {
    t.is(Object.values(h[key]).reduce((a, b) => a + b, 0), labels.length, key);
    t.is(h[key].unknown, unknown, key);
  }
  t.is(h.gender.female, labels.filter((l) => l.gender === 1).length);
  t.is(h.race.indian, labels.filter((l) => l.race === 3).length);
  t.is(h.age['20-29'], labels.filter((l) => l.age !== null && l.age >= 20 && l.age <= 29).length);
});

test('every bucket is listed, in a fixed order, whatever the input order', (t) => {
  const labels: FaceLabels[] = [{ age: 95, gender: 1, race: 4 }, UNKNOWN, { age: 3, gender: 0, race: 0 }];
  const a = labelHistograms(labels);
  t.deepEqual(Object.keys(a.age), [...AGE_BUCKETS, 'unknown']);
  t.deepEqual(Object.keys(a.gender), ['male', 'female', 'unknown']);
  t.deepEqual(Object.keys(a.race), ['white', 'black', 'asian', 'indian', 'others', 'unknown']);
  t.is(JSON.stringify(labelHistograms([...labels].reverse())), JSON.stringify(a));
  t.is(labelHistograms([]).age['30-39'], 0);
});
