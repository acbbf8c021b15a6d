import * as tf from '@tensorflow/tfjs';
import test from 'ava';
import { GradientSizeMismatchError } from '../../../src/shared/errors';
import { flattenGradients, l2Norm, parameterCount, unflattenGradients } from '../../../src/shared/train/flat-gradients';

test.before(async () => {
  await tf.setBackend('cpu');
});

const vars = [tf.variable(tf.zeros([2, 3]), true, 'fg_a'), tf.variable(tf.zeros([4]), true, 'fg_b'), tf.variable(tf.zeros([1, 1, 2]), true, 'fg_c')];

test('gradients flatten in variable order and unflatten to the same tensors', async (t) => {
  const grads = { fg_c: tf.tensor3d([[[7, 8]]]), fg_a: tf.tensor2d([[1, 2, 3], [4, 5, 6]]), fg_b: tf.tensor1d([9, 10, 11, 12]) };
  const flat = await flattenGradients(grads, vars);
  t.is(flat.length, parameterCount(vars));
  t.deepEqual(Array.from(flat), [1, 2, 3, 4, 5, 6, 9, 10, 11, 12, 7, 8]);
  const back = unflattenGradients(flat, vars);
  t.deepEqual(back.map((g) => g.name), ['fg_a', 'fg_b', 'fg_c']);
  t.deepEqual(back.map((g) => g.tensor.shape), [[2, 3], [4], [1, 1, 2]]);
  for (const g of back) t.deepEqual(g.tensor.arraySync(), grads[g.name as keyof typeof grads].arraySync());
});

test('a variable the loss does not reach contributes zeros', async (t) => {
  const flat = await flattenGradients({ fg_b: tf.ones([4]) }, vars);
  t.deepEqual(Array.from(flat), [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0]);
});

test('a flat gradient of the wrong length is a typed error', (t) => {
  t.throws(() => unflattenGradients(new Float32Array(11), vars, 'generator'), {
    instanceOf: GradientSizeMismatchError,
    message: 'generator gradient has 11 values; the model has 12 trainable parameters',
  });
});

test('the L2 norm is the square root of the sum of squares', (t) => {
  t.is(l2Norm(Float32Array.of(3, 4)), 5);
  t.is(l2Norm(new Float32Array(0)), 0);
});
