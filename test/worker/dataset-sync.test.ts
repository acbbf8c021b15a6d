import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { readFilePieces } from '../../src/shared/control/file-transfer';
import type { DatasetPlan } from '../../src/shared/control/wire';
import { DiskSpaceLowError, TransferTooLargeError } from '../../src/shared/errors';
import { createLogger } from '../../src/shared/log';
import type { StatFs } from '../../src/shared/util/disk-space';
import { obtainDataset } from '../../src/worker/dataset-sync';

const tmp = (p: string) => mkdtempSync(join(tmpdir(), `facefill-dataset-sync-${p}-`));
const log = createLogger('test', 'silent');
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A coordinator's dataset folder with one shard, the plan naming it, and a client serving that folder. */
function served(shard: Buffer, planned: Buffer = shard) {
  const root = tmp('coordinator');
  writeFileSync(join(root, 'train-00000.ffs'), shard);
  const plan: DatasetPlan = { manifestSha256: sha256(Buffer.from('manifest')), files: [{ name: 'train-00000.ffs', bytes: planned.length, sha256: sha256(planned) }] };
  const client = { downloadDataset: (_runId: string, name: string) => readFilePieces(root, name, 1024) };
  return { plan, client };
}

test('the planned files download into the cache', async (t) => {
  const { plan, client } = served(Buffer.alloc(5000, 7));
  const cacheDir = tmp('cache');
  const dir = await obtainDataset({ plan, runId: 'r', client, cacheDir, timeoutMs: 1000, log });
  t.deepEqual(readdirSync(dir), ['train-00000.ffs']);
});

test('a file larger than the plan says is cut off at its planned size and refused', async (t) => {
  const { plan, client } = served(Buffer.alloc(50_000, 7), Buffer.alloc(5000, 7));
  const cacheDir = tmp('cache');
  await t.throwsAsync(obtainDataset({ plan, runId: 'r', client, cacheDir, timeoutMs: 1000, log }), { instanceOf: TransferTooLargeError, message: /train-00000\.ffs: \d+ bytes and counting, but this transfer admits at most 5000 bytes/ });
  t.deepEqual(readdirSync(join(cacheDir, plan.manifestSha256)), []);
});

test('a download that would leave the disk too full is refused before it starts', async (t) => {
  const { plan, client } = served(Buffer.alloc(5000, 7));
  const cacheDir = tmp('cache');
  let asked = 0;
  const counting = { downloadDataset: (runId: string, name: string) => (asked++, client.downloadDataset(runId, name)) };
  const full: StatFs = async () => ({ bsize: 4096, blocks: 1_000_000, bavail: 10 });
  await t.throwsAsync(obtainDataset({ plan, runId: 'r', client: counting, cacheDir, timeoutMs: 1000, log, statfs: full }), { instanceOf: DiskSpaceLowError, message: /download of 1 dataset files/ });
  t.is(asked, 0);
  t.false(existsSync(join(cacheDir, plan.manifestSha256, 'train-00000.ffs')));
});
