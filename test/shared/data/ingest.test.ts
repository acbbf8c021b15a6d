import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import sharp from 'sharp';
import { SPLITS } from '../../../src/shared/data/api';
import { loadSplit } from '../../../src/shared/data/dataset';
import { measureEyesBox, UTKFACE_EYES_BOX } from '../../../src/shared/data/eyes-box';
import { FolderSource } from '../../../src/shared/data/folder-source';
import { decodeGray } from '../../../src/shared/data/image-codec';
import { ingest, type IngestCounts, type IngestReport, REPORT_FILE } from '../../../src/shared/data/ingest';
import { manifestHash, readManifest, sha256Hex } from '../../../src/shared/data/manifest';
import { SyntheticSource } from '../../../src/shared/data/synthetic-source';
import { ConfigInvalidError, FormatError, ShardChecksumError } from '../../../src/shared/errors';

const tmp = () => mkdtempSync(join(tmpdir(), 'facefill-ingest-'));

async function jpeg(seed: number): Promise<Buffer> {
  const raw = Buffer.from(Array.from({ length: 40 * 40 * 3 }, (_, i) => (i * (seed + 3) + seed * 17) % 256));
  return sharp(raw, { raw: { width: 40, height: 40, channels: 3 } }).jpeg().toBuffer();
}

const GOOD = 30;
const COPY = '20_0_0_copy.jpg.chip.jpg';
const ODD = ['39_1_20170116174525125.jpg.chip.jpg', '55_0_0_20170116232725357jpg.chip.jpg', '24_0_1_20170116220224657 .jpg.chip.jpg'];
const BROKEN = '30_1_1_broken.jpg.chip.jpg';
const goodName = (i: number) => `${20 + i}_${i % 2}_${i % 5}_2017011617452${String(i).padStart(2, '0')}.jpg.chip.jpg`;

// A folder like UTKFace's: good files, a byte-identical copy, odd names, a corrupt file, a non-image.
async function makeFolder(): Promise<string> {
  const dir = join(tmp(), 'UTKFace');
  mkdirSync(dir);
  for (let i = 0; i < GOOD; i++) writeFileSync(join(dir, goodName(i)), await jpeg(i));
  writeFileSync(join(dir, COPY), await jpeg(0));
  for (const [k, name] of ODD.entries()) writeFileSync(join(dir, name), await jpeg(100 + k));
  writeFileSync(join(dir, BROKEN), (await jpeg(102)).subarray(0, 300));
  writeFileSync(join(dir, 'notes.txt'), 'not an image');
  return dir;
}

test('ingest dedupes, skips and reports corrupt files, keeps odd names unlabeled, and splits without leaks', async (t) => {
  const folder = await makeFolder();
  const out = join(tmp(), 'data');
  const progress: IngestCounts[] = [];
  const result = await ingest({ source: new FolderSource(folder), out, size: 16, shardSize: 8, onProgress: (c) => progress.push({ ...c }) });
  const m = await readManifest(out);
  t.deepEqual(m, result.manifest);
  const read = GOOD + 1 + ODD.length + 1;
  const kept = GOOD + ODD.length;
  t.deepEqual(m.counts, { filesRead: read, decoded: kept, undecodable: 1, duplicates: 1, kept, unlabeled: ODD.length });
  t.deepEqual(progress.at(-1), { filesRead: read, decoded: kept, undecodable: 1, duplicates: 1 });

  const report = JSON.parse(readFileSync(join(out, REPORT_FILE), 'utf8')) as IngestReport;
  t.deepEqual(report.undecodable.map((u) => u.name), [BROKEN]);
  t.regex(report.undecodable[0].reason, /30_1_1_broken/);
  t.deepEqual(report.duplicates, [{ name: COPY, sameAs: goodName(0) }]);
  t.deepEqual(report.unlabeled, [...ODD].sort());

  for (const key of ['gender', 'race'] as const) {
    t.is(m.labels[key].unknown, ODD.length);
    t.is(Object.values(m.labels[key]).reduce((a, b) => a + b, 0), kept);
  }
  t.is(m.labels.age['20-29'], 10);
  t.is(m.labels.gender.female, GOOD / 2);
  t.is(m.imageSize, 16);
  t.regex(m.source, /UTKFace/);

  const owner = new Map<string, string>();
  for (const split of SPLITS) {
    const set = await loadSplit(out, split);
    t.is(set.count, m.splits[split].count);
    t.is(set.pixels.length, set.count * 16 * 16);
    t.deepEqual([...set.hashes], [...set.hashes].sort(), `${split} is in hash order`);
    t.true(m.splits[split].shards.every((s) => s.count <= 8));
    for (const [i, h] of set.hashes.entries()) {
      t.false(owner.has(h), `hash ${h} in ${owner.get(h)} and ${split}`);
      owner.set(h, split);
      // Each record holds what decoding its own source file gives: names, hashes and pixels stay together.
      const bytes = readFileSync(join(folder, set.names[i]));
      t.is(sha256Hex(bytes), h);
      t.deepEqual(set.pixels.subarray(i * 256, (i + 1) * 256), await decodeGray(bytes, 16, set.names[i]));
    }
  }
  t.is(owner.size, kept);
  t.deepEqual(readdirSync(join(out, '..')), ['data'], 'no temporary folder is left behind');
});

test('the same source ingests to the same shards and manifest hash', async (t) => {
  const folder = await makeFolder();
  const a = join(tmp(), 'a');
  const b = join(tmp(), 'b');
  await ingest({ source: new FolderSource(folder), out: a, size: 16, concurrency: 1 });
  await ingest({ source: new FolderSource(folder), out: b, size: 16, concurrency: 16 });
  t.is(await manifestHash(a), await manifestHash(b));
  t.deepEqual(readFileSync(join(a, REPORT_FILE)), readFileSync(join(b, REPORT_FILE)));
});

test('a tampered, truncated or missing shard is detected when read', async (t) => {
  const out = join(tmp(), 'data');
  await ingest({ source: new FolderSource(await makeFolder()), out, size: 16, split: [1, 0, 0] });
  const shard = join(out, (await readManifest(out)).splits.train.shards[0].file);
  const good = readFileSync(shard);
  const flipped = Buffer.from(good);
  flipped[flipped.length - 5] ^= 0x01;
  writeFileSync(shard, flipped);
  await t.throwsAsync(loadSplit(out, 'train'), { instanceOf: ShardChecksumError, message: /train-00000\.ffs/ });
  writeFileSync(shard, good.subarray(0, 100));
  await t.throwsAsync(loadSplit(out, 'train'), { instanceOf: ShardChecksumError });
  writeFileSync(shard, good);
  t.is((await loadSplit(out, 'train')).count, GOOD + ODD.length);
  const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
  manifest.splits.train.shards[0].file = 'train-00099.ffs';
  writeFileSync(join(out, 'manifest.json'), JSON.stringify(manifest));
  await t.throwsAsync(loadSplit(out, 'train'), { instanceOf: FormatError, message: /train-00099\.ffs/ });
});

test('a manifest that lies about counts or points outside its folder is refused', async (t) => {
  const out = join(tmp(), 'data');
  await ingest({ source: new FolderSource(await makeFolder()), out, size: 16, split: [1, 0, 0] });
  const original = readFileSync(join(out, 'manifest.json'), 'utf8');
  const edit = (change: (m: { imageSize: number; splits: { train: { count: number; shards: { file: string }[] } } }) => void) => {
    const m = JSON.parse(original);
    change(m);
    writeFileSync(join(out, 'manifest.json'), JSON.stringify(m));
  };
  edit((m) => (m.splits.train.count += 1));
  await t.throwsAsync(loadSplit(out, 'train'), { instanceOf: FormatError, message: new RegExp(`lists ${GOOD + ODD.length + 1} train images`) });
  edit((m) => (m.imageSize = 32));
  await t.throwsAsync(loadSplit(out, 'train'), { instanceOf: FormatError, message: /16x16.*32x32/ });
  edit((m) => (m.splits.train.shards[0].file = '../elsewhere.ffs'));
  await t.throwsAsync(loadSplit(out, 'train'), { instanceOf: FormatError, message: /shards\.0\.file: expected a plain file name/ });
  writeFileSync(join(out, 'manifest.json'), '{ not json');
  await t.throwsAsync(loadSplit(out, 'train'), { instanceOf: FormatError, message: /not valid JSON/ });
});

test("ingest stores the eyes box measured on the train split's faces, and every split loads with it", async (t) => {
  const out = join(tmp(), 'faces');
  await ingest({ source: new SyntheticSource(200, 3), out, size: 64 });
  const { eyesBox } = await readManifest(out);
  const train = await loadSplit(out, 'train');
  t.truthy(eyesBox);
  t.deepEqual(eyesBox, measureEyesBox(train));
  for (const split of SPLITS) t.deepEqual((await loadSplit(out, split)).eyesBox, eyesBox);
});

test("a dataset with no eyes to measure, or ingested before boxes were measured, loads with UTKFace's box; a bad box is refused", async (t) => {
  const out = join(tmp(), 'data');
  await ingest({ source: new FolderSource(await makeFolder()), out, size: 16, split: [1, 0, 0] });
  const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
  t.is(manifest.eyesBox, null, 'the noise images show no eyes');
  t.deepEqual((await loadSplit(out, 'train')).eyesBox, UTKFACE_EYES_BOX);
  delete manifest.eyesBox;
  writeFileSync(join(out, 'manifest.json'), JSON.stringify(manifest));
  t.deepEqual((await loadSplit(out, 'train')).eyesBox, UTKFACE_EYES_BOX);
  writeFileSync(join(out, 'manifest.json'), JSON.stringify({ ...manifest, eyesBox: { top: 0.4, bottom: 0.2, left: 0.1, right: 0.9 } }));
  await t.throwsAsync(loadSplit(out, 'train'), { instanceOf: FormatError, message: /eyesBox: needs top < bottom/ });
});

test('ingest never overwrites an existing folder, and a missing dataset is a clear error', async (t) => {
  const out = tmp();
  await t.throwsAsync(ingest({ source: new FolderSource(out), out, size: 16 }), { instanceOf: ConfigInvalidError, message: /already exists/ });
  await t.throwsAsync(loadSplit(join(out, 'nothing'), 'train'), { instanceOf: FormatError, message: /facefill ingest/ });
});
