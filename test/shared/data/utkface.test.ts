import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import test from 'ava';
import { SPLITS } from '../../../src/shared/data/api';
import { loadSplit } from '../../../src/shared/data/dataset';
import { ingest } from '../../../src/shared/data/ingest';
import { TarGzSource } from '../../../src/shared/data/tar-source';

// The real UTKFace archive sits beside the project on development and CI machines only.
const ARCHIVE = resolve(__dirname, '../../../../../shared/datasets/UTKFace.tar.gz');
const maybe = existsSync(ARCHIVE) ? test : test.skip;
if (!existsSync(ARCHIVE)) console.log(`UTKFace test skipped: ${ARCHIVE} is absent (it is not shipped with the project)`);

maybe('UTKFace ingests from the .tar.gz: every file read, duplicates removed, splits disjoint', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'facefill-utk-'));
  try {
    const out = join(dir, 'utk64');
    const { manifest, seconds } = await ingest({ source: new TarGzSource(ARCHIVE), out, size: 64 });
    t.log(`ingest: ${manifest.counts.filesRead} files in ${seconds.toFixed(1)} s = ${(manifest.counts.filesRead / seconds).toFixed(0)} files/s`);
    t.is(manifest.counts.filesRead, 22215);
    t.is(manifest.counts.kept, 21838);
    t.is(manifest.counts.duplicates, 22215 - 21838);
    t.is(manifest.counts.undecodable, 0);
    t.true(manifest.counts.unlabeled > 0, 'the archive has names that break the pattern');
    const owner = new Map<string, string>();
    for (const split of SPLITS) {
      for (const h of (await loadSplit(out, split)).hashes) {
        t.false(owner.has(h), `content hash ${h} is in ${owner.get(h)} and ${split}`);
        owner.set(h, split);
      }
    }
    t.is(owner.size, 21838);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
