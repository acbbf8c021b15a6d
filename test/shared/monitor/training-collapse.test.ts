import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import test from 'ava';
import type { RunConfig } from '../../../src/shared/config';
import type { CollapseVerdict } from '../../../src/shared/monitor/collapse-detector';
import { ValidationProbe } from '../../../src/shared/monitor/validation-probe';
import { trainOnFaceSet } from '../../../src/shared/train/train-loop';
import { syntheticFaces, tinyConfig } from '../train/_tiny';

test.before(async () => {
  await tf.setBackend('cpu');
});

const STEPS = 40;
const train = syntheticFaces(64, 16, 1);
const val = syntheticFaces(16, 16, 2);

// The slides' failure, quickly: a generator with a high learning rate against a discriminator
// that barely learns (and has no minibatch features to see that every fake is alike) finds one
// hole D likes and paints it for every input. Only loss.mode differs between the two runs.
const config = (mode: RunConfig['loss']['mode']): RunConfig =>
  tinyConfig({
    loss: { mode, noisyLabels: false },
    generator: { dropout: 0 },
    discriminator: { minibatch: 'none', dropout: 0 },
    optimizer: { lrG: 0.1, lrD: 1e-5 },
    train: { steps: STEPS, seed: 3, checkpointEvery: 0, logEvery: 1000 },
    monitor: { probeEvery: 5, probeSize: 16, collapseWindow: 20, diversityThreshold: 0.2, collapseAction: 'warn' },
  });

async function watch(cfg: RunConfig): Promise<{ verdicts: CollapseVerdict[]; ratios: number[] }> {
  const verdicts: CollapseVerdict[] = [];
  const ratios: number[] = [];
  await trainOnFaceSet({
    config: cfg,
    set: train,
    manifestHash: 'm',
    outDir: mkdtempSync(join(tmpdir(), 'facefill-collapse-')),
    resume: false,
    monitor: { probe: new ValidationProbe(val, cfg), onProbe: (r) => void ratios.push(r.diversityRatio), onVerdict: (v) => void verdicts.push(v) },
  });
  return { verdicts, ratios };
}
const show = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(' ');

test('a GAN-only run that collapses is caught within 40 steps, by its output diversity', async (t) => {
  const { verdicts, ratios } = await watch(config('gan'));
  t.is(verdicts.length, STEPS, 'a verdict every step');
  t.is(ratios.length, STEPS / 5, 'a probe every probeEvery steps');
  const first = verdicts.findIndex((v) => v.event) + 1;
  t.log(`diversity at each probe: ${show(ratios)}; collapse at step ${first}: ${verdicts[first - 1]?.reason}`);
  t.true(first > 0 && first <= 40, `first collapse at step ${first}`);
  t.regex(verdicts[first - 1].reason, /output diversity/);
  t.true(ratios.at(-1)! < 0.05, 'the generator ends up painting one hole for every face');
});

test('the same run with L2 added stays quiet', async (t) => {
  const { verdicts, ratios } = await watch(config('gan+l2'));
  t.log(`diversity at each probe: ${show(ratios)}; highest score ${Math.max(...verdicts.map((v) => v.score)).toFixed(2)}`);
  t.is(verdicts.length, STEPS);
  t.true(verdicts.every((v) => !v.collapsed));
  t.true(Math.min(...ratios.slice(1)) > 0.4, 'after the first probe, its holes stay varied');
});
