import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs';
import type { Networks } from './api';

/**
 * A replica's weights as one flat array, for the collective operations that keep data-parallel
 * replicas identical: the broadcast of every weight before the first step, and the averaging of
 * the non-trainable ones (batch-norm moving statistics, which each rank updates from its own
 * shard) before a checkpoint. The order is fixed: generator then discriminator, each model's
 * weights in layer order.
 */

/** Which weights: all of them, or only the non-trainable statistics. */
export type WeightSet = 'all' | 'statistics';

/** The chosen weights of both networks, in the fixed order every flat form uses. */
export function weightVariables(networks: Networks, set: WeightSet): tf.LayerVariable[] {
  return [networks.generator, networks.discriminator].flatMap((m) => (set === 'all' ? m.weights : m.nonTrainableWeights));
}

/** Copies the chosen weights into one new Float32Array. */
export function readWeights(networks: Networks, set: WeightSet): Float32Array {
  const vars = weightVariables(networks, set);
  const out = new Float32Array(vars.reduce((n, v) => n + v.read().size, 0));
  let offset = 0;
  for (const v of vars) {
    const values = v.read().dataSync();
    out.set(values, offset);
    offset += values.length;
  }
  return out;
}

/** Writes a flat array made by {@link readWeights} (same networks and set) back into the weights. */
export function writeWeights(networks: Networks, set: WeightSet, flat: Float32Array): void {
  const vars = weightVariables(networks, set);
  let offset = 0;
  for (const v of vars) {
    const current = v.read();
    if (offset + current.size > flat.length) throw new RangeError(`${flat.length} values do not cover the ${set} weights (${v.name} needs more)`);
    // The variable shares the new tensor's data; our handle to it can go at once.
    const value = tf.tensor(flat.slice(offset, offset + current.size), current.shape, 'float32');
    v.write(value);
    value.dispose();
    offset += current.size;
  }
  if (offset !== flat.length) throw new RangeError(`${flat.length} values for ${offset} ${set} weights`);
}

/** Hex sha256 of every weight's bytes: equal on two replicas exactly when their weights are. */
export function weightsSha256(networks: Networks): string {
  const all = readWeights(networks, 'all');
  return createHash('sha256').update(new Uint8Array(all.buffer, all.byteOffset, all.byteLength)).digest('hex');
}

/** The name of the first weight holding a NaN or an infinity, or null when every weight is finite. */
export function nonFiniteWeight(networks: Networks): string | null {
  for (const v of weightVariables(networks, 'all')) {
    if (!v.read().dataSync().every(Number.isFinite)) return v.name;
  }
  return null;
}
