import type { RunConfig } from '../../../src/shared/config';
import { buildDiscriminator, buildGenerator } from '../../../src/shared/model';
import type { CheckpointContent } from '../../../src/shared/train/checkpoint';
import { Trainer } from '../../../src/shared/train/trainer';
import { boxBatch, syntheticFaces, tinyConfig } from './_tiny';

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

/** A real checkpoint's content after `steps` training steps of `config` (Adam has moments, batch norm moving statistics); the caller disposes it. */
export async function trainedCheckpoint(config: RunConfig, steps = 1): Promise<CheckpointContent & { dispose: () => void }> {
  const size = config.data.imageSize;
  const networks = { generator: buildGenerator(config.generator, size, config.train.seed), discriminator: buildDiscriminator(config.discriminator, size, config.train.seed) };
  const trainer = new Trainer(config, networks);
  const faces = syntheticFaces(config.data.batchSize, size);
  const ids = Array.from({ length: config.data.batchSize }, (_, i) => i);
  for (let step = 0; step < steps; step++) await trainer.step(boxBatch(faces, ids), step);
  const optimizers = await trainer.optimizerStates();
  const dispose = () => {
    for (const t of [...optimizers.generator, ...optimizers.discriminator]) t.tensor.dispose();
    trainer.dispose();
    networks.generator.dispose();
    networks.discriminator.dispose();
  };
  return { step: steps, config, manifestHash: 'abc123', networks, optimizers, dispose };
}
