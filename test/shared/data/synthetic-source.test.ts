import test from 'ava';
import { decodeGray } from '../../../src/shared/data/image-codec';
import { openSource } from '../../../src/shared/data/open-source';
import { SyntheticSource } from '../../../src/shared/data/synthetic-source';
import { drawSyntheticFace } from '../../../src/shared/data/synthetic-face';
import { parseUtkfaceLabels } from '../../../src/shared/data/utkface-labels';
import { ConfigInvalidError } from '../../../src/shared/errors';

test('a face is a pure function of (seed, index)', (t) => {
  t.deepEqual(drawSyntheticFace(1, 5).pixels, drawSyntheticFace(1, 5).pixels);
  t.notDeepEqual(drawSyntheticFace(1, 5).pixels, drawSyntheticFace(1, 6).pixels);
  t.notDeepEqual(drawSyntheticFace(1, 5).pixels, drawSyntheticFace(2, 5).pixels);
});

test('faces vary, and are darker at the pupils than on the cheeks', (t) => {
  const means = Array.from({ length: 50 }, (_, i) => drawSyntheticFace(0, i).pixels.reduce((a, b) => a + b, 0) / 128 ** 2);
  const spread = Math.max(...means) - Math.min(...means);
  t.true(spread > 30, `mean brightness spread only ${spread}`);
  let darkerEyes = 0;
  for (let i = 0; i < 50; i++) {
    const { pixels } = drawSyntheticFace(0, i);
    // The eye band (40% height) holds the darkest pupils; compare its minimum with the cheek row.
    const row = (y: number) => Array.from(pixels.subarray(Math.round(y * 128) * 128 + 30, Math.round(y * 128) * 128 + 98));
    if (Math.min(...row(0.4)) < Math.min(...row(0.6))) darkerEyes++;
  }
  t.true(darkerEyes > 45, `${darkerEyes}/50 faces have dark pupils on the eye line`);
});

test('synthetic:N yields N decodable PNGs with parseable UTKFace-style names', async (t) => {
  const source = openSource('synthetic:12:3');
  t.true(source instanceof SyntheticSource);
  let n = 0;
  for await (const file of source.files()) {
    n++;
    t.not(parseUtkfaceLabels(file.name).age, null);
    t.is((await decodeGray(file.bytes, 64, file.name)).length, 64 * 64);
  }
  t.is(n, 12);
});

test('bad source specs are clear errors', (t) => {
  t.throws(() => openSource('synthetic:abc'), { instanceOf: ConfigInvalidError });
  t.throws(() => openSource('synthetic:0'), { instanceOf: ConfigInvalidError });
  t.throws(() => openSource('/no/such/UTKFace.tar.gz'), { instanceOf: ConfigInvalidError, message: /does not exist/ });
  t.throws(() => openSource('package.json'), { instanceOf: ConfigInvalidError, message: /neither/ });
});
