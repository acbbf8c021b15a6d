import test from 'ava';
import { isLabelled, parseUtkfaceLabels } from '../../../src/shared/data/utkface-labels';

test('well-formed UTKFace names give age, gender and race', (t) => {
  t.deepEqual(parseUtkfaceLabels('UTKFace/25_0_2_20170116174525125.jpg.chip.jpg'), { age: 25, gender: 0, race: 2 });
  t.deepEqual(parseUtkfaceLabels('116_1_4_20170120134921760.jpg.chip.jpg'), { age: 116, gender: 1, race: 4 });
  t.deepEqual(parseUtkfaceLabels('1_0_0_20161219140623097.jpg'), { age: 1, gender: 0, race: 0 });
  t.deepEqual(parseUtkfaceLabels('nested/dir/7_1_3_000042.synthetic.png'), { age: 7, gender: 1, race: 3 });
  t.true(isLabelled(parseUtkfaceLabels('30_1_1_20170116174525125.jpg.chip.jpg')));
});

test('every way a name can break the pattern gives unknown labels instead of failing', (t) => {
  const odd: Record<string, string> = {
    'missing race field': 'UTKFace/39_1_20170116174525125.jpg.chip.jpg',
    'missing dot before the extension': 'UTKFace/55_0_0_20170116232725357jpg.chip.jpg',
    'space before the extension': 'UTKFace/24_0_1_20170116220224657 .jpg.chip.jpg',
    'space inside': '24_0_1_2017 0116220224657.jpg.chip.jpg',
    'empty field': '53__0_20170116184028385.jpg.chip.jpg',
    'gender out of range': '25_2_0_20170116174525125.jpg.chip.jpg',
    'race out of range': '25_0_7_20170116174525125.jpg.chip.jpg',
    'impossible age': '999_0_0_20170116174525125.jpg.chip.jpg',
    'negative age': '-5_0_0_20170116174525125.jpg.chip.jpg',
    'extra field': '25_0_2_1_20170116174525125.jpg.chip.jpg',
    'letters in the datetime': '25_0_2_2017x116174525125.jpg.chip.jpg',
    'no extension': '25_0_2_20170116174525125',
    'not a UTKFace name': 'photo.jpg',
    'empty name': '',
  };
  for (const [why, name] of Object.entries(odd)) {
    const labels = parseUtkfaceLabels(name);
    t.false(isLabelled(labels), why);
    t.deepEqual(labels, { age: null, gender: null, race: null }, why);
  }
});

test('the folder part of a name does not affect its labels', (t) => {
  t.deepEqual(parseUtkfaceLabels('odd dir_1_2/25_0_2_20170116174525125.jpg.chip.jpg'), { age: 25, gender: 0, race: 2 });
  t.false(isLabelled(parseUtkfaceLabels('25_0_2_20170116174525125.jpg.chip.jpg/photo.jpg')));
});
