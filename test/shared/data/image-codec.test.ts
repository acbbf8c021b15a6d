import test from 'ava';
import sharp from 'sharp';
import { decodeGray, encodePng } from '../../../src/shared/data/image-codec';
import { ImageDecodeError } from '../../../src/shared/errors';
import { Rng } from '../../../src/shared/util/rng';

const noise = (length: number, seed: number) => {
  const rng = new Rng(seed);
  return Uint8Array.from({ length }, () => rng.int(0, 255));
};

// A colour picture: left half dark red, right half light green-blue.
async function halves(width: number, height: number): Promise<Buffer> {
  const raw = Buffer.alloc(width * height * 3);
  for (let i = 0; i < width * height; i++) raw.set(i % width < width / 2 ? [90, 10, 10] : [120, 230, 220], i * 3);
  return sharp(raw, { raw: { width, height, channels: 3 } }).jpeg({ quality: 95 }).toBuffer();
}

test('a grayscale PNG of the target size round-trips byte-exact (no resampling)', async (t) => {
  // Pixel noise: any resampling or smoothing would change many values.
  const pixels = noise(64 * 64, 1);
  const png = await encodePng(pixels, 64, 64);
  const meta = await sharp(png).metadata();
  t.deepEqual([meta.format, meta.width, meta.height, meta.channels], ['png', 64, 64, 1]);
  t.deepEqual(await decodeGray(png, 64, 'noise.png'), pixels);
});

test('colour input of any size becomes grayscale size x size, keeping its layout', async (t) => {
  const out = await decodeGray(await halves(200, 150), 32, 'halves.jpg');
  t.is(out.length, 32 * 32);
  for (let y = 0; y < 32; y++) {
    t.true(out[y * 32 + 2] < 60, `row ${y} left is ${out[y * 32 + 2]}`);
    t.true(out[y * 32 + 29] > 160, `row ${y} right is ${out[y * 32 + 29]}`);
  }
});

test('16-bit and alpha inputs decode to one byte per pixel', async (t) => {
  const grey16 = await sharp({ create: { width: 40, height: 40, channels: 3, background: '#808080' } }).toColourspace('grey16').png().toBuffer();
  const rgba = await sharp({ create: { width: 40, height: 40, channels: 4, background: { r: 128, g: 128, b: 128, alpha: 0.5 } } }).png().toBuffer();
  for (const [name, bytes] of [['grey16.png', grey16], ['rgba.png', rgba]] as const) {
    const out = await decodeGray(bytes, 20, name);
    t.is(out.length, 400, name);
    t.true(out.every((v) => Math.abs(v - 128) <= 1), name);
  }
});

test('corrupt, truncated and non-image input are ImageDecodeErrors naming the file', async (t) => {
  const jpeg = await halves(200, 200);
  const cut = await t.throwsAsync(decodeGray(jpeg.subarray(0, Math.floor(jpeg.length / 2)), 64, 'cut.jpg'), { instanceOf: ImageDecodeError });
  t.is(cut.source, 'cut.jpg');
  // A header that announces a JPEG, followed by garbage entropy-coded data.
  const garbled = Buffer.concat([jpeg.subarray(0, 200), noise(jpeg.length - 200, 2)]);
  await t.throwsAsync(decodeGray(garbled, 64, 'garbled.jpg'), { instanceOf: ImageDecodeError, message: /garbled\.jpg/ });
  const png = Buffer.from(await encodePng(noise(64 * 64, 3), 64, 64));
  png[png.length >> 1] ^= 0xff;
  await t.throwsAsync(decodeGray(png, 64, 'flipped.png'), { instanceOf: ImageDecodeError, message: /flipped\.png/ });
  await t.throwsAsync(decodeGray(png, 64, 'flipped.png'), { instanceOf: ImageDecodeError, message: /flipped\.png: a corrupt or truncated PNG$/ });
  await t.throwsAsync(decodeGray(Buffer.from('definitely not an image'), 64, 'junk.jpg'), { instanceOf: ImageDecodeError, message: /junk\.jpg: not an image format the decoder reads$/ });
  await t.throwsAsync(decodeGray(Buffer.alloc(0), 64, 'empty.png'), { instanceOf: ImageDecodeError, message: /empty\.png: the file is empty$/ });
});

test('with square set, a non-square image is refused instead of stretched', async (t) => {
  const wide = await halves(120, 80);
  await t.throwsAsync(decodeGray(wide, 32, 'wide.jpg', { square: true }), { instanceOf: ImageDecodeError, message: /wide\.jpg.*120x80/ });
  t.is((await decodeGray(wide, 32, 'wide.jpg')).length, 32 * 32);
});

test('a broken file gets the same reason however many other broken files were decoded before it', async (t) => {
  const jpeg = await halves(200, 200);
  const cut = jpeg.subarray(0, Math.floor(jpeg.length / 2));
  const reason = async () => (await t.throwsAsync(decodeGray(cut, 64, 'cut.jpg'), { instanceOf: ImageDecodeError }))?.message;
  const first = await reason();
  // Other failures in between fill the decoder's per-thread error buffer.
  const garbled = Buffer.concat([jpeg.subarray(0, 200), noise(jpeg.length - 200, 5)]);
  for (const bytes of [garbled, Buffer.from('not an image'), cut, garbled]) await decodeGray(bytes, 64, 'other.jpg').catch(() => undefined);
  t.is(await reason(), first);
  t.is(first, 'cannot decode image cut.jpg: a corrupt or truncated JPEG');
});
