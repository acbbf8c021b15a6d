import test from 'ava';
import sharp from 'sharp';
import { decodeGray, encodePng } from '../../../src/shared/data/image-codec';
import { ImageDecodeError } from '../../../src/shared/errors';

const gradient = (w: number, h: number, channels: 1 | 3) =>
  Buffer.from(Array.from({ length: w * h * channels }, (_, i) => Math.floor(i / channels) % 251));

test('a PNG of the target size round-trips byte-exact (no resampling)', async (t) => {
  const pixels = Uint8Array.from(gradient(64, 64, 1));
  const back = await decodeGray(await encodePng(pixels, 64, 64), 64, 'g.png');
  t.deepEqual(Array.from(back), Array.from(pixels));
});

test('colour input of any size becomes grayscale size x size', async (t) => {
  const jpeg = await sharp(gradient(200, 150, 3), { raw: { width: 200, height: 150, channels: 3 } }).jpeg().toBuffer();
  const out = await decodeGray(jpeg, 32, 'c.jpg');
  t.is(out.length, 32 * 32);
  t.true(out.some((v) => v > 0));
});

test('a truncated JPEG and random bytes are ImageDecodeErrors naming the file', async (t) => {
  const jpeg = await sharp(gradient(200, 200, 3), { raw: { width: 200, height: 200, channels: 3 } }).jpeg().toBuffer();
  const cut = await t.throwsAsync(decodeGray(jpeg.subarray(0, Math.floor(jpeg.length / 2)), 64, 'cut.jpg'), { instanceOf: ImageDecodeError });
  t.regex(cut.message, /cut\.jpg/);
  await t.throwsAsync(decodeGray(Buffer.from('definitely not an image'), 64, 'junk.jpg'), { instanceOf: ImageDecodeError, message: /junk\.jpg/ });
});
