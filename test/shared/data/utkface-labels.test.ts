import test from 'ava';
import { isLabelled, parseUtkfaceLabels } from '../../../src/shared/data/utkface-labels';

test('well-formed UTKFace names give age, gender and race', (t) => {
  t.deepEqual(parseUtkfaceLabels('UTKFace/25_0_2_20170116174525125.jpg.chip.jpg'), { age: 25, gender: 0, race: 2 });
  t.deepEqual(parseUtkfaceLabels('116_1_4_20170120134921760.jpg.chip.jpg'), { age: 116, gender: 1, race: 4 });
  t.deepEqual(parseUtkfaceLabels('7_1_0_000042.synthetic.png'), { age: 7, gender: 1, race: 0 });
});

test('names that break the pattern get unknown labels instead of failing', (t) => {
  const odd = [
    'UTKFace/39_1_20170116174525125.jpg.chip.jpg', // a missing field
    'UTKFace/24_0_1_20170116220224657 .jpg.chip.jpg', // a space
    '61_3_20170109150557335jpg', // a missing dot and a field
    '25_2_0_20170116174525125.jpg.chip.jpg', // gender out of range
    '25_0_7_20170116174525125.jpg.chip.jpg', // race out of range
    '999_0_0_20170116174525125.jpg.chip.jpg', // impossible age
    'photo.jpg',
  ];
  for (const name of odd) {
    const labels = parseUtkfaceLabels(name);
    t.false(isLabelled(labels), name);
    t.deepEqual(labels, { age: null, gender: null, race: null }, name);
  }
});
