import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selectBackend } from '../src/shared/backend/select';
import { DEFAULT_CONFIG } from '../src/shared/config/presets';
import { UTKFACE_EYES_BOX } from '../src/shared/data/eyes-box';
import { encodePng } from '../src/shared/data/image-codec';
import { drawMask } from '../src/shared/data/occlusion';
import { drawSyntheticFace } from '../src/shared/data/synthetic-face';
import { generatorInpainter } from '../src/shared/eval/generator-inpainter';
import type { Inpainter } from '../src/shared/eval/inpainter';
import { restoreFiles } from '../src/shared/eval/restore-files';
import { buildGenerator } from '../src/shared/model';
import { mixSeed, Rng } from '../src/shared/util/rng';
import { type Bench, type BenchTable, medianSeconds } from './_table';

const BATCH = 32;
const FACES = 2000;
// The file-by-file path runs at about a fifth of the batched one: a subset keeps it to a minute or so.
const FACES_B1 = 200;
const FORWARD_REPS = 5;
const IDENTITY: Inpainter = { name: 'identity', inpaint: async (images) => Float32Array.from(images) };

/** Writes faces 0..count-1 of the generated set as PNG files (128x128, as `synthetic:N` ingests them) into a new folder under `root`. */
async function faceFolder(root: string, name: string, count: number): Promise<string> {
  const dir = join(root, name);
  await mkdir(dir);
  for (let i = 0; i < count; i++) {
    const face = drawSyntheticFace(0, i);
    await writeFile(join(dir, `${String(i).padStart(5, '0')}.png`), await encodePng(face.pixels, face.side, face.side));
  }
  return dir;
}

/** Images per second of bare inpainter calls on a batch of `count` random images with eyes masks, median of `reps` after a warm-up. */
async function forwardImagesPerSecond(inpainter: Inpainter, count: number, size: number, reps: number): Promise<number> {
  const rng = new Rng(mixSeed(1, count));
  const images = Float32Array.from({ length: count * size * size }, () => rng.next());
  const masks = new Uint8Array(count * size * size);
  for (let n = 0; n < count; n++) masks.set(drawMask('eyes', size, UTKFACE_EYES_BOX, rng), n * size * size);
  const seconds = await medianSeconds(reps, async () => {
    await inpainter.inpaint(images, masks, count, size);
  });
  return count / seconds;
}

/** Images per second of `restoreFiles` over every file of `input` at `batchSize`, start to end (listing, reads, forward passes, PNG encodes, durable writes). */
async function restoreImagesPerSecond(input: string, out: string, inpainter: Inpainter, size: number, batchSize: number): Promise<{ count: number; seconds: number }> {
  const started = performance.now();
  const result = await restoreFiles({ input, out, mask: { kind: 'eyes-unconstrained', seed: 1, eyes: UTKFACE_EYES_BOX }, inpainter, size, batchSize });
  const seconds = (performance.now() - started) / 1000;
  if (result.failed.length > 0) throw new Error(`restore bench: ${result.failed.length} files failed, first ${result.failed[0].file}: ${result.failed[0].error}`);
  return { count: result.restored.length, seconds };
}

/**
 * `facefill restore` end to end against the generator's bare forward pass, in one run on one
 * backend: the default preset's generator (untrained: weights do not change the work) at batch
 * 32, restoring a folder of 2,000 generated faces in batches of 32, and file by file (batch 1)
 * on a 200-file subset as the path before batching ran.
 */
export const restoreBench: Bench = {
  name: 'restore',
  async run(): Promise<BenchTable> {
    const backend = await selectBackend('auto');
    const size = DEFAULT_CONFIG.data.imageSize;
    const generator = buildGenerator(DEFAULT_CONFIG.generator, size, DEFAULT_CONFIG.train.seed);
    const root = await mkdtemp(join(tmpdir(), 'facefill-bench-restore-'));
    try {
      const faces = await faceFolder(root, 'faces', FACES);
      const subset = await faceFolder(root, 'subset', FACES_B1);
      const batched = generatorInpainter(generator, 'model', BATCH);
      const single = generatorInpainter(generator, 'model', 1);
      const forward = await forwardImagesPerSecond(batched, BATCH, size, FORWARD_REPS);
      const forwardB1 = await forwardImagesPerSecond(single, 1, size, FORWARD_REPS * 4);
      const restore = await restoreImagesPerSecond(faces, join(root, 'out'), batched, size, BATCH);
      const restoreB1 = await restoreImagesPerSecond(subset, join(root, 'out-b1'), single, size, 1);
      const ioOnly = await restoreImagesPerSecond(faces, join(root, 'out-io'), IDENTITY, size, BATCH);
      const restoreRate = restore.count / restore.seconds;
      const restoreB1Rate = restoreB1.count / restoreB1.seconds;
      return {
        title: `restore, default preset's generator (${size}x${size}), backend ${backend.name}`,
        columns: ['what', 'batch', 'images', 'seconds', 'img/s'],
        rows: [
          ['forward (inpaint of a random batch)', `${BATCH}`, `${BATCH}`, BATCH / forward, forward],
          ['forward (inpaint of a random batch)', '1', '1', 1 / forwardB1, forwardB1],
          ['restoreFiles, folder of PNGs', `${BATCH}`, `${restore.count}`, restore.seconds, restoreRate],
          ['restoreFiles, folder of PNGs (subset)', '1', `${restoreB1.count}`, restoreB1.seconds, restoreB1Rate],
          ['restoreFiles, identity inpainter (I/O only)', `${BATCH}`, `${ioOnly.count}`, ioOnly.seconds, ioOnly.count / ioOnly.seconds],
        ],
        notes: [
          `forward: median of ${FORWARD_REPS} (batch ${BATCH}) and ${FORWARD_REPS * 4} (batch 1) calls after a warm-up; restore: one run, from listing the folder to the last durable write`,
          `inputs: ${FACES} generated faces, 128x128 PNG (resized to ${size} on read); batch 1 (one forward pass per file, as before batching) runs the first ${FACES_B1} of them`,
          'I/O only: the same restore with an inpainter that returns its input: reads (decode, resize), PNG encodes and durable writes alone',
          'a wasm or cpu forward pass never yields: the next batch\'s reads move only between passes, so restore time is about forward + I/O, not the larger of the two',
          `ratio restore / forward at batch ${BATCH}: ${(restoreRate / forward).toFixed(2)} (target >= 0.5); restore batch ${BATCH} / batch 1: ${(restoreRate / restoreB1Rate).toFixed(2)}x`,
          `summary: forward_img_s_b32=${forward.toFixed(1)} restore_img_s=${restoreRate.toFixed(1)} restore_over_forward=${(restoreRate / forward).toFixed(3)} restore_b1_img_s=${restoreB1Rate.toFixed(1)}`,
        ],
      };
    } finally {
      generator.dispose();
      await rm(root, { recursive: true, force: true });
    }
  },
};
