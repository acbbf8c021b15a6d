import * as tf from '@tensorflow/tfjs';
import { GradientSizeMismatchError } from '../errors';

/**
 * Gradients as one flat vector: the unit a data-parallel rank all-reduces. The layout is
 * fixed by the order of the model's trainable weights, so every rank packs and unpacks
 * the same way.
 */

/** A tensor with the name of the variable (or optimizer slot) it belongs to, as optimizers take them. */
export type NamedTensor = Awaited<ReturnType<tf.Optimizer['getWeights']>>[number];

/** The trainable variables of a model, in `model.trainableWeights` order. */
export function trainableVariables(model: tf.LayersModel): tf.Variable[] {
  // LayerVariable.read() is typed as Tensor but returns the tf.Variable it wraps.
  return model.trainableWeights.map((w) => w.read() as tf.Variable);
}

/** Total number of values in the given variables (the flat gradient's length). */
export function parameterCount(variables: readonly tf.Variable[]): number {
  return variables.reduce((n, v) => n + v.size, 0);
}

/**
 * Packs the gradients of `variables` (keyed by variable name, as `tf.variableGrads` returns
 * them) into one Float32Array, in the variables' order; a variable the loss does not
 * reach contributes zeros. Does not dispose the gradients.
 */
export async function flattenGradients(grads: tf.NamedTensorMap, variables: readonly tf.Variable[]): Promise<Float32Array> {
  if (variables.length === 0) return new Float32Array(0);
  const flat = tf.tidy(() => tf.concat(variables.map((v) => (grads[v.name] ?? tf.zerosLike(v)).reshape([-1]))));
  try {
    return (await flat.data()) as Float32Array;
  } finally {
    flat.dispose();
  }
}

/**
 * Unpacks a flat gradient into one tensor per variable (with its shape), named by the
 * variable and in its order, as `optimizer.applyGradients` takes them. The caller disposes.
 * `network` names the model in the error thrown when the length is wrong.
 */
export function unflattenGradients(flat: Float32Array, variables: readonly tf.Variable[], network = 'model'): NamedTensor[] {
  const expected = parameterCount(variables);
  if (flat.length !== expected) throw new GradientSizeMismatchError(network, flat.length, expected);
  let offset = 0;
  return variables.map((v) => {
    const tensor = tf.tensor(flat.subarray(offset, offset + v.size), v.shape, 'float32');
    offset += v.size;
    return { name: v.name, tensor };
  });
}

/** The L2 norm of a flat vector, accumulated in double precision. */
export function l2Norm(flat: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < flat.length; i++) sum += flat[i] * flat[i];
  return Math.sqrt(sum);
}
