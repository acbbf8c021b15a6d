import test from 'ava';
import type { RunConfig } from '../../../src/shared/config';
import type { CollapseReading } from '../../../src/shared/metrics/collapse-metrics';
import { type CollapseSample, CollapseDetector, type CollapseVerdict, collapseSample } from '../../../src/shared/monitor/collapse-detector';
import { Rng } from '../../../src/shared/util/rng';

const MONITOR: RunConfig['monitor'] = {
  probeEvery: 5,
  probeSize: 16,
  collapseWindow: 20,
  diversityThreshold: 0.2,
  adversarialFloor: 0.05,
  collapseAction: 'warn',
  rollbackLrFactor: 0.5,
  maxRollbacks: 5,
};

type Series = (step: number) => Omit<CollapseSample, 'step'>;

// Feeds steps 1..steps and returns every verdict (index i = step i + 1).
function run(series: Series, steps: number, detector = new CollapseDetector(MONITOR)): CollapseVerdict[] {
  return Array.from({ length: steps }, (_, i) => detector.update({ step: i + 1, ...series(i + 1) }));
}
const events = (verdicts: CollapseVerdict[]): number[] => verdicts.flatMap((v, i) => (v.event ? [i + 1] : []));
const noise = (seed: number) => {
  const rng = new Rng(seed);
  return (scale: number) => rng.uniform(-scale, scale);
};

// A GAN+L2 run: G's adversarial loss and D's loss oscillate around ~0.7, probes see varied holes.
const healthy = (seed = 1): Series => {
  const jitter = noise(seed);
  return (step) => ({
    gAdversarialLoss: 0.9 + 0.3 * Math.sin(step / 4) + jitter(0.15),
    dLoss: 0.6 + 0.05 * Math.sin(step / 6) + jitter(0.05),
    diversityRatio: step % 5 === 0 ? 0.7 + jitter(0.2) : null,
  });
};

// The seed research's collapse: from step 40, G's adversarial loss decays to ~0 while D's loss climbs.
const lossCollapse = (seed = 2): Series => {
  const jitter = noise(seed);
  const before = healthy(seed);
  return (step) => {
    if (step <= 40) return { ...before(step), diversityRatio: null };
    const k = step - 40;
    return { gAdversarialLoss: 0.9 * Math.exp(-k / 6) + Math.abs(jitter(0.01)), dLoss: 0.6 + 0.02 * k + jitter(0.04), diversityRatio: null };
  };
};

test('a healthy GAN+L2 run is never judged collapsed, and scores low', (t) => {
  for (const seed of [1, 2, 3]) {
    const verdicts = run(healthy(seed), 400);
    t.deepEqual(events(verdicts), [], `seed ${seed}`);
    t.true(verdicts.every((v) => !v.collapsed && v.reason === '' && v.score < 0.5), `seed ${seed}`);
  }
});

test("the seed's signal: G's adversarial loss going to zero while D's loss rises fires once, naming both", (t) => {
  const verdicts = run(lossCollapse(), 120);
  const fired = events(verdicts);
  t.log(`fired at ${fired.join(', ')}: ${verdicts[fired[0] - 1].reason}`);
  t.is(fired.length, 1);
  t.true(fired[0] > 40 && fired[0] <= 70, `fired at step ${fired[0]}`);
  const at = verdicts[fired[0] - 1];
  t.regex(at.reason, /generator adversarial loss [\d.e-]+ over the last 20 steps is under the floor 0\.05 while the discriminator loss slope \+/);
  t.true(at.score > 0.5 && at.score <= 1);
  t.true(verdicts.slice(fired[0] - 1).every((v) => v.collapsed), 'stays collapsed while G keeps fooling D');
});

test('G loss near zero without D rising, or D rising with G loss high, is not a collapse', (t) => {
  const jitter = noise(4);
  const gLowDFlat = run(() => ({ gAdversarialLoss: 0.01 + Math.abs(jitter(0.005)), dLoss: 0.7 + jitter(0.05), diversityRatio: null }), 100);
  t.deepEqual(events(gLowDFlat), []);
  t.true(gLowDFlat[99].score > 0.5, 'the score still says G is fooling D');
  const gHighDRising = run((s) => ({ gAdversarialLoss: 0.8 + jitter(0.1), dLoss: 0.5 + 0.01 * s, diversityRatio: null }), 100);
  t.deepEqual(events(gHighDRising), []);
});

test('the loss signal needs a full window of loss readings', (t) => {
  const collapsing: Series = (s) => ({ gAdversarialLoss: 0.01, dLoss: 0.5 + 0.01 * s, diversityRatio: null });
  const verdicts = run(collapsing, 25);
  t.deepEqual(events(verdicts), [20]);
  t.false(verdicts[18].collapsed, 'step 19 of a 20-step window');
  // A step without D's loss breaks the window: it must fill again.
  const gap = run((s) => ({ ...collapsing(s), dLoss: s === 10 ? null : collapsing(s).dLoss }), 35);
  t.deepEqual(events(gap), [30]);
});

test('a downward trend ending under the floor fires, though the window mean is above it', (t) => {
  // G's loss falls linearly 0.38 -> 0.0; mean 0.19 (above the floor), last quarter 0.04.
  const verdicts = run((s) => ({ gAdversarialLoss: Math.max(0, 0.4 - 0.02 * s), dLoss: 0.5 + 0.01 * s, diversityRatio: null }), 20);
  t.deepEqual(events(verdicts), [20]);
});

test('diversity: one low probe is not enough, two consecutive are; recovery needs 1.5x the threshold', (t) => {
  const probes: Record<number, number> = { 20: 0.9, 25: 0.1, 30: 0.8, 35: 0.1, 40: 0.05, 45: 0.25, 50: 0.28, 55: 0.35, 60: 0.1, 65: 0.15 };
  const verdicts = run((s) => ({ gAdversarialLoss: 1, dLoss: 0.6, diversityRatio: probes[s] ?? null }), 70);
  t.deepEqual(events(verdicts), [40, 65]);
  const at = (s: number) => verdicts[s - 1];
  t.false(at(25).collapsed, 'a single low probe');
  t.regex(at(40).reason, /output diversity 0\.1, 0\.05 of the real holes' on 2 consecutive probes is under the threshold 0\.2/);
  t.true(at(44).collapsed && at(44).diversityRatio === 0.05, 'between probes the verdict and the last ratio stand');
  t.true(at(45).collapsed && at(50).collapsed, '0.25 and 0.28 are under 1.5 x 0.2: still collapsed');
  t.regex(at(50).reason, /still under 1\.5x the threshold 0\.2/);
  t.false(at(55).collapsed, '0.35 clears 0.3');
  t.is(at(55).reason, '');
  t.true(at(60).score > 0.5 && !at(60).collapsed);
  t.is(at(40).score, 1 - 0.05 / 0.4);
});

test('the loss signal recovers once G loss is back above 1.5x the floor', (t) => {
  const g = (s: number) => (s <= 30 ? 0.01 : s <= 60 ? 0.065 : 0.2);
  const verdicts = run((s) => ({ gAdversarialLoss: g(s), dLoss: 0.5 + 0.01 * s, diversityRatio: null }), 100);
  t.deepEqual(events(verdicts), [20]);
  t.true(verdicts[59].collapsed, 'a window mean between the floor and 1.5x keeps it collapsed');
  const recovered = verdicts.findIndex((v, i) => i >= 20 && !v.collapsed) + 1;
  t.log(`recovered at step ${recovered}`);
  t.true(recovered > 60 && recovered <= 80, `recovered at ${recovered}`);
});

test('nothing fires before a full window of samples: an untrained generator paints one mean hole too', (t) => {
  const verdicts = run((s) => ({ gAdversarialLoss: 1, dLoss: 0.6, diversityRatio: s % 5 === 0 ? 0.01 : null }), 30);
  t.deepEqual(events(verdicts), [20]);
});

test('reset forgets the history: the window must fill again and the last ratio is gone', (t) => {
  const detector = new CollapseDetector(MONITOR);
  const probes = (s: number) => ({ gAdversarialLoss: 1, dLoss: 0.6, diversityRatio: s % 5 === 0 ? 0.01 : null });
  t.deepEqual(events(run(probes, 20, detector)), [20]);
  detector.reset();
  const after = detector.update({ step: 21, gAdversarialLoss: 1, dLoss: 0.6, diversityRatio: null });
  t.deepEqual(after, { collapsed: false, score: 0, reason: '', event: false, diversityRatio: null });
  // With that update, the 19th of these completes the new window.
  t.deepEqual(events(run(probes, 20, detector)), [19]);
});

test('a threshold of 0 turns its signal off', (t) => {
  const detector = new CollapseDetector({ ...MONITOR, diversityThreshold: 0, adversarialFloor: 0 });
  const verdicts = run((s) => ({ gAdversarialLoss: 0, dLoss: 0.5 + 0.01 * s, diversityRatio: s % 5 === 0 ? 0 : null }), 40, detector);
  t.true(verdicts.every((v) => !v.collapsed && v.score === 0));
});

test('a verdict is a collapse metrics reading', (t) => {
  const reading: CollapseReading = new CollapseDetector(MONITOR).update({ step: 1, gAdversarialLoss: 1, dLoss: 1, diversityRatio: 0.5 });
  t.is(reading.diversityRatio, 0.5);
});

test('collapseSample measures G loss from its floor: 0 for reverse, the real label entropy for unique, none for saturating', (t) => {
  const step = { gAdversarialLoss: 0.5, dLossReal: 0.4, dLossFake: 0.8 };
  t.deepEqual(collapseSample(step, { generatorLoss: 'reverse', softLabels: true }, 7, 0.3), { step: 7, gAdversarialLoss: 0.5, dLoss: 0.6000000000000001, diversityRatio: 0.3 });
  const entropy09 = -(0.9 * Math.log(0.9) + 0.1 * Math.log(0.1));
  t.true(Math.abs((collapseSample(step, { generatorLoss: 'unique', softLabels: true }, 1).gAdversarialLoss ?? NaN) - (0.5 - entropy09)) < 1e-12);
  t.is(collapseSample(step, { generatorLoss: 'unique', softLabels: false }, 1).gAdversarialLoss, 0.5);
  t.is(collapseSample(step, { generatorLoss: 'saturating', softLabels: false }, 1).gAdversarialLoss, null);
  const l2Only = collapseSample({ gAdversarialLoss: null, dLossReal: null, dLossFake: null }, { generatorLoss: 'reverse', softLabels: true }, 1);
  t.deepEqual([l2Only.gAdversarialLoss, l2Only.dLoss, l2Only.diversityRatio], [null, null, null]);
});
