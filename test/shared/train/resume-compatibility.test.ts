import test from 'ava';
import { compareForResume, describeChanges } from '../../../src/shared/train/resume-compatibility';
import { tinyConfig } from './_tiny';

test('identical configs, or ones differing only in steps, backend and prefetch depth, have no changes', (t) => {
  const saved = tinyConfig();
  t.deepEqual(compareForResume(saved, tinyConfig({ train: { steps: 99 }, backend: 'wasm', data: { prefetch: 0 } })), { architecture: [], other: [] });
});

test('generator, discriminator and image size changes are architecture changes; the rest are other changes', (t) => {
  const saved = tinyConfig();
  const current = tinyConfig({ generator: { layers: 6 }, discriminator: { minibatch: 'stddev' }, data: { imageSize: 32, batchSize: 2 }, optimizer: { lrG: 0.5 } });
  const { architecture, other } = compareForResume(saved, current);
  t.deepEqual(architecture.map((c) => c.path).sort(), ['data.imageSize', 'discriminator.minibatch', 'generator.layers']);
  t.deepEqual(other.map((c) => c.path).sort(), ['data.batchSize', 'optimizer.lrG']);
  t.is(describeChanges(architecture.filter((c) => c.path === 'generator.layers')), 'generator.layers: 4 → 6');
});

test('a changed occlusion mix is reported as a whole value', (t) => {
  const { other } = compareForResume(tinyConfig(), tinyConfig({ data: { occlusion: { half: 1 } } }));
  t.deepEqual(other, [{ path: 'data.occlusion', saved: { box: 1 }, current: { half: 1 } }]);
});
