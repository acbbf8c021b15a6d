import type { FaceSet } from '../data/api';
import { loadSplit } from '../data/dataset';
import { manifestHash } from '../data/manifest';
import type { Rollback, TrainingMonitor } from '../monitor/collapse-watch';
import { type Replica, type SessionOptions, type TrainCall, TrainingSession, type TrainingSummary } from './training-session';

export type { Replica, Rollback, TrainingMonitor, TrainingSummary };

/** What {@link runTraining} needs: a session's options with a dataset folder, and what watches the run. */
export interface TrainingOptions extends Omit<SessionOptions, 'set' | 'manifestHash'>, TrainCall {
  /** An ingested dataset folder (its train split is loaded). */
  dataDir: string;
}

/** {@link TrainingOptions} with the train split already in memory instead of a dataset folder. */
export interface FaceSetTrainingOptions extends Omit<TrainingOptions, 'dataDir'> {
  set: FaceSet;
  /** Hash of the dataset's manifest, recorded in checkpoints and checked on resume. */
  manifestHash: string;
}

/** Trains on the train split of the dataset in `dataDir`; see {@link trainOnFaceSet}. */
export async function runTraining(options: TrainingOptions): Promise<TrainingSummary> {
  const { dataDir, ...rest } = options;
  const set = await loadSplit(dataDir, 'train');
  return trainOnFaceSet({ ...rest, set, manifestHash: await manifestHash(dataDir) });
}

/**
 * Trains a GAN for `config.train.steps` steps (from scratch, or from the run folder's latest
 * checkpoint with `resume`), checkpointing every `train.checkpointEvery` steps and at the end:
 * one {@link TrainingSession} from open to dispose. Refuses to start a new run over an existing
 * one, and to resume on another dataset or with another architecture.
 */
export async function trainOnFaceSet(options: FaceSetTrainingOptions): Promise<TrainingSummary> {
  const session = await TrainingSession.open(options);
  try {
    return await session.train(options);
  } finally {
    session.dispose();
  }
}
