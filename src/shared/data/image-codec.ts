import sharp from 'sharp';
import { ImageDecodeError } from '../errors';

/**
 * Decodes any image sharp reads (JPEG, PNG, WebP, ...; any size or colour) into a
 * grayscale `size`x`size` image, one byte per pixel, row-major. An input that already is
 * single-channel `size`x`size` is not resampled. A corrupt or truncated file is an
 * {@link ImageDecodeError} naming `source`; so is a non-square image when `square` is set
 * (aligned face crops are square, and stretching another shape distorts the face).
 */
export async function decodeGray(bytes: Buffer, size: number, source: string, options: { square?: boolean } = {}): Promise<Uint8Array> {
  try {
    // failOn 'truncated' makes a cut-off JPEG an error instead of a half-grey picture.
    const image = sharp(bytes, { failOn: 'truncated' });
    const meta = await image.metadata();
    if (options.square && meta.width !== meta.height) throw new Error(`it is ${meta.width}x${meta.height}; expected a square face crop`);
    let pipeline = image.grayscale();
    if (meta.width !== size || meta.height !== size) pipeline = pipeline.resize(size, size, { fit: 'fill', kernel: 'lanczos3' });
    const { data, info } = await pipeline.extractChannel(0).raw().toBuffer({ resolveWithObject: true });
    if (info.width !== size || info.height !== size || data.length !== size * size) {
      throw new Error(`decoded to ${info.width}x${info.height}x${info.channels}, expected ${size}x${size}x1`);
    }
    return new Uint8Array(data.buffer, data.byteOffset, data.length);
  } catch (err) {
    throw new ImageDecodeError(source, (err as Error).message);
  }
}

/** Encodes grayscale pixels (one byte each, row-major) as a PNG. */
export async function encodePng(pixels: Uint8Array, width: number, height: number): Promise<Buffer> {
  return sharp(Buffer.from(pixels.buffer, pixels.byteOffset, pixels.length), { raw: { width, height, channels: 1 } })
    .toColourspace('b-w')
    .png()
    .toBuffer();
}
