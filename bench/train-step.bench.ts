import { selectBackend } from '../src/shared/backend/select';
import { resolveConfig } from '../src/shared/config';
import type { FaceSet } from '../src/shared/data/api';
import { drawSyntheticFace } from '../src/shared/data/synthetic-face';
import { buildDiscriminator, buildGenerator } from '../src/shared/model';
import { makeBatch } from '../src/shared/train/batch';
import { parameterCount, trainableVariables } from '../src/shared/train/flat-gradients';
import { Trainer } from '../src/shared/train/trainer';
import { type Bench, type BenchTable, medianSeconds } from './_table';

const PRESETS = ['default', 'v3.3'];
const BATCH = 32;

function faces(count: number, size: number): FaceSet {
  const pixels = new Uint8Array(count * size * size);
  const step = 128 / size;
  for (let n = 0; n < count; n++) {
    const f = drawSyntheticFace(0, n);
    for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) pixels[(n * size + y) * size + x] = f.pixels[y * step * 128 + x * step];
  }
  const none = { age: null, gender: null, race: null };
  return { size, count, pixels, hashes: Array(count).fill(''), labels: Array(count).fill(none), names: Array(count).fill('') };
}

/** Training throughput of single-process steps, per preset, on the backend `auto` selects. */
export const trainStepBench: Bench = {
  name: 'train-step',
  async run(): Promise<BenchTable> {
    const backend = await selectBackend('auto');
    const rows: (string | number)[][] = [];
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
      rows.push([preset, (parameterCount(trainableVariables(networks.generator)) + parameterCount(trainableVariables(networks.discriminator))) / 1e6, seconds, BATCH / seconds]);
      trainer.dispose();
      networks.generator.dispose();
      networks.discriminator.dispose();
    }
    return {
      title: `train step, batch ${BATCH}, backend ${backend.name} (median of 3 steps after a warm-up)`,
      columns: ['preset', 'params (M)', 's/step', 'img/s'],
      rows,
      notes: [
        `ratio default / v3.3 img/s: ${((rows[0][3] as number) / (rows[1][3] as number)).toFixed(2)}x`,
        `summary: backend=${backend.name} default_img_s=${(rows[0][3] as number).toFixed(2)} v33_img_s=${(rows[1][3] as number).toFixed(2)} default_over_v33=${((rows[0][3] as number) / (rows[1][3] as number)).toFixed(3)}`,
      ],
    };
  },
};
