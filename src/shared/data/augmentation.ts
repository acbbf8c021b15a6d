import type { AugmentConfig, EyesBox } from '../config/schema';
import { mixSeed, Rng } from '../util/rng';
import { resampleBilinear } from './bilinear-resample';
import { addGaussianNoise, adjustExposure, gaussianBlur } from './photometric';

/**
 * Seeded augmentation of grayscale face crops (`Uint8Array` of size*size, row-major,
 * 0..255). Users' photos are not aligned like the training faces, so training re-frames
 * each sample a little (zoom, shift, mirror) and changes its exposure (brightness,
 * contrast, gamma, blur, noise). Pure and deterministic like the occlusion masks: the same
 * (seed, global sample, epoch) gives the same augmentation on any rank, so an exact resume
 * stays exact. The bounds are `data.augment` (`AugmentSchema` in the config schema).
 */

export type { AugmentConfig };

/** A configuration that augments nothing: `augmentSample` returns its input unchanged. */
export const NO_AUGMENT: Readonly<AugmentConfig> = Object.freeze({ scale: 0, shift: 0, flip: 0, brightness: 0, contrast: 0, gamma: 0, blur: 0, noise: 0 });

/** Mild augmentation for aligned 64x64 faces: enough to cover slightly misaligned or badly exposed photos. */
export const DEFAULT_AUGMENT: Readonly<AugmentConfig> = Object.freeze({ scale: 0.1, shift: 0.1, flip: 0.5, brightness: 0.1, contrast: 0.2, gamma: 0.2, blur: 0.2, noise: 0.02 });

/** One concrete augmentation: the geometry and exposure changes drawn for one sample. */
export interface Reframing {
  /** Zoom about the image centre; above 1 enlarges the face. Identity 1. */
  scale: number;
  /** Shift to the right, as a fraction of the side, after the zoom and before the mirror. Identity 0. */
  dx: number;
  /** Shift downwards, as a fraction of the side, after the zoom. Identity 0. */
  dy: number;
  /** Mirror left-right, after scaling and shifting. */
  flip: boolean;
  /** Added to every pixel in [0, 1] units. Identity 0. */
  brightness: number;
  /** Factor on each pixel's distance from the image mean. Identity 1. */
  contrast: number;
  /** Exponent on each pixel in [0, 1]; above 1 darkens mid-greys. Identity 1. */
  gamma: number;
  /** Standard deviation of the Gaussian blur in pixels; 0 for none. */
  blurSigma: number;
  /** Standard deviation of the additive Gaussian noise in [0, 1] units; 0 for none. */
  noiseStd: number;
}

/** The reframing that changes nothing. */
export const IDENTITY_REFRAMING: Readonly<Reframing> = Object.freeze({ scale: 1, dx: 0, dy: 0, flip: false, brightness: 0, contrast: 1, gamma: 1, blurSigma: 0, noiseStd: 0 });

/** How many `rng.next()` draws `drawReframing` consumes, whatever the config. */
export const REFRAMING_DRAWS = 10;

/**
 * Draws one reframing within the bounds of `config`. It always consumes exactly
 * `REFRAMING_DRAWS` uniform draws, in this order: scale, dx, dy, flip, brightness,
 * contrast, gamma, blur (whether), blur sigma, noise std. A field's draw is taken even when
 * its bound is 0, so turning one augmentation on or off leaves every other draw of every
 * sample as it was, and the generator's state afterwards never depends on the config.
 * With `NO_AUGMENT` it returns the identity.
 */
export function drawReframing(config: AugmentConfig, rng: Rng): Reframing {
  const scale = 1 + symmetric(rng, config.scale);
  const dx = symmetric(rng, config.shift);
  const dy = symmetric(rng, config.shift);
  const flip = rng.next() < config.flip;
  const brightness = symmetric(rng, config.brightness);
  const contrast = 1 + symmetric(rng, config.contrast);
  const gamma = Math.exp(symmetric(rng, config.gamma));
  const blurred = rng.next() < config.blur;
  const sigma = 0.3 + 0.7 * rng.next();
  const noiseStd = config.noise * rng.next();
  return { scale, dx, dy, flip, brightness, contrast, gamma, blurSigma: blurred ? sigma : 0, noiseStd };
}

// Uniform in [-bound, bound); exactly 0 when the bound is 0, so a disabled field is the identity.
function symmetric(rng: Rng, bound: number): number {
  const u = rng.next();
  return bound === 0 ? 0 : bound * (2 * u - 1);
}

/** True when `config` augments nothing (every bound 0), so samples can skip augmentation entirely. */
export function isNoAugment(config: AugmentConfig): boolean {
  return config.scale === 0 && config.shift === 0 && config.flip === 0 && config.brightness === 0 && config.contrast === 0 && config.gamma === 0 && config.blur === 0 && config.noise === 0;
}

/** A sample after augmentation, with the reframing it was given (which moves its eyes). */
export interface AugmentedSample {
  pixels: Uint8Array;
  reframing: Reframing;
}

/**
 * Augments one training sample: draws its reframing from
 * `new Rng(mixSeed(seed, sample, epoch, 0xa06))` (`sample` the GLOBAL sample index, a
 * salt apart from the occlusion mask's) and applies it, the noise continuing from the
 * same generator. Returns `pixels` itself, not a copy, and the identity when `config`
 * augments nothing.
 */
export function augmentSample(pixels: Uint8Array, size: number, config: AugmentConfig, seed: number, sample: number, epoch: number): AugmentedSample {
  if (isNoAugment(config)) return { pixels, reframing: IDENTITY_REFRAMING };
  const rng = new Rng(mixSeed(seed, sample, epoch, 0xa06));
  const reframing = drawReframing(config, rng);
  return { pixels: applyReframing(pixels, size, reframing, rng), reframing };
}

/**
 * Where an eyes box lands after a reframing of a size*size image: its edges (pixel
 * boundaries) through the forward map of `resampleBilinear` (zoom about the centre, shift,
 * mirror), clipped to the image. A box pushed out of the frame clips to an empty one.
 */
export function reframeBox(box: EyesBox, r: Reframing, size: number): EyesBox {
  const centre = (size - 1) / 2;
  // A fraction's edge sits half a pixel before the pixel it starts.
  const move = (fraction: number, shift: number) => (centre + (fraction * size - 0.5 - centre) * r.scale + shift * size + 0.5) / size;
  const clip = (v: number) => Math.min(1, Math.max(0, v));
  const [left, right] = [move(box.left, r.dx), move(box.right, r.dx)];
  return {
    top: clip(move(box.top, r.dy)),
    bottom: clip(move(box.bottom, r.dy)),
    left: clip(r.flip ? 1 - right : left),
    right: clip(r.flip ? 1 - left : right),
  };
}

/**
 * Applies a reframing to a size*size image (`pixels.length` must be size*size) and returns
 * a new image; the identity returns an exact copy. Geometry first (`resampleBilinear`: scale about the centre, then
 * shift, then mirror; outside the image reads the nearest edge pixel, never a border
 * colour). Then, in [0, 1] (`photometric.ts`): contrast about the image mean, brightness,
 * a clamp to [0, 1], gamma; a separable Gaussian blur of radius ceil(3 sigma); noise seeded
 * by one draw of `noiseRng` (untouched when `noiseStd` is 0). Finally rounding and clamping
 * to 0..255.
 */
export function applyReframing(pixels: Uint8Array, size: number, r: Reframing, noiseRng: Rng): Uint8Array {
  const geometric = r.scale !== 1 || r.dx !== 0 || r.dy !== 0 || r.flip;
  const tonal = r.contrast !== 1 || r.brightness !== 0 || r.gamma !== 1;
  if (!geometric && !tonal && r.blurSigma === 0 && r.noiseStd === 0) return pixels.slice();
  const { image, spare } = workspace(size * size);
  if (geometric) resampleBilinear(pixels, size, { scale: r.scale, dx: r.dx * size, dy: r.dy * size, flip: r.flip }, image);
  else for (let i = 0; i < image.length; i++) image[i] = pixels[i] * INV_255;
  if (tonal) adjustExposure(image, r.contrast, r.brightness, r.gamma);
  if (r.blurSigma > 0) gaussianBlur(image, size, r.blurSigma, spare);
  if (r.noiseStd > 0) addGaussianNoise(image, r.noiseStd, noiseRng);
  return quantize(image);
}

const INV_255 = 1 / 255;

// Float images reused by every call, replaced when the image size changes: allocating a
// 16 KB typed array costs more than the arithmetic done on it (about 20 µs against 10 µs at
// 64x64, measured), and no call awaits, so two calls never hold them at once. Neither
// escapes: `quantize` copies the result into a new byte image.
let buffers = { image: new Float32Array(0), spare: new Float32Array(0) };

function workspace(length: number): { image: Float32Array; spare: Float32Array } {
  if (buffers.image.length !== length) buffers = { image: new Float32Array(length), spare: new Float32Array(length) };
  return buffers;
}

function quantize(v: Float32Array): Uint8Array {
  const out = new Uint8Array(v.length);
  for (let i = 0; i < v.length; i++) {
    const q = v[i] * 255 + 0.5;
    out[i] = q <= 0 ? 0 : q >= 255 ? 255 : q;
  }
  return out;
}

/**
 * A fixed set of re-framings for evaluation (`facefill eval --jitter`): how much worse the
 * model restores a face that is framed or exposed a little unlike the training set. They
 * are noise-free, so they need no generator and give the same images every time.
 */
export const JITTERS: readonly { name: string; reframing: Reframing }[] = Object.freeze(
  (
    [
      ['zoom-in', { scale: 1.1 }],
      ['zoom-out', { scale: 0.9 }],
      ['shift-x', { dx: 0.06 }],
      ['shift-y', { dy: 0.06 }],
      ['dark', { brightness: -0.1, gamma: 1.2 }],
      ['low-contrast', { contrast: 0.8 }],
      ['blur', { blurSigma: 0.7 }],
    ] as const
  ).map(([name, change]) => Object.freeze({ name, reframing: Object.freeze({ ...IDENTITY_REFRAMING, ...change }) })),
);
