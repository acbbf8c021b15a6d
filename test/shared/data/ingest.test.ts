import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import sharp from 'sharp';
import { loadSplit } from '../../../src/shared/data/dataset';
import { FolderSource } from '../../../src/shared/data/folder-source';
import { ingest, REPORT_FILE } from '../../../src/shared/data/ingest';
import { manifestHash, readManifest } from '../../../src/shared/data/manifest';
import { ConfigInvalidError, FormatError, ShardChecksumError } from '../../../src/shared/errors';
import { SPLITS } from '../../../src/shared/data/api';

const tmp = () => mkdtempSync(join(tmpdir(), 'facefill-ingest-'));

async function jpeg(seed: number): Promise<Buffer> {
  const raw = Buffer.from(Array.from({ length: 40 * 40 * 3 }, (_, i) => (i * (seed + 3) + seed * 17) % 256));
  return sharp(raw, { raw: { width: 40, height: 40, channels: 3 } }).jpeg().toBuffer();
}

// A folder like UTKFace's: good files, a byte-identical copy, odd names, a corrupt file.
async function makeFolder(): Promise<string> {
  const dir = join(tmp(), 'UTKFace');
  mkdirSync(dir);
  for (let i = 0; i < 30; i++) writeFileSync(join(dir, `${20 + i}_${i % 2}_${i % 5}_2017011617452${i}.jpg.chip.jpg`), await jpeg(i));
  writeFileSync(join(dir, '20_0_0_copy.jpg.chip.jpg'), await jpeg(0));
  writeFileSync(join(dir, '39_1_20170116174525125.jpg.chip.jpg'), await jpeg(100));
  writeFileSync(join(dir, '24_0_1_20170116220224657 .jpg.chip.jpg'), await jpeg(101));
  writeFileSync(join(dir, '30_1_1_broken.jpg.chip.jpg'), (await jpeg(102)).subarray(0, 300));
  writeFileSync(join(dir, 'notes.txt'), 'not an image');
  return dir;
}

test('ingest dedupes, skips and reports corrupt files, keeps odd names, and splits without leaks', async (t) => {
  const out = join(tmp(), 'data');
  const result = await ingest({ source: new FolderSource(await makeFolder()), out, size: 16, shardSize: 8 });
  const m = await readManifest(out);
  t.deepEqual(m.counts, { filesRead: 34, decoded: 32, undecodable: 1, duplicates: 1, kept: 32, unlabeled: 2 });
  const report = JSON.parse(readFileSync(join(out, REPORT_FILE), 'utf8'));
  t.deepEqual(report.undecodable.map((u: { name: string }) => u.name), ['30_1_1_broken.jpg.chip.jpg']);
  t.deepEqual(report.duplicates, [{ name: '20_0_0_copy.jpg.chip.jpg', sameAs: '20_0_0_20170116174520.jpg.chip.jpg' }]);
  t.is(report.unlabeled.length, 2);
  t.is(m.splits.train.count + m.splits.val.count + m.splits.test.count, 32);
  t.is(result.manifest.labels.gender.unknown, 2);

  const seen = new Map<string, string>();
  for (const split of SPLITS) {
    const set = await loadSplit(out, split);
    t.is(set.count, m.splits[split].count);
    t.is(set.pixels.length, set.count * 16 * 16);
    for (const h of set.hashes) {
      t.false(seen.has(h), `hash ${h} in ${seen.get(h)} and ${split}`);
      seen.set(h, split);
    }
  }
});

test('the same source ingests to the same shards and manifest hash', async (t) => {
  const folder = await makeFolder();
  const a = join(tmp(), 'a');
  const b = join(tmp(), 'b');
  await ingest({ source: new FolderSource(folder), out: a, size: 16 });
  await ingest({ source: new FolderSource(folder), out: b, size: 16 });
  const [ma, mb] = [await readManifest(a), await readManifest(b)];
  t.deepEqual(ma.splits, mb.splits);
  t.is(await manifestHash(a), await manifestHash(b));
});

test('a tampered or truncated shard is detected when read', async (t) => {
  const out = join(tmp(), 'data');
  await ingest({ source: new FolderSource(await makeFolder()), out, size: 16, split: [1, 0, 0] });
  const shard = join(out, (await readManifest(out)).splits.train.shards[0].file);
  const bytes = readFileSync(shard);
  bytes[bytes.length - 5] ^= 0xff;
  writeFileSync(shard, bytes);
  await t.throwsAsync(loadSplit(out, 'train'), { instanceOf: ShardChecksumError, message: /train-00000\.ffs/ });
  writeFileSync(shard, bytes.subarray(0, 100));
  await t.throwsAsync(loadSplit(out, 'train'), { instanceOf: ShardChecksumError });
});

test('ingest never overwrites an existing folder, and a missing dataset is a clear error', async (t) => {
  const out = tmp();
  await t.throwsAsync(ingest({ source: new FolderSource(out), out, size: 16 }), { instanceOf: ConfigInvalidError, message: /already exists/ });
  await t.throwsAsync(loadSplit(join(out, 'nothing'), 'train'), { instanceOf: FormatError, message: /facefill ingest/ });
});
