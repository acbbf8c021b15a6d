import test from 'ava';
import fc from 'fast-check';
import { AugmentSchema } from '../../../src/shared/config/schema';
import {
  type AugmentConfig,
  DEFAULT_AUGMENT,
  IDENTITY_REFRAMING,
  JITTERS,
  NO_AUGMENT,
  REFRAMING_DRAWS,
  type Reframing,
  applyReframing,
  augmentSample,
  drawReframing,
  reframeBox,
} from '../../../src/shared/data/augmentation';
import { mixSeed, Rng } from '../../../src/shared/util/rng';

const SIZE = 64;

function image(size: number, shade: (x: number, y: number) => number): Uint8Array {
  const px = new Uint8Array(size * size);
  for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) px[y * size + x] = Math.round(Math.min(255, Math.max(0, shade(x, y))));
  return px;
}

function randomImage(size: number, seed: number): Uint8Array {
  const rng = new Rng(seed);
  return image(size, () => rng.int(0, 255));
}

// A smooth face-like pattern: a bright ellipse on a darker, graded background.
const face = image(SIZE, (x, y) => 60 + x + (((x - 31.5) / 20) ** 2 + ((y - 30) / 26) ** 2 < 1 ? 120 : 0));

const reframe = (r: Partial<Reframing>): Reframing => ({ ...IDENTITY_REFRAMING, ...r });
const apply = (px: Uint8Array, r: Partial<Reframing>, size = SIZE) => applyReframing(px, size, reframe(r), new Rng(7));

function mean(px: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < px.length; i++) s += px[i];
  return s / px.length;
}

function std(px: ArrayLike<number>): number {
  const m = mean(px);
  let s = 0;
  for (let i = 0; i < px.length; i++) s += (px[i] - m) ** 2;
  return Math.sqrt(s / px.length);
}

function gradientEnergy(px: Uint8Array, size: number): number {
  let e = 0;
  for (let y = 0; y < size - 1; y++) {
    for (let x = 0; x < size - 1; x++) e += (px[y * size + x + 1] - px[y * size + x]) ** 2 + (px[(y + 1) * size + x] - px[y * size + x]) ** 2;
  }
  return e;
}

const sameBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((v, i) => v === b[i]);

test('the identity reframing returns a new image with the same bytes', (t) => {
  const px = randomImage(SIZE, 1);
  const out = applyReframing(px, SIZE, IDENTITY_REFRAMING, new Rng(1));
  t.not(out, px);
  t.deepEqual(out, px);
});

test('NO_AUGMENT returns the input itself, and draws the identity', (t) => {
  const px = randomImage(SIZE, 2);
  t.deepEqual(augmentSample(px, SIZE, NO_AUGMENT, 1, 2, 3), { pixels: px, reframing: IDENTITY_REFRAMING });
  t.is(augmentSample(px, SIZE, { ...NO_AUGMENT }, 1, 2, 3).pixels, px);
  t.deepEqual(drawReframing(NO_AUGMENT, new Rng(5)), IDENTITY_REFRAMING);
});

test('the same (seed, sample, epoch) gives the same bytes; another sample, epoch or seed gives another draw', (t) => {
  const px = face;
  const augment = (image: Uint8Array, seed: number, sample: number, epoch: number) => augmentSample(image, SIZE, DEFAULT_AUGMENT, seed, sample, epoch).pixels;
  const ref = augment(px, 42, 10, 3);
  t.deepEqual(augment(px.slice(), 42, 10, 3), ref);
  const others = [
    ...Array.from({ length: 8 }, (_, s) => augment(px, 42, 11 + s, 3)),
    ...Array.from({ length: 8 }, (_, e) => augment(px, 42, 10, 4 + e)),
    augment(px, 43, 10, 3),
  ];
  for (const other of others) t.false(sameBytes(other, ref));
  t.is(new Set(others.map((o) => o.join(','))).size, others.length);
});

test('augmentSample draws from the sample\'s own generator, then continues it for the noise', (t) => {
  const rng = new Rng(mixSeed(42, 10, 3, 0xa06));
  const reframing = drawReframing(DEFAULT_AUGMENT, rng);
  const expected = applyReframing(face, SIZE, reframing, rng);
  t.deepEqual(augmentSample(face, SIZE, DEFAULT_AUGMENT, 42, 10, 3), { pixels: expected, reframing });
});

test('drawReframing consumes the same number of draws whatever the config, so turning one field off leaves the others', (t) => {
  const configs: AugmentConfig[] = [NO_AUGMENT, DEFAULT_AUGMENT, { ...DEFAULT_AUGMENT, flip: 0, blur: 1 }];
  for (const config of configs) {
    const rng = new Rng(99);
    drawReframing(config, rng);
    const fresh = new Rng(99);
    for (let i = 0; i < REFRAMING_DRAWS; i++) fresh.next();
    t.is(rng.next(), fresh.next());
  }
  const all = drawReframing(DEFAULT_AUGMENT, new Rng(3));
  const noFlip = drawReframing({ ...DEFAULT_AUGMENT, flip: 0 }, new Rng(3));
  t.deepEqual({ ...noFlip, flip: all.flip }, all);
});

test('mirroring twice gives back the original, and once mirrors each row exactly', (t) => {
  const px = randomImage(SIZE, 3);
  const once = apply(px, { flip: true });
  for (let y = 0; y < SIZE; y++) for (let x = 0; x < SIZE; x++) t.is(once[y * SIZE + x], px[y * SIZE + SIZE - 1 - x]);
  t.deepEqual(apply(once, { flip: true }), px);
});

test('a shift by whole pixels moves the pattern by that many pixels, and repeats the edge outside', (t) => {
  const px = randomImage(SIZE, 4);
  for (const k of [1, 3, 6]) {
    const right = apply(px, { dx: k / SIZE });
    const down = apply(px, { dy: k / SIZE });
    for (let y = 0; y < SIZE; y++) {
      for (let x = 0; x < SIZE; x++) {
        t.is(right[y * SIZE + x], px[y * SIZE + Math.max(0, x - k)], `dx ${k} at ${x},${y}`);
        t.is(down[y * SIZE + x], px[Math.max(0, y - k) * SIZE + x], `dy ${k} at ${x},${y}`);
      }
    }
  }
});

test('zooming keeps the centre pixel, and a zoom above 1 enlarges a centred disk', (t) => {
  const odd = 33;
  const pattern = randomImage(odd, 5);
  for (const scale of [0.8, 0.9, 1.1, 1.3]) t.is(apply(pattern, { scale }, odd)[16 * odd + 16], pattern[16 * odd + 16]);

  const disk = image(SIZE, (x, y) => ((x - 31.5) ** 2 + (y - 31.5) ** 2 < 12 ** 2 ? 255 : 0));
  const area = (px: Uint8Array) => px.filter((v) => v >= 128).length;
  const bigger = area(apply(disk, { scale: 1.2 }));
  const smaller = area(apply(disk, { scale: 0.8 }));
  t.true(Math.abs(bigger / area(disk) - 1.44) < 0.08, `area ratio ${bigger / area(disk)}`);
  t.true(Math.abs(smaller / area(disk) - 0.64) < 0.08, `area ratio ${smaller / area(disk)}`);
});

test('outside the image reads the nearest edge pixel, never a black border', (t) => {
  const grey = new Uint8Array(SIZE * SIZE).fill(200);
  for (const r of [{ scale: 0.7 }, { dx: 0.2, dy: -0.2 }, { scale: 0.8, dx: -0.1, flip: true }]) t.deepEqual(apply(grey, r), grey);
  const ramp = image(SIZE, (x) => 4 * x);
  const out = apply(ramp, { scale: 0.5 });
  for (let y = 0; y < SIZE; y++) {
    t.is(out[y * SIZE], ramp[0]);
    t.is(out[y * SIZE + SIZE - 1], ramp[SIZE - 1]);
  }
});

test('exposure: brightness raises the mean, low contrast lowers the spread, gamma above 1 darkens mid-greys', (t) => {
  t.true(mean(apply(face, { brightness: 0.1 })) > mean(face) + 20);
  t.true(mean(apply(face, { brightness: -0.1 })) < mean(face) - 20);
  const flat = apply(face, { contrast: 0.8 });
  t.true(Math.abs(std(flat) / std(face) - 0.8) < 0.02, `std ratio ${std(flat) / std(face)}`);
  t.true(Math.abs(mean(flat) - mean(face)) < 1, 'contrast pivots on the mean');
  const grey = new Uint8Array(SIZE * SIZE).fill(128);
  t.true(Math.abs(apply(grey, { gamma: 1.2 })[0] - 255 * (128 / 255) ** 1.2) <= 0.5 + 1e-3);
  t.true(apply(grey, { gamma: 0.8 })[0] > 128);
});

test('blur lowers the gradient energy, the more the wider, and keeps a flat image flat', (t) => {
  const px = randomImage(SIZE, 6);
  let previous = gradientEnergy(px, SIZE);
  for (const sigma of [0.3, 0.5, 0.7, 1]) {
    const energy = gradientEnergy(apply(px, { blurSigma: sigma }), SIZE);
    t.true(energy < previous, `sigma ${sigma}: ${energy} not below ${previous}`);
    previous = energy;
  }
  t.true(previous < 0.1 * gradientEnergy(px, SIZE));
  const grey = new Uint8Array(SIZE * SIZE).fill(90);
  t.deepEqual(apply(grey, { blurSigma: 1 }), grey);
});

test('noise raises the spread of a flat image by about its std', (t) => {
  const grey = new Uint8Array(SIZE * SIZE).fill(128);
  for (const noiseStd of [0.02, 0.05]) {
    const noisy = apply(grey, { noiseStd });
    const expected = noiseStd * 255;
    t.true(Math.abs(std(noisy) - expected) < 0.06 * expected, `std ${std(noisy)} for ${expected}`);
    t.true(Math.abs(mean(noisy) - 128) < 0.5);
  }
});

test('draws stay within the configured bounds', (t) => {
  const bound = (max: number) => fc.double({ min: 0, max, noNaN: true });
  const config = fc.record({ scale: bound(0.5), shift: bound(0.5), flip: bound(1), brightness: bound(1), contrast: bound(0.9), gamma: bound(1), blur: bound(1), noise: bound(0.5) });
  fc.assert(
    fc.property(config, fc.integer({ min: 0, max: 2 ** 31 - 1 }), (c, seed) => {
      const r = drawReframing(c, new Rng(seed));
      // 1 + x rounds to the nearest double, so a factor's change is only as exact as 1's ulp.
      const eps = 1e-12;
      return (
        Math.abs(r.scale - 1) <= c.scale + eps &&
        Math.abs(r.dx) <= c.shift &&
        Math.abs(r.dy) <= c.shift &&
        (c.flip > 0 || !r.flip) &&
        Math.abs(r.brightness) <= c.brightness &&
        Math.abs(r.contrast - 1) <= c.contrast + eps &&
        Math.abs(Math.log(r.gamma)) <= c.gamma + eps &&
        (r.blurSigma === 0 || (c.blur > 0 && r.blurSigma >= 0.3 && r.blurSigma <= 1)) &&
        r.noiseStd >= 0 &&
        r.noiseStd <= c.noise
      );
    }),
    { numRuns: 1_000 },
  );
  t.true(AugmentSchema.safeParse(DEFAULT_AUGMENT).success);
  t.false(AugmentSchema.safeParse({ ...DEFAULT_AUGMENT, contrast: 1 }).success);
});

test('over many samples, flips and blurs come at their configured rates', (t) => {
  let flips = 0;
  let blurs = 0;
  const n = 4_000;
  for (let i = 0; i < n; i++) {
    const r = drawReframing(DEFAULT_AUGMENT, new Rng(i * 7919));
    if (r.flip) flips++;
    if (r.blurSigma > 0) blurs++;
  }
  t.true(Math.abs(flips / n - 0.5) < 0.03, `flip rate ${flips / n}`);
  t.true(Math.abs(blurs / n - 0.2) < 0.03, `blur rate ${blurs / n}`);
});

test('every jitter has a short kebab-case name, applies to a 64x64 face and changes it, always the same way', (t) => {
  t.is(new Set(JITTERS.map((j) => j.name)).size, JITTERS.length);
  for (const { name, reframing } of JITTERS) {
    t.regex(name, /^[a-z]+(-[a-z]+)*$/);
    t.is(reframing.noiseStd, 0, name);
    const out = applyReframing(face, SIZE, reframing, new Rng(1));
    t.is(out.length, SIZE * SIZE);
    t.false(sameBytes(out, face), `${name} changes nothing`);
    t.deepEqual(applyReframing(face, SIZE, reframing, new Rng(2)), out, `${name} depends on the generator`);
  }
});

test('reframeBox moves a box with the pixels it covers: a dark box in the image lands where reframeBox says', (t) => {
  const box = { top: 0.1875, bottom: 0.390625, left: 0.15625, right: 0.84375 };
  const inBox = (b: typeof box, x: number, y: number) => y >= b.top * SIZE && y < b.bottom * SIZE && x >= b.left * SIZE && x < b.right * SIZE;
  const marked = image(SIZE, (x, y) => (inBox(box, x + 0.5, y + 0.5) ? 20 : 220));
  const frames: Reframing[] = [IDENTITY_REFRAMING, ...JITTERS.map((j) => j.reframing), { ...IDENTITY_REFRAMING, scale: 0.9, dx: -0.08, dy: 0.05, flip: true }];
  for (const r of frames) {
    const moved = reframeBox(box, r, SIZE);
    const out = applyReframing(marked, SIZE, { ...r, brightness: 0, contrast: 1, gamma: 1, blurSigma: 0, noiseStd: 0 }, new Rng(1));
    // Pixels well inside the moved box are dark, pixels well outside it bright.
    for (let y = 0; y < SIZE; y++) {
      for (let x = 0; x < SIZE; x++) {
        const [cx, cy] = [x + 0.5, y + 0.5];
        const inside = inBox(moved, cx - 1, cy - 1) && inBox(moved, cx + 1, cy + 1);
        const outside = !inBox(moved, cx - 1, cy - 1) && !inBox(moved, cx + 1, cy + 1) && !inBox(moved, cx - 1, cy + 1) && !inBox(moved, cx + 1, cy - 1);
        if (inside) t.true(out[y * SIZE + x] < 60, `(${x}, ${y}) should be in the box after ${JSON.stringify(r)}`);
        if (outside) t.true(out[y * SIZE + x] > 180, `(${x}, ${y}) should be outside the box after ${JSON.stringify(r)}`);
      }
    }
  }
  t.deepEqual(reframeBox(box, IDENTITY_REFRAMING, SIZE), box);
  const gone = reframeBox(box, { ...IDENTITY_REFRAMING, dy: -0.5 }, SIZE);
  t.true(gone.bottom <= gone.top, 'a box shifted out of the frame is empty');
});
