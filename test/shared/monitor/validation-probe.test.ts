import * as tf from '@tensorflow/tfjs';
import test from 'ava';
import { ConfigInvalidError } from '../../../src/shared/errors';
import { buildGenerator } from '../../../src/shared/model';
import { CollapseDetector } from '../../../src/shared/monitor/collapse-detector';
import { ValidationProbe } from '../../../src/shared/monitor/validation-probe';
import { syntheticFaces, tinyConfig } from '../train/_tiny';

test.before(async () => {
  await tf.setBackend('cpu');
});

const config = tinyConfig({ data: { occlusion: { half: 1, eyes: 1, box: 1 } }, monitor: { probeSize: 8, probeEvery: 2, collapseWindow: 4 } });
const faces = syntheticFaces(12, 16, 5);

// A generator whose output is the same whatever its input: every weight zero gives tanh(0) = 0.
function constantGenerator(): tf.LayersModel {
  const generator = buildGenerator(config.generator, 16, config.train.seed);
  const zeros = generator.getWeights().map((w) => tf.zerosLike(w));
  generator.setWeights(zeros);
  tf.dispose(zeros);
  return generator;
}

test('a generator with a constant output has diversity 0, and the detector calls it collapsed', async (t) => {
  const generator = constantGenerator();
  const probe = new ValidationProbe(faces, config);
  const detector = new CollapseDetector(config.monitor);
  const verdicts = [];
  for (let step = 1; step <= 4; step++) {
    const probed = step % 2 === 0 ? await probe.evaluate(generator) : null;
    if (probed) t.is(probed.diversityRatio, 0);
    verdicts.push(detector.update({ step, gAdversarialLoss: 0.7, dLoss: 0.6, diversityRatio: probed?.diversityRatio ?? null }));
  }
  generator.dispose();
  t.deepEqual(
    verdicts.map((v) => [v.collapsed, v.event]),
    [
      [false, false],
      [false, false],
      [false, false],
      [true, true],
    ],
  );
  t.regex(verdicts[3].reason, /output diversity 0, 0 of the real holes'/);
  t.is(verdicts[3].score, 1);
});

test('an untrained generator restores each face differently', async (t) => {
  const generator = buildGenerator(config.generator, 16, config.train.seed);
  const result = await new ValidationProbe(faces, config).evaluate(generator);
  generator.dispose();
  t.log(result);
  // Far from a constant output, though untrained (it may sit under the threshold: hence the detector's warm-up).
  t.true(result.diversityRatio > 0.1, `ratio ${result.diversityRatio}`);
  t.true(result.holePsnrDb > 0 && result.holePsnrDb < 100);
  t.true(result.ssim > 0 && result.ssim < 1);
});

test('every evaluation restores the same inputs: equal results from the same probe or a new one', async (t) => {
  const generator = buildGenerator(config.generator, 16, config.train.seed);
  const first = await new ValidationProbe(faces, config).evaluate(generator);
  const probe = new ValidationProbe(faces, config);
  t.deepEqual(await probe.evaluate(generator), first);
  t.deepEqual(await probe.evaluate(generator), first);
  // The constant generator scores differently on the same inputs: the measures see the model.
  const constant = constantGenerator();
  t.notDeepEqual(await probe.evaluate(constant), first);
  generator.dispose();
  constant.dispose();
});

// Serial: concurrent tests create and dispose tensors of their own.
test.serial('the probe leaks no tensors', async (t) => {
  const generator = buildGenerator(config.generator, 16, config.train.seed);
  const probe = new ValidationProbe(faces, config);
  await probe.evaluate(generator);
  const before = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) await probe.evaluate(generator);
  t.is(tf.memory().numTensors, before);
  generator.dispose();
});

test('the probe takes probeSize faces, or all of a smaller set, and needs two', (t) => {
  t.is(new ValidationProbe(faces, config).count, 8);
  t.is(new ValidationProbe(syntheticFaces(3, 16), config).count, 3);
  t.throws(() => new ValidationProbe(syntheticFaces(1, 16), config), { instanceOf: ConfigInvalidError, message: /at least 2 faces.*holds 1/ });
  t.throws(() => new ValidationProbe(syntheticFaces(4, 32), config), { instanceOf: ConfigInvalidError, message: /32x32 images but data.imageSize is 16/ });
});
