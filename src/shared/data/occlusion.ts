import { type DataConfig, type EyesBox, OCCLUSION_KINDS, type OcclusionKind } from '../config/schema';
import { mixSeed, Rng } from '../util/rng';

/**
 * Synthetic occlusion masks: `Uint8Array` of size*size, row-major, 1 = hole (unknown
 * pixel), 0 = known. Pure and deterministic: the same (seed, sample, epoch) always gives
 * the same mask, whichever process or rank draws it.
 */

/** A mask with the occlusion kind it was drawn as. */
export interface DrawnMask {
  kind: OcclusionKind;
  mask: Uint8Array;
}

const SIDES = ['half-left', 'half-right', 'half-upper', 'half-lower'] as const;

/**
 * Draws one mask of the given kind with the given generator; `eyes` is where the eyes sit in
 * these faces (the `eyes` mask is that box, `eyes-unconstrained` a box drawn around it).
 */
export function drawMask(kind: OcclusionKind, size: number, eyes: EyesBox, rng: Rng): Uint8Array {
  const mask = new Uint8Array(size * size);
  switch (kind) {
    case 'half':
      return drawMask(SIDES[rng.int(0, 3)], size, eyes, rng);
    case 'half-left':
      fillRect(mask, size, 0, 0, size, Math.floor(size / 2));
      break;
    case 'half-right':
      fillRect(mask, size, 0, size - Math.floor(size / 2), size, size);
      break;
    case 'half-upper':
      fillRect(mask, size, 0, 0, Math.floor(size / 2), size);
      break;
    case 'half-lower':
      fillRect(mask, size, size - Math.floor(size / 2), 0, size, size);
      break;
    case 'eyes':
      fillRect(mask, size, Math.round(eyes.top * size), Math.round(eyes.left * size), Math.round(eyes.bottom * size), Math.round(eyes.right * size));
      break;
    case 'eyes-unconstrained':
      drawEyesUnconstrained(mask, size, eyes, rng);
      break;
    case 'box':
      drawBox(mask, size, rng);
      break;
    case 'strokes':
      drawStrokes(mask, size, rng);
      break;
  }
  return mask;
}

/**
 * The mask of one training sample: the kind drawn from the weighted mixture, then its
 * shape, all seeded by (seed, sample, epoch) with `sample` the GLOBAL sample index, so
 * sharding a batch across ranks does not change any mask.
 */
export function occlusionMask(mix: DataConfig['occlusion'], size: number, eyes: EyesBox, seed: number, sample: number, epoch: number): DrawnMask {
  const kinds = OCCLUSION_KINDS.filter((k) => (mix[k] ?? 0) > 0);
  const rng = new Rng(mixSeed(seed, sample, epoch, 0x0cc1));
  const kind = kinds[rng.weighted(kinds.map((k) => mix[k] ?? 0))];
  return { kind, mask: drawMask(kind, size, eyes, rng) };
}

/** Fraction of pixels that are hole. */
export function holeFraction(mask: Uint8Array): number {
  let n = 0;
  for (const v of mask) n += v;
  return n / mask.length;
}

/** Short aliases accepted on the command line (`--masks eyes,lower,right`). */
const ALIASES: Readonly<Record<string, OcclusionKind>> = {
  left: 'half-left',
  right: 'half-right',
  upper: 'half-upper',
  lower: 'half-lower',
  top: 'half-upper',
  bottom: 'half-lower',
};

/** Resolves a mask kind name or alias; undefined when it names none. */
export function parseOcclusionKind(name: string): OcclusionKind | undefined {
  const n = name.trim().toLowerCase();
  return (OCCLUSION_KINDS as readonly string[]).includes(n) ? (n as OcclusionKind) : ALIASES[n];
}

/** Every name `parseOcclusionKind` accepts, for error messages and help. */
export const OCCLUSION_NAMES: readonly string[] = [...OCCLUSION_KINDS, ...Object.keys(ALIASES)];

// Rows [r0, r1) x columns [c0, c1), clipped to the image.
function fillRect(mask: Uint8Array, size: number, r0: number, c0: number, r1: number, c1: number): void {
  const top = clamp(r0, 0, size);
  const bottom = clamp(r1, 0, size);
  const left = clamp(c0, 0, size);
  const right = clamp(c1, 0, size);
  for (let r = top; r < bottom; r++) mask.fill(1, r * size + left, r * size + right);
}

// A box near the eyes box: its centre moved by up to a quarter of the box's height and an
// eighth of its width, its sides scaled by 0.55-1.45 (height) and 0.7-1.25 (width).
function drawEyesUnconstrained(mask: Uint8Array, size: number, eyes: EyesBox, rng: Rng): void {
  const height = eyes.bottom - eyes.top;
  const width = eyes.right - eyes.left;
  const cy = (eyes.top + eyes.bottom) / 2 + rng.uniform(-0.25, 0.25) * height;
  const cx = (eyes.left + eyes.right) / 2 + rng.uniform(-0.125, 0.125) * width;
  const h = rng.uniform(0.55, 1.45) * height;
  const w = rng.uniform(0.7, 1.25) * width;
  fillBox(mask, size, cy - h / 2, cx - w / 2, cy + h / 2, cx + w / 2);
}

function drawBox(mask: Uint8Array, size: number, rng: Rng): void {
  const h = rng.uniform(0.15, 0.5);
  const w = rng.uniform(0.15, 0.5);
  const top = rng.uniform(0, 1 - h);
  const left = rng.uniform(0, 1 - w);
  fillBox(mask, size, top, left, top + h, left + w);
}

// A box in fractions of the side, at least one pixel each way.
function fillBox(mask: Uint8Array, size: number, top: number, left: number, bottom: number, right: number): void {
  const r0 = Math.round(top * size);
  const c0 = Math.round(left * size);
  fillRect(mask, size, r0, c0, Math.max(r0 + 1, Math.round(bottom * size)), Math.max(c0 + 1, Math.round(right * size)));
}

// Free-form brush strokes: a few random walks with a round brush, as in free-form inpainting masks.
function drawStrokes(mask: Uint8Array, size: number, rng: Rng): void {
  const strokes = rng.int(1, 4);
  for (let s = 0; s < strokes; s++) {
    let y = rng.uniform(0.15, 0.85) * size;
    let x = rng.uniform(0.15, 0.85) * size;
    let angle = rng.uniform(0, 2 * Math.PI);
    const radius = Math.max(1, rng.uniform(0.03, 0.07) * size);
    const segments = rng.int(3, 8);
    for (let v = 0; v < segments; v++) {
      angle += rng.uniform(-1.2, 1.2);
      const length = rng.uniform(0.1, 0.25) * size;
      const steps = Math.ceil(length);
      for (let i = 0; i < steps; i++) {
        y = clamp(y + Math.sin(angle), 0, size - 1);
        x = clamp(x + Math.cos(angle), 0, size - 1);
        stamp(mask, size, y, x, radius);
      }
    }
  }
}

function stamp(mask: Uint8Array, size: number, cy: number, cx: number, radius: number): void {
  const r2 = radius * radius;
  for (let r = Math.max(0, Math.floor(cy - radius)); r <= Math.min(size - 1, Math.ceil(cy + radius)); r++) {
    for (let c = Math.max(0, Math.floor(cx - radius)); c <= Math.min(size - 1, Math.ceil(cx + radius)); c++) {
      if ((r - cy) ** 2 + (c - cx) ** 2 <= r2) mask[r * size + c] = 1;
    }
  }
}

const clamp = (v: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, v));
