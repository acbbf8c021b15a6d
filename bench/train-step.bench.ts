import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selectBackend } from '../src/shared/backend/select';
import { type RunConfig, resolveConfig } from '../src/shared/config';
import type { FaceSet } from '../src/shared/data/api';
import { generatedFaceSet } from '../src/shared/data/generated-face-set';
import { drawSyntheticFace } from '../src/shared/data/synthetic-face';
import { buildDiscriminator, buildGenerator } from '../src/shared/model';
import { makeBatch } from '../src/shared/train/batch';
import { parameterCount, trainableVariables } from '../src/shared/train/flat-gradients';
import { trainOnFaceSet } from '../src/shared/train/train-loop';
import { Trainer } from '../src/shared/train/trainer';
import { type Bench, type BenchTable, medianSeconds } from './_table';

const PRESETS = ['default', 'v3.3'];
const BATCH = 32;
// Steps of the session loop measured at each prefetch depth, after one warm-up step.
const LOOP_STEPS = 4;
const PREFETCH = 2;

// preset, params (M), s/step, img/s, then data and loop s/step without and with prefetch.
type Row = [string, number, number, number, number, number, number, number];

function faces(count: number, size: number): FaceSet {
  const pixels = new Uint8Array(count * size * size);
  const step = 128 / size;
  for (let n = 0; n < count; n++) {
    const f = drawSyntheticFace(0, n);
    for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) pixels[(n * size + y) * size + x] = f.pixels[y * step * 128 + x * step];
  }
  return generatedFaceSet(pixels, count, size, 'bench');
}

/** Mean data phase and wall time per step of `facefill train`'s loop (a TrainingSession) at one prefetch depth. */
async function loopSeconds(config: RunConfig, set: FaceSet, prefetch: 0 | 1 | 2): Promise<{ data: number; wall: number }> {
  const outDir = await mkdtemp(join(tmpdir(), 'facefill-bench-'));
  const data: number[] = [];
  // From the end of the warm-up step to the end of the last one: the loop's steps with what runs between them, not the final checkpoint.
  const at = { warm: 0, last: 0 };
  try {
    await trainOnFaceSet({
      config: { ...config, data: { ...config.data, prefetch }, train: { ...config.train, steps: LOOP_STEPS + 1, checkpointEvery: 0, logEvery: 1_000_000 } },
      set,
      manifestHash: 'bench',
      outDir,
      resume: false,
      onStep: (r) => {
        at.last = performance.now();
        if (r.step === 0) at.warm = at.last;
        else data.push(r.seconds.data);
      },
    });
    return { data: data.reduce((a, b) => a + b, 0) / data.length, wall: (at.last - at.warm) / 1000 / LOOP_STEPS };
  } finally {
    await rm(outDir, { recursive: true, force: true });
  }
}

/**
 * Training throughput of single-process steps, per preset, on the backend `auto` selects; and the
 * session loop's data phase and wall time per step without and with prefetch. Kernels that never
 * yield (wasm, cpu) leave a prefetch no time inside a step: it moves the build to the loop's
 * yield between steps, so the data phase drops but the loop's time does not.
 */
export const trainStepBench: Bench = {
  name: 'train-step',
  async run(): Promise<BenchTable> {
    const backend = await selectBackend('auto');
    const rows: Row[] = [];
    for (const preset of PRESETS) {
      const config = resolveConfig({ preset, overrides: { data: { batchSize: BATCH } } });
      const set = faces(BATCH, config.data.imageSize);
      const networks = { generator: buildGenerator(config.generator, set.size, 1), discriminator: buildDiscriminator(config.discriminator, set.size, 1) };
      const trainer = new Trainer(config, networks);
      const batch = makeBatch(set, Array.from({ length: BATCH }, (_, i) => i), config, 0);
      let step = 0;
      const seconds = await medianSeconds(3, async () => {
        await trainer.step(batch, step++);
      });
      const params = (parameterCount(trainableVariables(networks.generator)) + parameterCount(trainableVariables(networks.discriminator))) / 1e6;
      trainer.dispose();
      networks.generator.dispose();
      networks.discriminator.dispose();
      const unprefetched = await loopSeconds(config, set, 0);
      const prefetched = await loopSeconds(config, set, PREFETCH);
      rows.push([preset, params, seconds, BATCH / seconds, unprefetched.data, prefetched.data, unprefetched.wall, prefetched.wall]);
    }
    const [ours, v33] = rows;
    return {
      title: `train step, batch ${BATCH}, backend ${backend.name} (s/step: median of 3 steps after a warm-up; data and loop: mean of ${LOOP_STEPS} steps of the session loop after a warm-up, data.prefetch 0 and ${PREFETCH})`,
      columns: ['preset', 'params (M)', 's/step', 'img/s', 'data s/step p=0', `data s/step p=${PREFETCH}`, 'loop s/step p=0', `loop s/step p=${PREFETCH}`],
      rows,
      notes: [
        `ratio default / v3.3 img/s: ${(ours[3] / v33[3]).toFixed(2)}x`,
        'data s/step: the step waiting for its batch (built then at p=0, built ahead at p>0); loop s/step: wall time per step of the whole loop, builds included',
        `summary: backend=${backend.name} default_img_s=${ours[3].toFixed(2)} v33_img_s=${v33[3].toFixed(2)} default_over_v33=${(ours[3] / v33[3]).toFixed(3)} data_s_per_step_no_prefetch=${ours[4].toPrecision(3)} data_s_per_step_prefetch=${ours[5].toPrecision(3)} loop_s_per_step_no_prefetch=${ours[6].toPrecision(3)} loop_s_per_step_prefetch=${ours[7].toPrecision(3)}`,
      ],
    };
  },
};
