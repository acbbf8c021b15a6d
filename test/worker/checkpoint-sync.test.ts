import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import test from 'ava';
import { CheckpointMerger } from '../../src/coordinator/checkpoint-merger';
import type { FilePiece } from '../../src/shared/control/file-transfer';
import { readFilePieces } from '../../src/shared/control/file-transfer';
import { DiskSpaceLowError, ProtocolViolationError, TransferTooLargeError } from '../../src/shared/errors';
import { createLogger } from '../../src/shared/log';
import { checkpointFiles, latestCheckpoint, loadCheckpoint, saveCheckpoint } from '../../src/shared/train/checkpoint';
import { checkpointLimits } from '../../src/shared/train/checkpoint-limits';
import { checkpointWeightsSha256 } from '../../src/shared/train/checkpoint-weights';
import type { StatFs } from '../../src/shared/util/disk-space';
import { fetchCheckpoint, uploadCheckpoint } from '../../src/worker/checkpoint-sync';
import { untrainedCheckpoint } from '../shared/train/_checkpoints';

test.before(async () => {
  await tf.setBackend('cpu');
});

const tmp = (p: string) => mkdtempSync(join(tmpdir(), `facefill-ckpt-sync-${p}-`));
const log = createLogger('test', 'silent');
const full: StatFs = async () => ({ bsize: 4096, blocks: 1_000_000, bavail: 10 });
const checkpoints = (runDir: string) => (existsSync(join(runDir, 'checkpoints')) ? readdirSync(join(runDir, 'checkpoints')) : []);

/** A coordinator's merger that published a sealed checkpoint of step 2. */
async function sealedRun(): Promise<CheckpointMerger> {
  const content = untrainedCheckpoint(2);
  const m = new CheckpointMerger({
    outDir: tmp('coordinator'),
    keep: 0,
    limits: checkpointLimits(content.config),
    log,
    now: Date.now,
    seal: async (dir) => writeFileSync(join(dir, 'seal.json'), '{"seal":"test"}\n'),
  });
  m.startGeneration(0, 1);
  const dir = await saveCheckpoint(tmp('rank0'), content);
  async function* pieces() {
    for (const name of await checkpointFiles(dir)) for await (const p of readFilePieces(dir, name)) yield { ...p, runId: 'r', generation: 0, rank: 0, session: '', step: 2 };
  }
  await m.receiveUpload(pieces(), () => undefined, true);
  await m.recordDigest(2, 0, await checkpointWeightsSha256(dir), true);
  return m;
}

test('a sealed merged checkpoint downloads whole, seal included, and loads', async (t) => {
  const m = await sealedRun();
  const runDir = tmp('worker');
  await fetchCheckpoint({ downloadCheckpoint: (step) => m.pieces(step) }, 2, runDir, 1000, { limits: checkpointLimits(untrainedCheckpoint(2).config, true) });
  const dir = await latestCheckpoint(runDir);
  t.regex(dir ?? '', /step-000002$/);
  t.is(readFileSync(join(dir ?? '', 'seal.json'), 'utf8'), '{"seal":"test"}\n');
  const loaded = await loadCheckpoint(runDir);
  t.is(loaded.step, 2);
  loaded.networks.generator.dispose();
  loaded.networks.discriminator.dispose();
});

test('a download with a file no checkpoint has, or bigger than the run allows, is refused and leaves nothing', async (t) => {
  const m = await sealedRun();
  const limits = checkpointLimits(untrainedCheckpoint(2).config, true);
  async function* withExtra(): AsyncIterable<FilePiece> {
    yield* m.pieces(2);
    const extra = tmp('extra');
    writeFileSync(join(extra, 'hook.sh'), 'echo\n');
    yield* readFilePieces(extra, 'hook.sh');
  }
  const extraRun = tmp('worker');
  await t.throwsAsync(fetchCheckpoint({ downloadCheckpoint: () => withExtra() }, 2, extraRun, 1000, { limits }), { instanceOf: ProtocolViolationError, message: /'hook\.sh' is not a file this transfer admits/ });
  t.deepEqual(checkpoints(extraRun), []);
  const small = { files: new Map([...limits.files].map(([name, max]) => [name, name.endsWith('weights.bin') ? 100 : max])), totalBytes: limits.totalBytes };
  const bigRun = tmp('worker');
  await t.throwsAsync(fetchCheckpoint({ downloadCheckpoint: (step) => m.pieces(step) }, 2, bigRun, 1000, { limits: small }), { instanceOf: TransferTooLargeError });
  t.deepEqual(checkpoints(bigRun), []);
});

test('a download or a checkpoint save that would leave the disk too full is refused before anything is written', async (t) => {
  const m = await sealedRun();
  const runDir = tmp('worker');
  await t.throwsAsync(fetchCheckpoint({ downloadCheckpoint: (step) => m.pieces(step) }, 2, runDir, 1000, { statfs: full }), { instanceOf: DiskSpaceLowError, message: /download of checkpoint step 2/ });
  t.deepEqual(checkpoints(runDir), []);
  let uploaded = false;
  const client = {
    uploadCheckpoint: async () => {
      uploaded = true;
      return { step: 2, path: '' };
    },
  };
  await t.throwsAsync(uploadCheckpoint(client, { runId: 'r', generation: 0, session: '' }, runDir, untrainedCheckpoint(2), 1000, full), { instanceOf: DiskSpaceLowError, message: /the checkpoint of step 2/ });
  t.false(uploaded);
  t.deepEqual(checkpoints(runDir), []);
});
