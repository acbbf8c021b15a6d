import { buildDiscriminator, buildGenerator } from '../../../src/shared/model';
import type { CheckpointContent } from '../../../src/shared/train/checkpoint';
import { tinyConfig } from './_tiny';

let base: CheckpointContent | null = null;

/**
 * The content of a real checkpoint of `step`: tiny untrained networks (built once, shared)
 * and no optimizer state, for tests about checkpoint folders rather than what they hold.
 */
export function untrainedCheckpoint(step: number): CheckpointContent {
  if (base === null) {
    const config = tinyConfig();
    const networks = { generator: buildGenerator(config.generator, 16, 1), discriminator: buildDiscriminator(config.discriminator, 16, 1) };
    base = { step: 0, config, manifestHash: 'abc123', networks, optimizers: { generator: [], discriminator: [] } };
  }
  return { ...base, step };
}
