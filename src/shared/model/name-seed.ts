import * as tf from '@tensorflow/tfjs';
import { mixSeed } from '../util/rng';

/**
 * Seeds derived from layer names. Layer names are set explicitly by the model builders
 * and saved in the topology, so a seed derived from (run seed, name) is the same in every
 * process, after every reload, and independent of how many layers tfjs created before.
 */

/** Mixes a run seed with a 32-bit FNV-1a hash of a layer name. */
export function nameSeed(seed: number, name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  }
  return mixSeed(seed, h >>> 0);
}

/** A tfjs initializer. */
export type Initializer = ReturnType<typeof tf.initializers.glorotUniform>;

/**
 * The Glorot-uniform kernel initializer of one layer, seeded by the run seed and the layer's
 * name, so that every data-parallel rank builds bitwise-identical initial weights.
 */
export function seededGlorot(seed: number, layerName: string): Initializer {
  return tf.initializers.glorotUniform({ seed: nameSeed(seed, layerName) });
}
