import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import test from 'ava';
import { SPLITS } from '../../../src/shared/data/api';
import { loadSplit } from '../../../src/shared/data/dataset';
import { ingest } from '../../../src/shared/data/ingest';
import { TarGzSource } from '../../../src/shared/data/tar-source';

// The real UTKFace archive sits beside the project (../shared/datasets from the project
// root) on development and CI machines only; it is never shipped with the project.
const PROJECT_ROOT = resolve(__dirname, '../../../..');
const ARCHIVE = resolve(PROJECT_ROOT, '../shared/datasets/UTKFace.tar.gz');
const present = existsSync(ARCHIVE);
const title = 'UTKFace ingests from the .tar.gz: every file read, duplicates removed, splits disjoint, shards verified';

(present ? test : test.skip)(present ? title : `${title} (skipped: ${ARCHIVE} is absent)`, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'facefill-utk-'));
  try {
    const out = join(dir, 'utk64');
    const { manifest, report, seconds } = await ingest({ source: new TarGzSource(ARCHIVE), out, size: 64 });
    const { counts } = manifest;
    t.log(`ingest at 64x64: ${counts.filesRead} files in ${seconds.toFixed(1)} s = ${(counts.filesRead / seconds).toFixed(0)} images/s`);
    t.is(counts.filesRead, 22215);
    t.is(counts.kept, 21838);
    t.is(counts.duplicates, 22215 - 21838);
    t.is(report.duplicates.length, counts.duplicates);
    t.is(counts.undecodable, 0);
    t.true(counts.unlabeled > 0, 'the archive has names that break the pattern');
    t.is(report.unlabeled.length, counts.unlabeled);
    for (const [split, fraction] of [['train', 0.8], ['val', 0.1], ['test', 0.1]] as const) {
      const share = manifest.splits[split].count / counts.kept;
      t.true(Math.abs(share - fraction) < 0.01, `${split} holds ${share} of the images`);
    }
    // loadSplit checks every shard's sha256 against the manifest before decoding it.
    const owner = new Map<string, string>();
    const leaks: string[] = [];
    for (const split of SPLITS) {
      const set = await loadSplit(out, split);
      t.is(set.pixels.length, set.count * 64 * 64);
      for (const h of set.hashes) {
        if (owner.has(h)) leaks.push(`${h} in ${owner.get(h)} and ${split}`);
        owner.set(h, split);
      }
    }
    t.deepEqual(leaks, [], 'no content hash is in two splits');
    t.is(owner.size, 21838);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
