import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { type RunConfig, validateSavedConfig } from '../config';
import { CheckpointError } from '../errors';
import { ensureDirectory, installDirectory, temporarySibling, writeFileAtomic } from '../util/atomic-write';
import { pathExists } from '../util/path-exists';
import type { NamedTensor } from './flat-gradients';
import { modelFromFiles, modelToFiles, optimizerStateFromFiles, optimizerStateToFiles, WEIGHTS_FILE } from './model-files';
import type { Networks, OptimizerStates } from './api';

/**
 * Checkpoint directories. A run folder holds `checkpoints/step-000500/` (one per save) and
 * `checkpoints/latest` (a JSON pointer to the newest). A checkpoint directory holds, for
 * `generator/` and `discriminator/`, the model in the tfjs layers format (model.json,
 * weights.bin) and its Adam state (optimizer.json, optimizer.bin); `state.json` (step,
 * run config, dataset manifest hash); and `meta.json` listing every file with its sha256.
 * Directories are written into a temporary sibling, fsynced and renamed into place, and the
 * pointer is replaced the same way (`../util/atomic-write`), so a crash never leaves a
 * half-written checkpoint or pointer, and one that has been saved survives a power loss.
 */

/** Everything a checkpoint holds. */
export interface CheckpointContent {
  /** Completed training steps (the next step to run). */
  step: number;
  config: RunConfig;
  /** Hash of the dataset manifest the run trains on. */
  manifestHash: string;
  networks: Networks;
  optimizers: OptimizerStates;
}

/** A checkpoint read back, with the directory it came from. */
export interface LoadedCheckpoint extends CheckpointContent {
  dir: string;
}

/** The generator of a checkpoint, for restoring images. */
export interface InferenceGenerator {
  generator: tf.LayersModel;
  config: RunConfig;
  step: number;
  dir: string;
}

const CHECKPOINTS = 'checkpoints';
const LATEST = 'latest';
const META = 'meta.json';
const STATE = 'state.json';
const NETWORKS = ['generator', 'discriminator'] as const;
const FORMAT = 'facefill-checkpoint';

/** Every file of a checkpoint folder, relative to it, in the order they are sent (meta.json, which lists the others, last). */
export const CHECKPOINT_FILES: readonly string[] = [
  ...NETWORKS.flatMap((n) => [`${n}/model.json`, `${n}/${WEIGHTS_FILE}`, `${n}/optimizer.json`, `${n}/optimizer.bin`]),
  STATE,
  META,
];

/** The seal a coordinator adds to a checkpoint it merges, beside meta.json (which does not list it); sent after meta.json. */
export const SEAL_FILE = 'seal.json';

const MetaSchema = z.object({
  format: z.literal(FORMAT),
  version: z.literal(1),
  step: z.number().int().min(0),
  files: z.array(z.object({ path: z.string(), bytes: z.number().int().min(0), sha256: z.string().regex(/^[0-9a-f]{64}$/) })),
});
type Meta = z.infer<typeof MetaSchema>;

const StateSchema = z.object({ step: z.number().int().min(0), manifestHash: z.string(), config: z.unknown() });
const CHECKPOINT_NAME = /^step-(\d+)$/;
const LatestSchema = z.object({ checkpoint: z.string().regex(CHECKPOINT_NAME), step: z.number().int().min(0) });

/** The folder of a run's checkpoints. */
export function checkpointsDir(outDir: string): string {
  return join(outDir, CHECKPOINTS);
}

/** The folder name of the checkpoint of `step` inside the checkpoints folder: `step-000500`. */
export function checkpointName(step: number): string {
  return `step-${String(step).padStart(6, '0')}`;
}

/** The step a checkpoint folder name ({@link checkpointName}) stands for, or null for any other name. */
export function checkpointStep(name: string): number | null {
  const match = CHECKPOINT_NAME.exec(name);
  return match ? Number(match[1]) : null;
}

/** The steps of the checkpoint folders in the run in `outDir`, ascending; none when it has no checkpoints folder. */
export async function listCheckpointSteps(outDir: string): Promise<number[]> {
  let entries;
  try {
    entries = await readdir(checkpointsDir(outDir), { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const steps = entries.filter((e) => e.isDirectory()).map((e) => checkpointStep(e.name));
  return steps.filter((s): s is number => s !== null).sort((a, b) => a - b);
}

/** Saves a checkpoint of a run in `outDir` and points `latest` at it; resolves with its directory. */
export async function saveCheckpoint(outDir: string, content: CheckpointContent): Promise<string> {
  const root = checkpointsDir(outDir);
  const name = checkpointName(content.step);
  const files = new Map<string, Buffer>();
  for (const network of NETWORKS) {
    const model = await modelToFiles(content.networks[network]);
    const optimizer = await optimizerStateToFiles(content.optimizers[network]);
    files.set(`${network}/model.json`, model.json);
    files.set(`${network}/${WEIGHTS_FILE}`, model.weights);
    files.set(`${network}/optimizer.json`, optimizer.json);
    files.set(`${network}/optimizer.bin`, optimizer.bin);
  }
  files.set(STATE, json({ step: content.step, manifestHash: content.manifestHash, config: content.config }));

  await ensureDirectory(root);
  const tmp = temporarySibling(join(root, name));
  const meta: Meta = { format: FORMAT, version: 1, step: content.step, files: [] };
  try {
    // Written unsynced: installDirectory fsyncs the whole folder before the rename.
    for (const [path, bytes] of files) {
      await writeInto(tmp, path, bytes);
      meta.files.push({ path, bytes: bytes.byteLength, sha256: sha256(bytes) });
    }
    await writeInto(tmp, META, json(meta));
    await installDirectory(tmp, join(root, name));
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
  await writeFileAtomic(join(root, LATEST), json({ checkpoint: name, step: content.step }));
  return join(root, name);
}

/**
 * Moves a checkpoint directory received from elsewhere (`fromDir`, e.g. uploaded by rank 0)
 * into the run in `outDir` as its newest checkpoint, after verifying every file it lists
 * against meta.json and its run state; resolves with the installed directory. Every file of
 * `fromDir` is fsynced before the move, and the move itself made durable.
 */
export async function installCheckpoint(outDir: string, fromDir: string): Promise<string> {
  const { step } = await verifyCheckpoint(fromDir);
  const name = checkpointName(step);
  const root = checkpointsDir(outDir);
  await installDirectory(fromDir, join(root, name));
  await writeFileAtomic(join(root, LATEST), json({ checkpoint: name, step }));
  return join(root, name);
}

/**
 * Checks a checkpoint folder without loading its networks: every file meta.json lists against
 * its sha256, and state.json's step against meta.json's; resolves with that step. With
 * `listed`, meta.json must list exactly those files, checked before any is read (a received
 * meta.json could name any path). A CheckpointError names what is wrong.
 */
export async function verifyCheckpoint(dir: string, listed?: readonly string[]): Promise<{ step: number }> {
  const meta = await readMeta(dir);
  if (listed !== undefined) {
    const [expected, actual] = [[...listed].sort().join(', '), meta.files.map((f) => f.path).sort().join(', ')];
    if (actual !== expected) throw new CheckpointError(`checkpoint ${dir}: ${META} lists ${actual}; expected ${expected}`);
  }
  for (const f of meta.files) await readVerified(dir, meta, f.path);
  const state = await readState(dir, meta);
  if (state.step !== meta.step) throw new CheckpointError(`checkpoint ${dir}: ${STATE} says step ${state.step}, ${META} says ${meta.step}`);
  return { step: meta.step };
}

/** Points the run in `outDir` back at one of its own checkpoints (`dir`, under its checkpoints folder) as the newest. */
export async function pointLatestCheckpoint(outDir: string, dir: string): Promise<void> {
  const meta = await readMeta(dir);
  const name = checkpointName(meta.step);
  if (join(checkpointsDir(outDir), name) !== dir) throw new CheckpointError(`${dir} is not checkpoint ${name} of the run in ${outDir}`);
  await writeFileAtomic(join(checkpointsDir(outDir), LATEST), json({ checkpoint: name, step: meta.step }));
}

/** The files of a checkpoint directory, relative to it: meta.json and every file it lists. */
export async function checkpointFiles(dir: string): Promise<string[]> {
  return [...(await readMeta(dir)).files.map((f) => f.path), META];
}

/** The newest checkpoint directory of the run in `outDir`, or null when it has none. */
export async function latestCheckpoint(outDir: string): Promise<string | null> {
  const pointer = join(checkpointsDir(outDir), LATEST);
  if (!(await pathExists(pointer))) return null;
  return followPointer(pointer);
}

/**
 * Resolves `dir` to a checkpoint directory: `dir` itself when it holds meta.json, else the
 * checkpoint that `dir/latest` or `dir/checkpoints/latest` points at.
 */
export async function resolveCheckpointDir(dir: string): Promise<string> {
  if (await pathExists(join(dir, META))) return dir;
  for (const pointer of [join(dir, LATEST), join(dir, CHECKPOINTS, LATEST)]) {
    if (await pathExists(pointer)) return followPointer(pointer);
  }
  throw new CheckpointError(`${dir} is neither a checkpoint (no ${META}) nor a run folder (no ${CHECKPOINTS}/${LATEST})`);
}

/**
 * Loads a checkpoint (a checkpoint directory or a run folder), verifying every file against
 * the sha256 in meta.json. The caller owns (and disposes) the models and state tensors.
 */
export async function loadCheckpoint(dir: string): Promise<LoadedCheckpoint> {
  const at = await resolveCheckpointDir(dir);
  const meta = await readMeta(at);
  const state = await readState(at, meta);
  const loaded: tf.LayersModel[] = [];
  const tensors: NamedTensor[] = [];
  try {
    const load = async (network: (typeof NETWORKS)[number]) => {
      const model = await modelFromFiles(
        { json: await readVerified(at, meta, `${network}/model.json`), weights: await readVerified(at, meta, `${network}/${WEIGHTS_FILE}`) },
        `${at}/${network}`,
      );
      loaded.push(model);
      const optimizer = optimizerStateFromFiles(
        { json: await readVerified(at, meta, `${network}/optimizer.json`), bin: await readVerified(at, meta, `${network}/optimizer.bin`) },
        `${at}/${network}`,
      );
      tensors.push(...optimizer);
      return { model, optimizer };
    };
    const generator = await load('generator');
    const discriminator = await load('discriminator');
    return {
      dir: at,
      ...state,
      networks: { generator: generator.model, discriminator: discriminator.model },
      optimizers: { generator: generator.optimizer, discriminator: discriminator.optimizer },
    };
  } catch (err) {
    for (const model of loaded) model.dispose();
    for (const t of tensors) t.tensor.dispose();
    throw err;
  }
}

/** Loads only the generator of a checkpoint (a checkpoint directory or a run folder), verified. */
export async function loadGeneratorForInference(dir: string): Promise<InferenceGenerator> {
  const at = await resolveCheckpointDir(dir);
  const meta = await readMeta(at);
  const state = await readState(at, meta);
  const generator = await modelFromFiles(
    { json: await readVerified(at, meta, 'generator/model.json'), weights: await readVerified(at, meta, `generator/${WEIGHTS_FILE}`) },
    `${at}/generator`,
  );
  return { generator, config: state.config, step: state.step, dir: at };
}

async function followPointer(pointer: string): Promise<string> {
  const parsed = LatestSchema.safeParse(await readJson(pointer));
  if (!parsed.success) throw new CheckpointError(`${pointer} is not a valid checkpoint pointer: ${parsed.error.message}`);
  const dir = join(dirname(pointer), parsed.data.checkpoint);
  if (!(await pathExists(join(dir, META)))) throw new CheckpointError(`${pointer} points at ${dir}, which is not a checkpoint`);
  return dir;
}

async function readMeta(dir: string): Promise<Meta> {
  const parsed = MetaSchema.safeParse(await readJson(join(dir, META)));
  if (!parsed.success) throw new CheckpointError(`${join(dir, META)} is malformed: ${parsed.error.message}`);
  return parsed.data;
}

async function readState(dir: string, meta: Meta): Promise<{ step: number; manifestHash: string; config: RunConfig }> {
  let raw: unknown;
  try {
    raw = JSON.parse((await readVerified(dir, meta, STATE)).toString('utf8'));
  } catch (err) {
    if (err instanceof CheckpointError) throw err;
    throw new CheckpointError(`${join(dir, STATE)} is not valid JSON`, { cause: err });
  }
  const parsed = StateSchema.safeParse(raw);
  if (!parsed.success) throw new CheckpointError(`${join(dir, STATE)} is malformed: ${parsed.error.message}`);
  let config: RunConfig;
  try {
    config = validateSavedConfig(parsed.data.config, join(dir, STATE));
  } catch (err) {
    throw new CheckpointError(`${join(dir, STATE)} holds an invalid run config: ${(err as Error).message}`, { cause: err });
  }
  return { step: parsed.data.step, manifestHash: parsed.data.manifestHash, config };
}

async function readVerified(dir: string, meta: Meta, path: string): Promise<Buffer> {
  const entry = meta.files.find((f) => f.path === path);
  if (!entry) throw new CheckpointError(`checkpoint ${dir}: ${META} does not list ${path}`);
  let bytes: Buffer;
  try {
    bytes = await readFile(join(dir, path));
  } catch (err) {
    throw new CheckpointError(`checkpoint ${dir}: cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  const actual = sha256(bytes);
  if (actual !== entry.sha256) {
    throw new CheckpointError(`checkpoint ${dir}: ${path} is corrupt: sha256 ${actual}, ${META} expects ${entry.sha256}`);
  }
  return bytes;
}

async function readJson(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new CheckpointError(`cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new CheckpointError(`${path} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
}

async function writeInto(dir: string, path: string, bytes: Buffer): Promise<void> {
  await mkdir(dirname(join(dir, path)), { recursive: true });
  await writeFile(join(dir, path), bytes);
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function json(value: unknown): Buffer {
  return Buffer.from(`${JSON.stringify(value, null, 2)}\n`);
}
