import { selectBackend } from '../shared/backend/select';
import type { EyesBox, RunConfig } from '../shared/config';
import { UTKFACE_EYES_BOX } from '../shared/data/eyes-box';
import { loadMaskFile } from '../shared/data/mask-file';
import { OCCLUSION_NAMES, parseOcclusionKind } from '../shared/data/occlusion';
import { ConfigInvalidError } from '../shared/errors';
import { generatorInpainter } from '../shared/eval/generator-inpainter';
import { DEFAULT_RESTORE_BATCH_SIZE, type MaskSpec, type RestoreResult, restoreFiles } from '../shared/eval/restore-files';
import type { Logger } from '../shared/log';
import { sealKey, verifyCheckpointSeal } from '../shared/security/checkpoint-seal';
import { readJoinFile } from '../shared/security/join-file';
import { loadGeneratorForInference, resolveCheckpointDir } from '../shared/train/checkpoint';

/** Options of `facefill restore`. */
export interface RestoreCommandOptions {
  checkpoint: string;
  input: string;
  /** An occlusion kind name (eyes, lower, box, ...) or a mask PNG path (white = hole). */
  mask: string;
  out: string;
  seed: number;
  /** Images per forward pass, 1..{@link MAX_RESTORE_BATCH_SIZE} (default {@link DEFAULT_RESTORE_BATCH_SIZE}). */
  batchSize?: number;
  backend: RunConfig['backend'];
  /** The run's join file: the checkpoint's seal is verified with the run's key before it is used. */
  join?: string;
  log: Logger;
}

/** The largest `--batch-size` of `facefill restore`: past it a batch's tensors grow large for little gain. */
export const MAX_RESTORE_BATCH_SIZE = 1024;

/** `facefill restore`: fills the masked region of one image or a folder of images with a trained generator. */
export async function runRestore(options: RestoreCommandOptions): Promise<RestoreResult> {
  const batchSize = options.batchSize ?? DEFAULT_RESTORE_BATCH_SIZE;
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > MAX_RESTORE_BATCH_SIZE) {
    throw new ConfigInvalidError(`--batch-size ${batchSize}: expected a whole number 1..${MAX_RESTORE_BATCH_SIZE}`);
  }
  await selectBackend(options.backend, options.log);
  if (options.join !== undefined) {
    const key = sealKey((await readJoinFile(options.join)).token);
    await verifyCheckpointSeal(await resolveCheckpointDir(options.checkpoint), key);
  }
  const { generator, config, step, dir } = await loadGeneratorForInference(options.checkpoint);
  options.log.info({ checkpoint: dir, step }, 'loaded generator');
  const size = config.data.imageSize;
  const result = await restoreFiles({
    input: options.input,
    out: options.out,
    // Checkpoints record the eyes box they trained with; older ones trained on UTKFace's crops.
    mask: await maskSpec(options.mask, size, config.data.eyesBox ?? UTKFACE_EYES_BOX, options.seed),
    // The generator's chunk is the batch, so that each batch is one forward pass.
    inpainter: generatorInpainter(generator, 'model', batchSize),
    size,
    batchSize,
  });
  for (const f of result.failed) options.log.error(`${f.file}: ${f.error}`);
  options.log.info({ restored: result.restored.length, failed: result.failed.length }, `restored images written to ${options.out}`);
  return result;
}

async function maskSpec(mask: string, size: number, eyes: EyesBox, seed: number): Promise<MaskSpec> {
  const kind = parseOcclusionKind(mask);
  if (kind) return { kind, seed, eyes };
  if (!/\.(png|jpe?g|webp|bmp|tiff?)$/i.test(mask)) {
    throw new ConfigInvalidError(`--mask '${mask}': expected a mask image (white = hole) or one of ${OCCLUSION_NAMES.join(', ')}`);
  }
  return { mask: await loadMaskFile(mask, size) };
}
