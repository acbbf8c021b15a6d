import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import test from 'ava';
import { pack } from 'tar-stream';
import { runIngest } from '../../src/commands/ingest';
import { SPLITS } from '../../src/shared/data/api';
import { loadSplit } from '../../src/shared/data/dataset';
import { manifestHash } from '../../src/shared/data/manifest';
import { SyntheticSource } from '../../src/shared/data/synthetic-source';
import { ConfigInvalidError } from '../../src/shared/errors';
import { createLogger } from '../../src/shared/log';

const root = mkdtempSync(join(tmpdir(), 'facefill-ingest-cmd-'));
const log = createLogger('test', 'silent');

test('ingest of synthetic:N builds a loadable dataset and reports its throughput', async (t) => {
  const out = join(root, 'synthetic');
  const summary = await runIngest({ source: 'synthetic:40', out, size: 32, seed: 5, progress: true, log });
  t.is(summary.manifest.counts.filesRead, 40);
  t.is(summary.manifest.counts.kept, 40);
  t.is(summary.manifest.counts.unlabeled, 0);
  t.true(summary.imagesPerSecond > 0);
  t.regex(summary.manifest.source, /seed 5/);
  let total = 0;
  for (const split of SPLITS) {
    const set = await loadSplit(out, split);
    t.is(set.size, 32);
    total += set.count;
  }
  t.is(total, 40);
});

test('the seed decides the generated faces', async (t) => {
  const ingestWith = async (name: string, seed: number) => {
    await runIngest({ source: 'synthetic:10', out: join(root, name), size: 16, seed, log });
    return manifestHash(join(root, name));
  };
  const a = await ingestWith('seed1a', 1);
  t.is(await ingestWith('seed1b', 1), a);
  t.not(await ingestWith('seed2', 2), a);
});

test('ingest reads a UTKFace-style .tar.gz, with split fractions', async (t) => {
  const archive = join(root, 'faces.tar.gz');
  const tar = pack();
  tar.entry({ name: 'UTKFace/', type: 'directory' });
  for await (const file of new SyntheticSource(12, 8).files()) tar.entry({ name: `UTKFace/${file.name}` }, file.bytes);
  tar.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of tar) chunks.push(chunk as Buffer);
  writeFileSync(archive, gzipSync(Buffer.concat(chunks)));
  const summary = await runIngest({ source: archive, out: join(root, 'from-tar'), size: 16, split: [0.5, 0.5, 0], progress: true, log });
  t.is(summary.manifest.counts.kept, 12);
  t.is(summary.manifest.splits.test.count, 0);
  t.deepEqual(summary.manifest.splitFractions, [0.5, 0.5, 0]);
});

test('a source that is none of the known kinds fails before anything is written', async (t) => {
  const out = join(root, 'never');
  await t.throwsAsync(runIngest({ source: 'http://example.com/faces.zip', out, size: 16, log }), { instanceOf: ConfigInvalidError, message: /example\.com/ });
  t.false(existsSync(out));
});
