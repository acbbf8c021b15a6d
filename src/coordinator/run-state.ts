import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RunConfig } from '../shared/config';
import type { RunView, TrainingPlan } from './api';
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
  /** Step the current ring started at (a rollback's checkpoint). */
  startStep: number;
  plan: TrainingPlan;
  members: readonly Member[];
  latestCheckpoint: { step: number; dir: string } | null;
}

/** Writes `run.json` into `outDir` atomically (a reader sees the old or the new state, never half). */
export async function writeRunState(outDir: string, state: RunState): Promise<void> {
  await mkdir(outDir, { recursive: true });
  const path = join(outDir, RUN_STATE_FILE);
  const tmp = `${path}.tmp-${randomBytes(4).toString('hex')}`;
  await writeFile(tmp, `${JSON.stringify({ version: 1, updatedAt: new Date().toISOString(), ...state }, null, 2)}\n`);
  await rename(tmp, path);
}

/** Reads `run.json` back (for tests and tools); the caller validates what it needs. */
export async function readRunState(outDir: string): Promise<RunState & { version: number; updatedAt: string }> {
  return JSON.parse(await readFile(join(outDir, RUN_STATE_FILE), 'utf8')) as RunState & { version: number; updatedAt: string };
}
