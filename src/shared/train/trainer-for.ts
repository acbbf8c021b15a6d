import type { RunConfig } from '../config';
import type { Networks } from './api';
import { EmulatedTrainer } from './emulated-trainer';
import { type DataParallel, Trainer } from './trainer';

/** The trainer `config` asks for: the GAN step, or a scaling simulation's emulated one (`train.emulateComputeMs`). */
export function trainerFor(config: RunConfig, networks: Networks, parallel?: DataParallel): Trainer {
  const computeMs = config.train.emulateComputeMs;
  return computeMs === undefined ? new Trainer(config, networks, parallel) : new EmulatedTrainer(config, networks, computeMs, parallel);
}
