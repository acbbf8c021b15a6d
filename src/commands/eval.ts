import { writeFile } from 'node:fs/promises';
import { selectBackend } from '../shared/backend/select';
import type { OcclusionKind, RunConfig } from '../shared/config';
import type { Split } from '../shared/data/api';
import { loadSplit } from '../shared/data/dataset';
import { OCCLUSION_NAMES, parseOcclusionKind } from '../shared/data/occlusion';
import { ConfigInvalidError } from '../shared/errors';
import { meanFaceInpainter, meanFillInpainter } from '../shared/eval/baselines';
import { type EvalReport, evaluate } from '../shared/eval/evaluate';
import { generatorInpainter } from '../shared/eval/generator-inpainter';
import { sampleGrid } from '../shared/eval/sample-grid';
import { teleaInpainter } from '../shared/eval/telea-inpainter';
import type { Logger } from '../shared/log';
import { loadGeneratorForInference } from '../shared/train/checkpoint';

/** Options of `facefill eval`. */
export interface EvalCommandOptions {
  checkpoint: string;
  data: string;
  split: Split;
  /** Comma-separated mask kinds (eyes, lower, right, box, ...). */
  masks: string;
  seed: number;
  limit?: number;
  /** Where to write the occluded | restored | original PNG grid; none when undefined. */
  grid?: string;
  /** Also score every image under the fixed re-framings of `JITTERS` (rows with framing `jitter`). */
  jitter?: boolean;
  backend: RunConfig['backend'];
  log: Logger;
}

/**
 * `facefill eval`: scores a checkpoint's generator and three baselines (mean fill, mean face
 * of the training split, and OpenCV-style Telea inpainting) with the same code on the same
 * masks; with `jitter`, also on the faces re-framed and re-exposed by each of `JITTERS`.
 */
export async function runEval(options: EvalCommandOptions): Promise<EvalReport> {
  const kinds = parseMaskList(options.masks);
  await selectBackend(options.backend, options.log);
  const { generator, config, step, dir } = await loadGeneratorForInference(options.checkpoint);
  const [set, train] = await Promise.all([loadSplit(options.data, options.split), loadSplit(options.data, 'train')]);
  if (set.size !== config.data.imageSize) {
    throw new ConfigInvalidError(`the dataset holds ${set.size}x${set.size} images, the checkpoint's model takes ${config.data.imageSize}x${config.data.imageSize}`);
  }
  options.log.info({ checkpoint: dir, step, split: options.split, images: Math.min(set.count, options.limit ?? set.count) }, 'evaluating');
  const model = generatorInpainter(generator);
  const inpainters = [model, meanFillInpainter(), meanFaceInpainter(train), teleaInpainter()];
  const report = await evaluate(inpainters, set, kinds, { seed: options.seed, limit: options.limit });
  if (options.jitter) {
    const jittered = await evaluate(inpainters, set, kinds, { seed: options.seed, limit: options.limit, framing: 'jitter' });
    report.rows.push(...jittered.rows);
  }
  if (options.grid) {
    await writeFile(options.grid, await sampleGrid(model, set, kinds, options.seed));
    options.log.info(`sample grid written to ${options.grid}`);
  }
  return report;
}

/** Parses `--masks eyes,lower,right` into occlusion kinds, naming any unknown entry. */
export function parseMaskList(list: string): OcclusionKind[] {
  return list.split(',').map((name) => {
    const kind = parseOcclusionKind(name);
    if (!kind) throw new ConfigInvalidError(`--masks: unknown mask '${name}'; expected any of ${OCCLUSION_NAMES.join(', ')}`);
    return kind;
  });
}
