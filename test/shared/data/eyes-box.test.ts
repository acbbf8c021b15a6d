import test from 'ava';
import type { FaceSet } from '../../../src/shared/data/api';
import { measureEyesBox } from '../../../src/shared/data/eyes-box';
import { generatedFaceSet } from '../../../src/shared/data/generated-face-set';
import { SYNTHETIC_EYE_LINE } from '../../../src/shared/data/synthetic-face';
import { drawnFaces } from '../eval/_faces';

const SIZE = 64;

const generatedFaces = (count: number): FaceSet => generatedFaceSet(drawnFaces(count, 7, SIZE), count, SIZE, 'face');

test('on the generated faces the box covers both eyes, whose line and spacing the generator sets, and not the hair or the nose tip', (t) => {
  const box = measureEyesBox(generatedFaces(300));
  if (!box) return t.fail('no eyes found on generated faces');
  t.log(box);
  // The generator draws the eye line at SYNTHETIC_EYE_LINE ± 0.02, eyes 0.12-0.16 either side of a
  // head centre within 0.03 of the middle, each up to 0.07 wide and 0.04 high.
  t.true(box.top <= SYNTHETIC_EYE_LINE - 0.03 && box.bottom >= SYNTHETIC_EYE_LINE + 0.03, 'the eye line is inside');
  t.true(box.left <= 0.5 - 0.14 - 0.05 && box.right >= 0.5 + 0.14 + 0.05, 'both eyes are inside');
  // The nose tip is at least 0.14 below the eye line; the hair cap is above 0.3.
  t.true(box.bottom < SYNTHETIC_EYE_LINE + 0.12, 'the nose tip is outside');
  t.true(box.top > 0.25, 'the hair is outside');
});

test('images with no eyes (flat, or a dark band across the whole width) give no box', (t) => {
  const flat = generatedFaceSet(new Uint8Array(4 * SIZE * SIZE).fill(128), 4, SIZE, 'flat');
  t.is(measureEyesBox(flat), null);
  const band = new Uint8Array(4 * SIZE * SIZE).fill(200);
  for (let n = 0; n < 4; n++) band.fill(20, n * SIZE * SIZE + 20 * SIZE, n * SIZE * SIZE + 26 * SIZE);
  t.is(measureEyesBox(generatedFaceSet(band, 4, SIZE, 'band')), null);
  t.is(measureEyesBox(generatedFaceSet(new Uint8Array(0), 0, SIZE, 'none')), null);
});
