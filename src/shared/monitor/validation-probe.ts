import type * as tf from '@tensorflow/tfjs';
import type { RunConfig } from '../config/schema';
import type { FaceSet } from '../data/api';
import { eyesBoxFor } from '../data/eyes-box';
import { occlusionMask } from '../data/occlusion';
import { ConfigInvalidError } from '../errors';
import { generatorInpainter } from '../eval/generator-inpainter';
import { holePsnr, ssim } from '../eval/metrics';
import type { ProbeResult } from '../train/api';
import { diversityRatio } from './output-diversity';

/** Something that measures the generator on held-out inputs; the training loop's view of the probe. */
export interface Probe {
  /** Restores the probe's inputs with `generator` and measures the result. */
  evaluate(generator: tf.LayersModel): Promise<ProbeResult>;
}

// Masks come from this seed rather than the run's, so that runs with different seeds (and
// the same occlusion mix) are probed on the same holes and their numbers compare.
const PROBE_MASK_SEED = 0x960be;

/**
 * A fixed probe batch: the first `config.monitor.probeSize` faces of `set` (all of them when it
 * holds fewer; at least 2) with masks drawn by occlusionMask from the run's occlusion mix and a
 * fixed seed, so every evaluation restores the same inputs. Measures hole PSNR and SSIM with
 * the evaluation code, and the diversity of the restored holes ({@link diversityRatio}).
 */
export class ValidationProbe implements Probe {
  /** Faces in the batch. */
  readonly count: number;
  private readonly size: number;
  // Pixels in [0, 1], the evaluation code's range; masks as the inpainter and the diversity measure take them.
  private readonly images: Float32Array;
  private readonly masks: Uint8Array;
  private readonly maskValues: Float32Array;

  constructor(set: FaceSet, config: RunConfig) {
    if (set.size !== config.data.imageSize) {
      throw new ConfigInvalidError(`the probe set holds ${set.size}x${set.size} images but data.imageSize is ${config.data.imageSize}`);
    }
    this.count = Math.min(config.monitor.probeSize, set.count);
    if (this.count < 2) throw new ConfigInvalidError(`the probe needs at least 2 faces to measure output diversity; its set holds ${set.count}`);
    this.size = set.size;
    const area = set.size * set.size;
    this.images = Float32Array.from(set.pixels.subarray(0, this.count * area), (v) => v / 255);
    this.masks = new Uint8Array(this.count * area);
    const eyes = eyesBoxFor(config.data, set);
    for (let i = 0; i < this.count; i++) {
      this.masks.set(occlusionMask(config.data.occlusion, set.size, eyes, PROBE_MASK_SEED, i, 0).mask, i * area);
    }
    this.maskValues = Float32Array.from(this.masks);
  }

  /** Restores the probe batch with `generator` (inference mode, no dropout) and measures it. */
  async evaluate(generator: tf.LayersModel): Promise<ProbeResult> {
    const { count, size } = this;
    const area = size * size;
    // One chunk: the probe is small, and batch statistics play no part in inference mode.
    const restored = await generatorInpainter(generator, 'probe', count).inpaint(this.images, this.masks, count, size);
    let psnr = 0;
    let similarity = 0;
    for (let i = 0; i < count; i++) {
      const range = [i * area, (i + 1) * area] as const;
      const [r, o] = [restored.subarray(...range), this.images.subarray(...range)];
      psnr += holePsnr(r, o, this.masks.subarray(...range));
      similarity += ssim(r, o, size);
    }
    return {
      diversityRatio: diversityRatio(restored, this.images, this.maskValues, count, area),
      holePsnrDb: psnr / count,
      ssim: similarity / count,
    };
  }
}
