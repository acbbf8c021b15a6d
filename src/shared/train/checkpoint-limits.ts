import type { RunConfig } from '../config';
import { CHECKPOINT_FILES, SEAL_FILE } from './checkpoint';
import { WEIGHTS_FILE } from './model-files';
import { discriminatorParameters, generatorParameters, type ParameterCount } from './parameter-count';

/** The largest size of each file a checkpoint transfer may carry, and of all of them together. */
export interface CheckpointLimits {
  /** Every file name admitted, with its largest size in bytes. */
  files: ReadonlyMap<string, number>;
  /** The sum of the files' sizes: a bound on the whole transfer and the disk space it needs. */
  totalBytes: number;
}

/**
 * The bound on each JSON file of a checkpoint (model.json, optimizer.json, state.json,
 * meta.json, seal.json). They hold a topology, tensor specs, the run config and sha256 lists:
 * tens of kB for the deepest config the schema allows, so 1 MiB is the margin, not the size.
 */
export const CHECKPOINT_JSON_BYTES = 2 ** 20;

const FLOAT32 = 4;

/**
 * What a checkpoint of a run with `config` can weigh, from the parameter counts of its
 * networks (no model is built): each weights.bin holds every weight as float32, exactly;
 * each optimizer.bin Adam's two moments per trainable weight plus its iteration count; each
 * JSON file at most {@link CHECKPOINT_JSON_BYTES}. `sealed` admits the coordinator's seal
 * too: a download of a merged checkpoint, as opposed to rank 0's upload.
 */
export function checkpointLimits(config: RunConfig, sealed = false): CheckpointLimits {
  const counts: Record<string, ParameterCount> = {
    generator: generatorParameters(config.generator, config.data.imageSize),
    discriminator: discriminatorParameters(config.discriminator, config.data.imageSize),
  };
  const bound = (name: string): number => {
    if (name.endsWith('.json')) return CHECKPOINT_JSON_BYTES;
    const [network, file] = name.split('/');
    const count = counts[network] as ParameterCount | undefined;
    if (count && file === WEIGHTS_FILE) return FLOAT32 * count.all;
    if (count && file === 'optimizer.bin') return FLOAT32 * (2 * count.trainable + 1);
    throw new Error(`checkpoint file ${name} has no size bound: add one here`);
  };
  const files = new Map([...CHECKPOINT_FILES, ...(sealed ? [SEAL_FILE] : [])].map((name) => [name, bound(name)]));
  return { files, totalBytes: [...files.values()].reduce((a, b) => a + b, 0) };
}
