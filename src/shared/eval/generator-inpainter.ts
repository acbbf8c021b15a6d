import * as tf from '@tensorflow/tfjs';
import { inpaint } from '../model/inpaint';
import type { Inpainter } from './inpainter';

/**
 * An {@link Inpainter} backed by a trained generator, run in inference mode in chunks of
 * `batchSize` so that evaluation and restore of large sets stay within memory.
 */
export function generatorInpainter(generator: tf.LayersModel, name = 'model', batchSize = 64): Inpainter {
  return {
    name,
    async inpaint(images: Float32Array, masks: Uint8Array, count: number, size: number): Promise<Float32Array> {
      const pixels = size * size;
      const out = new Float32Array(count * pixels);
      for (let start = 0; start < count; start += batchSize) {
        const n = Math.min(batchSize, count - start);
        const range = [start * pixels, (start + n) * pixels] as const;
        const composite = tf.tidy(() => {
          // The generator works in [-1, 1]; evaluation speaks [0, 1].
          const real = tf.tensor4d(images.subarray(...range), [n, size, size, 1]).mul(2).sub(1) as tf.Tensor4D;
          const mask = tf.tensor4d(Float32Array.from(masks.subarray(...range)), [n, size, size, 1]);
          return inpaint(generator, real, mask).composite.add(1).div(2).clipByValue(0, 1);
        });
        out.set(await composite.data(), range[0]);
        composite.dispose();
      }
      return out;
    },
  };
}
