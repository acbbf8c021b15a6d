import test from 'ava';
import { Matrix, solve } from 'ml-matrix';
import { ConditionalFaces, type FacePrior, type Faces, fitFacePrior } from '../../../src/shared/model';
import { Rng } from '../../../src/shared/util/rng';

// Faces of a known low-rank model: a mean, `rank` random patterns (drawn from `model`) with
// decreasing weights, and a little pixel noise, at side `size`, 0..255. Other `draw` seeds
// give other faces of the same model.
function lowRankFaces(count: number, size: number, rank: number, model: number, draw = model): Faces {
  const n = size * size;
  const shapes = new Rng(model);
  const patterns = Array.from({ length: rank }, () => Float64Array.from({ length: n }, () => shapes.uniform(-1, 1)));
  const rng = new Rng(1000 + draw);
  const pixels = new Uint8Array(count * n);
  for (let s = 0; s < count; s++) {
    const c = patterns.map((_, r) => rng.uniform(-30, 30) / (r + 1));
    for (let i = 0; i < n; i++) {
      const v = 128 + patterns.reduce((sum, p, r) => sum + c[r] * p[i], 0) + rng.uniform(-1, 1);
      pixels[s * n + i] = Math.max(0, Math.min(255, Math.round(v)));
    }
  }
  return { size, count, pixels };
}

// One face of a set pooled to the prior's side as conditionalFace takes it, with `hidden` blocks unseen.
function observe(faces: Faces, index: number, hidden: (i: number) => boolean): { truth: Float64Array; known: Float64Array; visible: Float64Array } {
  const n = faces.size * faces.size;
  const truth = Float64Array.from(faces.pixels.subarray(index * n, (index + 1) * n), (p) => p / 127.5 - 1);
  const visible = Float64Array.from({ length: n }, (_, i) => (hidden(i) ? 0 : 1));
  const known = truth.map((v, i) => v * visible[i]);
  return { truth, known, visible };
}

const rms = (a: Float64Array, b: ArrayLike<number>, where: (i: number) => boolean): number => {
  let [sum, count] = [0, 0];
  a.forEach((v, i) => {
    if (where(i)) [sum, count] = [sum + (v - b[i]) ** 2, count + 1];
  });
  return Math.sqrt(sum / count);
};

test('the prior of low-rank faces fills a hidden lower half close to the truth, far closer than the mean face', (t) => {
  const size = 12;
  const train = lowRankFaces(400, size, 4, 1);
  const unseen = lowRankFaces(20, size, 4, 1, 2);
  const prior = fitFacePrior(train, size, 4);
  const lower = (i: number) => i >= (size * size) / 2;
  let [fillError, meanError] = [0, 0];
  for (let s = 0; s < unseen.count; s++) {
    const { truth, known, visible } = observe(unseen, s, lower);
    const out = new Float64Array(size * size);
    new ConditionalFaces(prior).fill(known, visible, out);
    fillError += rms(out, truth, lower) / unseen.count;
    meanError += rms(prior.mean, truth, lower) / unseen.count;
  }
  t.log(`rms error in the hidden half: fill ${fillError.toFixed(4)}, mean face ${meanError.toFixed(4)}`);
  // The pixel noise is ±1 grey level (0.008 here); the patterns' weights are up to ±30 levels.
  t.true(fillError < 0.02, `fill error ${fillError}`);
  t.true(fillError < meanError / 5);
});

test('fitting gives orthonormal components, ridges that grow as the variance falls, and the same bits twice', (t) => {
  const faces = lowRankFaces(200, 8, 5, 2);
  const prior = fitFacePrior(faces, 8, 6);
  const k = prior.components;
  for (let p = 0; p < k; p++) {
    for (let q = 0; q < k; q++) {
      let dot = 0;
      for (let i = 0; i < 64; i++) dot += prior.basis[i * k + p] * prior.basis[i * k + q];
      t.true(Math.abs(dot - (p === q ? 1 : 0)) < 1e-9, `components ${p} and ${q}: dot ${dot}`);
    }
  }
  for (let p = 1; p < k; p++) t.true(prior.precision[p] >= prior.precision[p - 1]);
  t.true(prior.precision[0] > 0);
  const again = fitFacePrior(faces, 8, 6);
  t.deepEqual([again.mean, again.basis, again.precision], [prior.mean, prior.basis, prior.precision]);
});

test('pooling: a prior at half the side models the faces averaged over 2x2 blocks', (t) => {
  const faces = lowRankFaces(50, 8, 2, 3);
  const prior = fitFacePrior(faces, 4, 3);
  t.is(prior.mean.length, 16);
  let expected = 0;
  for (let s = 0; s < faces.count; s++) for (const [r, c] of [[0, 0], [0, 1], [1, 0], [1, 1]]) expected += faces.pixels[s * 64 + r * 8 + c] / 127.5 - 1;
  t.true(Math.abs(prior.mean[0] - expected / (4 * faces.count)) < 1e-12);
});

// The posterior mean written out with dense matrices: (Uᵀ W U + P) c = Uᵀ W (y - μ).
function denseFill(prior: FacePrior, known: Float64Array, visible: Float64Array): number[] {
  const n = prior.mean.length;
  const k = prior.components;
  const u = new Matrix(n, k);
  for (let i = 0; i < n; i++) for (let p = 0; p < k; p++) u.set(i, p, prior.basis[i * k + p]);
  const w = Matrix.diag(Array.from(visible));
  const a = u.transpose().mmul(w).mmul(u).add(Matrix.diag(Array.from(prior.precision)));
  const y = Matrix.columnVector(Array.from(known, (v, i) => v - visible[i] * prior.mean[i]));
  const c = solve(a, u.transpose().mmul(y));
  return Array.from(u.mmul(c).getColumn(0), (v, i) => v + prior.mean[i]);
}

test('the fill equals the dense posterior mean for small and large holes and blocks seen in part', (t) => {
  const faces = lowRankFaces(300, 8, 6, 4);
  const prior = fitFacePrior(faces, 8, 10);
  const rng = new Rng(9);
  // Few hidden blocks take the sum over the hidden ones, many take the sum over the visible ones.
  for (const hiddenShare of [0.1, 0.5, 0.9, 1]) {
    const { known, visible } = observe(faces, 7, () => rng.uniform(0, 1) < hiddenShare);
    for (let i = 0; i < 64; i += 5) if (visible[i] === 1) [visible[i], known[i]] = [0.25, known[i] * 0.25];
    const out = new Float64Array(64);
    new ConditionalFaces(prior).fill(known, visible, out);
    const dense = denseFill(prior, known, visible);
    const diff = Math.max(...Array.from(out, (v, i) => Math.abs(v - dense[i])));
    t.true(diff < 1e-9, `hidden share ${hiddenShare}: differs from the dense solve by ${diff}`);
  }
});

test('a face with nothing visible is filled with the mean face', (t) => {
  const faces = lowRankFaces(100, 8, 3, 5);
  const prior = fitFacePrior(faces, 8, 4);
  const out = new Float64Array(64);
  new ConditionalFaces(prior).fill(new Float64Array(64), new Float64Array(64), out);
  t.true(Math.max(...Array.from(out, (v, i) => Math.abs(v - prior.mean[i]))) < 1e-12);
});

test('a prior that cannot be fitted is refused with the reason', (t) => {
  const faces = lowRankFaces(10, 8, 2, 6);
  t.throws(() => fitFacePrior(faces, 8, 64), { message: /1 to 63 components, got 64/ });
  t.throws(() => fitFacePrior(faces, 8, 0), { message: /components, got 0/ });
  t.throws(() => fitFacePrior(faces, 3, 2), { message: /side 3 does not divide the faces' side 8/ });
  t.throws(() => fitFacePrior({ ...faces, count: 1 }, 8, 2), { message: /at least 2 faces, got 1/ });
});

test('more components than faces still give a finite fill', (t) => {
  const faces = lowRankFaces(5, 8, 2, 7);
  const prior = fitFacePrior(faces, 8, 20);
  const { known, visible } = observe(faces, 0, (i) => i < 32);
  const out = new Float64Array(64);
  new ConditionalFaces(prior).fill(known, visible, out);
  t.true(out.every(Number.isFinite));
});

test('a mask seen before is filled to the same bits as by a fresh solver, also after more masks than are kept', (t) => {
  const faces = lowRankFaces(100, 8, 3, 8);
  const prior = fitFacePrior(faces, 8, 5);
  const solver = new ConditionalFaces(prior);
  const rng = new Rng(3);
  const masks = Array.from({ length: 70 }, () => observe(faces, rng.int(0, 99), () => rng.uniform(0, 1) < 0.4));
  const fillWith = (filler: ConditionalFaces, m: (typeof masks)[number]): Float64Array => {
    const out = new Float64Array(64);
    filler.fill(m.known, m.visible, out);
    return out;
  };
  const first = masks.map((m) => fillWith(solver, m));
  // Again, in order: the first masks were dropped by then, the last are still kept.
  masks.forEach((m, i) => t.deepEqual(fillWith(solver, m), first[i]));
  masks.forEach((m, i) => t.deepEqual(fillWith(new ConditionalFaces(prior), m), first[i]));
  // Same mask, another face: the kept factor serves it.
  const other = { ...masks[69], known: masks[0].truth.map((v, i) => v * masks[69].visible[i]) };
  t.deepEqual(fillWith(solver, other), fillWith(new ConditionalFaces(prior), other));
});
