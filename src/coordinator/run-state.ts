import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type RunConfig, validateSavedConfig } from '../shared/config';
import { writeFileAtomic } from '../shared/util/atomic-write';
import { CheckpointError } from '../shared/errors';
import type { Logger } from '../shared/log';
import { compareForResume, describeChanges } from '../shared/train/resume-compatibility';
import type { DatasetPlan, RecoveryView, RunView, TrainingPlan } from './api';
import type { Member } from './rendezvous';

/** File name of the persisted run state inside the coordinator's run folder. */
export const RUN_STATE_FILE = 'run.json';

/**
 * What the coordinator persists of a run, so that it can be inspected after the fact and
 * resumed later: who took part, the plan, how far it got, the latest merged checkpoint.
 */
export interface RunState {
  runId: string;
  state: RunView['state'];
  error: string;
  worldSize: number;
  /** The config the current ring trains with (a rollback lowers D's learning rate). */
  config: RunConfig;
  /** Ring generation: 0, one more after each rollback. */
  generation: number;
  /** Step the current ring started at. */
  startStep: number;
  /** Most steps any rank reported completing. */
  reachedStep: number;
  /** Rollbacks the run took. */
  rollbacks: number;
  plan: TrainingPlan;
  /** The current (or last) ring's members. */
  members: readonly Member[];
  latestCheckpoint: { step: number; dir: string } | null;
  /** The recent recoveries, oldest first. */
  recoveries: readonly RecoveryView[];
}

/**
 * Writes `run.json` into `outDir` atomically and durably: a reader, or a restart after a
 * crash, sees the old or the new state, never half of one.
 */
export async function writeRunState(outDir: string, state: RunState): Promise<void> {
  const text = `${JSON.stringify({ version: 1, updatedAt: new Date().toISOString(), ...state }, null, 2)}\n`;
  await writeFileAtomic(join(outDir, RUN_STATE_FILE), text);
}

/** Reads `run.json` back (for tests and tools); the caller validates what it needs. */
export async function readRunState(outDir: string): Promise<RunState & { version: number; updatedAt: string }> {
  return JSON.parse(await readFile(join(outDir, RUN_STATE_FILE), 'utf8')) as RunState & { version: number; updatedAt: string };
}

/** What a resumed run is checked against: the coordinator's dataset and config. */
export interface ResumeCheck {
  dataset: DatasetPlan;
  /** The dataset folder, for messages. */
  dataDir: string;
  config: RunConfig;
  log: Logger;
}

/**
 * Reads the run recorded in `outDir` for a coordinator that takes it up (`--resume`): refuses
 * another dataset or another model architecture, and says when the given config differs (the
 * run keeps its own settings, a rollback's lowered learning rates among them).
 */
export async function readResumableRun(outDir: string, c: ResumeCheck): Promise<RunState> {
  const read = await readRunState(outDir);
  const saved = { ...read, config: validateSavedConfig(read.config, join(outDir, RUN_STATE_FILE)) };
  if (saved.plan.dataset.manifestSha256 !== c.dataset.manifestSha256) {
    throw new CheckpointError(`--resume: run ${saved.runId} trained on dataset manifest ${saved.plan.dataset.manifestSha256}; --data ${c.dataDir} has ${c.dataset.manifestSha256}`);
  }
  const changes = compareForResume(saved.config, c.config);
  if (changes.architecture.length > 0) throw new CheckpointError(`--resume: the model architecture differs from run ${saved.runId}'s (${describeChanges(changes.architecture)})`);
  if (changes.other.length > 0) c.log.warn({ changes: changes.other }, `--resume: the run keeps its own settings; the given config differs in ${describeChanges(changes.other)}`);
  return saved;
}
