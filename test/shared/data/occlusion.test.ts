import test from 'ava';
import { OCCLUSION_KINDS, type OcclusionKind } from '../../../src/shared/config';
import { UTKFACE_EYES_BOX } from '../../../src/shared/data/eyes-box';
import { drawMask, holeFraction, occlusionMask, parseOcclusionKind } from '../../../src/shared/data/occlusion';
import { Rng } from '../../../src/shared/util/rng';

const SIZES = [16, 17, 31, 64, 100, 128];
const EYES = UTKFACE_EYES_BOX;
const at = (mask: Uint8Array, size: number, r: number, c: number) => mask[r * size + c];

test('masks are size*size, binary, never empty and never the whole image, for every kind and size', (t) => {
  for (const kind of OCCLUSION_KINDS) {
    for (const size of SIZES) {
      for (let i = 0; i < 20; i++) {
        const mask = drawMask(kind, size, EYES, new Rng(i));
        t.is(mask.length, size * size);
        t.true(mask.every((v) => v === 0 || v === 1), `${kind} ${size} is not binary`);
        const f = holeFraction(mask);
        t.true(f > 0 && f < 1, `${kind} at ${size} covers ${f}`);
      }
    }
  }
});

test('half masks cover exactly their side', (t) => {
  const size = 64;
  const expect: Record<string, (r: number, c: number) => boolean> = {
    'half-left': (_r, c) => c < 32,
    'half-right': (_r, c) => c >= 32,
    'half-upper': (r) => r < 32,
    'half-lower': (r) => r >= 32,
  };
  for (const [kind, inHole] of Object.entries(expect)) {
    const mask = drawMask(kind as OcclusionKind, size, EYES, new Rng(1));
    for (let r = 0; r < size; r++) for (let c = 0; c < size; c++) t.is(at(mask, size, r, c), inHole(r, c) ? 1 : 0);
    t.is(holeFraction(mask), 0.5);
  }
});

test('half picks each of the four sides', (t) => {
  const seen = new Set<string>();
  for (let i = 0; i < 100; i++) seen.add(drawMask('half', 32, EYES, new Rng(i)).join(''));
  t.is(seen.size, 4);
});

test('the eyes mask is exactly the eyes box it is given, whatever the generator', (t) => {
  for (const eyes of [EYES, { top: 0.3, bottom: 0.5, left: 0.25, right: 0.75 }]) {
    const a = drawMask('eyes', 64, eyes, new Rng(1));
    t.deepEqual(a, drawMask('eyes', 64, eyes, new Rng(99)));
    const inBox = (r: number, c: number) => r >= Math.round(eyes.top * 64) && r < Math.round(eyes.bottom * 64) && c >= Math.round(eyes.left * 64) && c < Math.round(eyes.right * 64);
    for (let r = 0; r < 64; r++) for (let c = 0; c < 64; c++) t.is(at(a, 64, r, c), inBox(r, c) ? 1 : 0);
  }
});

test('unconstrained eye boxes vary but always cover the centre of the eyes box they are drawn around', (t) => {
  for (const eyes of [EYES, { top: 0.3, bottom: 0.5, left: 0.25, right: 0.75 }]) {
    const masks = Array.from({ length: 50 }, (_, i) => drawMask('eyes-unconstrained', 64, eyes, new Rng(i)));
    t.true(new Set(masks.map((m) => m.join(''))).size > 40);
    const [row, col] = [Math.floor(((eyes.top + eyes.bottom) / 2) * 64), Math.floor(((eyes.left + eyes.right) / 2) * 64)];
    for (const m of masks) t.is(at(m, 64, row, col), 1);
  }
});

test('random boxes and strokes stay within their size bounds', (t) => {
  for (let i = 0; i < 200; i++) {
    const box = holeFraction(drawMask('box', 64, EYES, new Rng(i)));
    t.true(box >= 0.01 && box <= 0.3, `box covers ${box}`);
    const strokes = holeFraction(drawMask('strokes', 64, EYES, new Rng(i)));
    t.true(strokes > 0 && strokes < 0.6, `strokes cover ${strokes}`);
  }
});

test('occlusionMask is deterministic in (seed, sample, epoch) and changes with each', (t) => {
  const mix = { box: 1, strokes: 1 };
  const a = occlusionMask(mix, 64, EYES, 7, 123, 2);
  t.deepEqual(occlusionMask(mix, 64, EYES, 7, 123, 2), a);
  t.notDeepEqual(occlusionMask(mix, 64, EYES, 7, 123, 3).mask, a.mask);
  t.notDeepEqual(occlusionMask(mix, 64, EYES, 7, 124, 2).mask, a.mask);
  t.notDeepEqual(occlusionMask(mix, 64, EYES, 8, 123, 2).mask, a.mask);
});

test('the mixture follows its weights and never draws a zero-weight kind', (t) => {
  const counts: Record<string, number> = {};
  const n = 4000;
  for (let i = 0; i < n; i++) {
    const { kind } = occlusionMask({ eyes: 3, box: 1, strokes: 0 }, 32, EYES, 1, i, 0);
    counts[kind] = (counts[kind] ?? 0) + 1;
  }
  t.deepEqual(Object.keys(counts).sort(), ['box', 'eyes']);
  const eyes = counts.eyes / n;
  t.true(Math.abs(eyes - 0.75) < 0.04, `eyes drawn ${eyes} of the time, expected 0.75`);
});

test('kind names and short aliases parse; unknown names do not', (t) => {
  t.is(parseOcclusionKind('eyes'), 'eyes');
  t.is(parseOcclusionKind('lower'), 'half-lower');
  t.is(parseOcclusionKind(' Right '), 'half-right');
  t.is(parseOcclusionKind('hat'), undefined);
});
