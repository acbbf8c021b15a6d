import * as tf from '@tensorflow/tfjs';
import type { Batch } from './batch';

/** A {@link Batch} on the tensor backend: `real` and `mask` as [count, size, size, 1] tensors, which its holder disposes. */
export interface BatchTensors {
  /** GLOBAL sample indices, which seed labels and dropout. */
  ids: Int32Array;
  epoch: number;
  real: tf.Tensor4D;
  mask: tf.Tensor4D;
}

/** Copies a batch's arrays into tensors; the caller disposes them with {@link disposeBatchTensors}. */
export function batchTensors(batch: Batch): BatchTensors {
  const shape: [number, number, number, number] = [batch.count, batch.size, batch.size, 1];
  return { ids: batch.ids, epoch: batch.epoch, real: tf.tensor4d(batch.real, shape), mask: tf.tensor4d(batch.mask, shape) };
}

/** Frees a batch's tensors. */
export function disposeBatchTensors(tensors: BatchTensors): void {
  tf.dispose([tensors.real, tensors.mask]);
}
