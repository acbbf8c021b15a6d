import test from 'ava';
import { alphaOf, betaAt, betaOfLink, fitBeta, linkForEfficiency, projectHierarchicalStep, projectStep, ringSeconds, stepRingSeconds } from '../../bench/_ring-model';

const close = (a: number, b: number) => Math.abs(a - b) <= 1e-12 * Math.max(1, Math.abs(a), Math.abs(b));

test('a ring of N ranks pays 2(N-1) hops and moves 2(N-1)/N of the buffer through each link', (t) => {
  const m = { alpha: 1e-3, beta: betaOfLink(1) };
  t.is(ringSeconds(1, 1e6, m), 0);
  t.true(close(ringSeconds(2, 1e6, m), 2e-3 + 1e6 * 8e-9));
  t.true(close(ringSeconds(8, 8e6, m), 14e-3 + (14 / 8) * 8e6 * 8e-9));
  t.true(close(stepRingSeconds(4, [1e6, 3e6], m), ringSeconds(4, 1e6, m) + ringSeconds(4, 3e6, m)));
});

test('alpha and beta fitted to what the model predicts are the model\'s own', (t) => {
  const m = { alpha: 0.4e-3, beta: 1.3 * betaOfLink(1) };
  const bytes = [2_241_988, 4_075_908];
  t.true(close(alphaOf(2, ringSeconds(2, 4, { ...m, beta: 0 })), m.alpha));
  t.true(close(fitBeta(2, bytes, stepRingSeconds(2, bytes, m), m.alpha), m.beta));
  t.true(close(fitBeta(8, bytes, stepRingSeconds(8, bytes, m), m.alpha), m.beta));
  t.throws(() => alphaOf(1, 1), { instanceOf: RangeError });
  t.throws(() => fitBeta(1, bytes, 1, 0), { instanceOf: RangeError });
});

test('a fitted beta carries to a faster link with its cost above the wire kept', (t) => {
  const software = 0.5e-9;
  t.true(close(betaAt(10, betaOfLink(1) + software, 1), betaOfLink(10) + software));
  t.true(close(betaAt(25, betaOfLink(1) * 0.9, 1), betaOfLink(25)), 'a fit below the wire carries no negative cost');
});

test('step efficiency is compute over compute plus the ring; a hierarchy runs the ring over hosts only', (t) => {
  const m = { alpha: 1e-4, beta: betaOfLink(10) };
  const bytes = [1e6, 2e6];
  const flat = projectStep(64, 0.02, bytes, m);
  t.true(close(flat.stepSeconds, 0.02 + stepRingSeconds(64, bytes, m)));
  t.true(close(flat.efficiency, 0.02 / flat.stepSeconds));
  t.is(projectStep(1, 0.02, bytes, m).efficiency, 1);
  const hier = projectHierarchicalStep(64, 8, 0.02, bytes, m);
  t.true(close(hier.ringSeconds, stepRingSeconds(8, bytes, m)));
  t.true(hier.efficiency > flat.efficiency);
  t.is(projectHierarchicalStep(8, 8, 0.02, bytes, m).efficiency, 1);
});

test('the link a target step efficiency needs gives that efficiency, and none is fast enough when α alone is too slow', (t) => {
  const bytes = [2e6, 4e6];
  const gbit = linkForEfficiency(8, 0.2, bytes, 0.5e-3, 0.9);
  t.truthy(gbit);
  t.true(close(projectStep(8, 0.2, bytes, { alpha: 0.5e-3, beta: betaOfLink(gbit ?? 0) }).efficiency, 0.9));
  t.is(linkForEfficiency(64, 0.02, bytes, 0.5e-3, 0.9), null);
});
