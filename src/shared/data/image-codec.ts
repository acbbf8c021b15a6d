import sharp from 'sharp';
import { ImageDecodeError } from '../errors';

// libvips' operation cache only pays off when the same operation repeats on the same
// input; an ingest decodes thousands of distinct files once each, and is ~10% faster
// without it (and holds less memory).
sharp.cache(false);

/**
 * Decodes any image sharp reads (JPEG, PNG, WebP, ...; any size, colour or bit depth) into
 * a grayscale `size`x`size` image, one byte per pixel, row-major. An input that already is
 * `size`x`size` is not resampled (sharp skips a resize to the same dimensions), so its
 * gray pixels come back byte-exact. A corrupt, truncated or non-image file is an
 * {@link ImageDecodeError} naming `source`; so is a non-square image when `square` is set
 * (aligned face crops are square, and stretching another shape distorts the face).
 */
export async function decodeGray(bytes: Buffer, size: number, source: string, options: { square?: boolean } = {}): Promise<Uint8Array> {
  try {
    // 'error' makes a cut-off JPEG (and any decoder error) fail instead of decoding to a
    // half-grey picture, yet tolerates the harmless warnings many camera JPEGs carry.
    const image = sharp(bytes, { failOn: 'error' });
    if (options.square) {
      const { width, height } = await image.metadata();
      if (width !== height) throw new ImageDecodeError(source, `it is ${width}x${height}; expected a square face crop`);
    }
    const { data, info } = await image
      .grayscale()
      .resize(size, size, { fit: 'fill', kernel: 'lanczos3' })
      .extractChannel(0)
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.width !== size || info.height !== size || data.length !== size * size) {
      throw new ImageDecodeError(source, `decoded to ${info.width}x${info.height}x${info.channels}, expected ${size}x${size}x1`);
    }
    return new Uint8Array(data.buffer, data.byteOffset, data.length);
  } catch (err) {
    if (err instanceof ImageDecodeError) throw err;
    throw new ImageDecodeError(source, whatIsWrong(bytes));
  }
}

// What is wrong with bytes the decoder refused, told from the bytes themselves: the decoder's own
// message is no stable reason (libvips keeps one error buffer per thread, and sharp reports lines
// other images' failures left there, or 'Unknown error'), and an ingest report must not differ
// from one run to the next.
function whatIsWrong(bytes: Buffer): string {
  if (bytes.length === 0) return 'the file is empty';
  if (bytes.subarray(0, 3).equals(JPEG_MAGIC)) return 'a corrupt or truncated JPEG';
  if (bytes.subarray(0, 8).equals(PNG_MAGIC)) return 'a corrupt or truncated PNG';
  return 'not an image format the decoder reads';
}

const JPEG_MAGIC = Buffer.from([0xff, 0xd8, 0xff]);
const PNG_MAGIC = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Encodes grayscale pixels (one byte each, row-major) as a single-channel PNG. */
export async function encodePng(pixels: Uint8Array, width: number, height: number): Promise<Buffer> {
  return sharp(Buffer.from(pixels.buffer, pixels.byteOffset, pixels.length), { raw: { width, height, channels: 1 } })
    .toColourspace('b-w')
    .png()
    .toBuffer();
}
