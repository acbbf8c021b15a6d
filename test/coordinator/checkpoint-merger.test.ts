import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import test from 'ava';
import type { CheckpointPiece } from '../../src/coordinator/api';
import { CheckpointMerger, type MergerOptions } from '../../src/coordinator/checkpoint-merger';
import { readFilePieces } from '../../src/shared/control/file-transfer';
import {
  CheckpointDigestMismatchError,
  CheckpointError,
  CheckpointExistsError,
  CheckpointUploadClosedError,
  DiskSpaceLowError,
  GrpcStatus,
  ProtocolViolationError,
  TransferTooLargeError,
} from '../../src/shared/errors';
import { createLogger } from '../../src/shared/log';
import { buildDiscriminator, buildGenerator } from '../../src/shared/model';
import { CHECKPOINT_FILES, checkpointFiles, latestCheckpoint, saveCheckpoint } from '../../src/shared/train/checkpoint';
import { checkpointLimits } from '../../src/shared/train/checkpoint-limits';
import { weightsSha256 } from '../../src/shared/train/replica-weights';
import { tinyConfig } from '../shared/train/_tiny';

test.before(async () => {
  await tf.setBackend('cpu');
});

const tmp = (p: string) => mkdtempSync(join(tmpdir(), `facefill-merger-${p}-`));
const log = createLogger('test', 'silent');
const config = tinyConfig();
const limits = checkpointLimits(config);
const accept = () => undefined;

/** A real checkpoint of `step` saved by a worker, with the digest its ranks would report; `seed` gives other weights. */
async function saved(step: number, seed = 1): Promise<{ dir: string; sha256: string }> {
  const networks = { generator: buildGenerator(config.generator, 16, seed), discriminator: buildDiscriminator(config.discriminator, 16, seed) };
  const dir = await saveCheckpoint(tmp('worker'), { step, config, manifestHash: 'm', networks, optimizers: { generator: [], discriminator: [] } });
  const sha256 = weightsSha256(networks);
  networks.generator.dispose();
  networks.discriminator.dispose();
  return { dir, sha256 };
}

/** Rank 0's upload of the checkpoint in `dir` as `step` (its files, or `names`), in pieces of `pieceBytes`. */
async function* upload(dir: string, step: number, names?: string[], pieceBytes = 4096): AsyncGenerator<CheckpointPiece> {
  for (const name of names ?? (await checkpointFiles(dir))) {
    for await (const p of readFilePieces(dir, name, pieceBytes)) yield { ...p, runId: 'run', generation: 0, rank: 0, session: '', step };
  }
}

/** A merger of a two-rank ring over a fresh run folder. */
function merger(over: Partial<MergerOptions> = {}): { m: CheckpointMerger; out: string } {
  const out = tmp('out');
  const m = new CheckpointMerger({ outDir: out, keep: 0, limits, log, now: Date.now, ...over });
  m.startGeneration(0, 2);
  return { m, out };
}

/** Both ranks report `sha256` for `step`. */
async function agree(m: CheckpointMerger, step: number, sha256: string): Promise<void> {
  for (const rank of [0, 1]) await m.recordDigest(step, rank, sha256, true);
}

/** Saves the checkpoint of `step`, has every rank agree on it and uploads it: merged. */
async function merged(m: CheckpointMerger, step: number): Promise<{ dir: string; sha256: string }> {
  const ckpt = await saved(step);
  await agree(m, step, ckpt.sha256);
  await m.receiveUpload(upload(ckpt.dir, step), accept, true);
  return ckpt;
}

/** Every file under the run's checkpoints folder with its sha256: what a refused upload must leave as it was. */
function published(out: string): Record<string, string> {
  const root = join(out, 'checkpoints');
  const files: Record<string, string> = {};
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else files[relative(root, path)] = createHash('sha256').update(readFileSync(path)).digest('hex');
    }
  };
  if (existsSync(root)) walk(root);
  return files;
}

/** Hidden entries of the checkpoints folder: what an upload in progress or a failed one would leave. */
const leftovers = (out: string) => (existsSync(join(out, 'checkpoints')) ? readdirSync(join(out, 'checkpoints')).filter((n) => n.startsWith('.')) : []);

/** `source` until `after` pieces were sent; then it waits for `open()`. */
function gated<T>(source: AsyncIterable<T>, after: number): { pieces: AsyncIterable<T>; reached: Promise<void>; open: () => void } {
  let open = () => undefined as void;
  let reach = () => undefined as void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const reached = new Promise<void>((resolve) => (reach = resolve));
  async function* pieces() {
    let sent = 0;
    for await (const p of source) {
      if (sent++ === after) {
        reach();
        await gate;
      }
      yield p;
    }
  }
  return { pieces: pieces(), reached, open: () => open() };
}

test('an upload is published once every rank agrees and its weights are the agreed ones; the seal is written before latest names it, and served after meta.json', async (t) => {
  const sealedAt: { dir: string; latest: string | null }[] = [];
  const seal = async (dir: string) => {
    sealedAt.push({ dir, latest: await latestCheckpoint(out) });
    writeFileSync(join(dir, 'seal.json'), '{"sealed":true}\n');
  };
  const { m, out } = merger({ seal });
  const ckpt = await saved(2);
  const receipt = await m.receiveUpload(upload(ckpt.dir, 2), accept, true);
  t.is(m.latest, null, 'not merged before the ranks reported');
  t.regex(receipt.path, /\.incoming-/);
  await agree(m, 2, ckpt.sha256);
  t.is(m.latest?.step, 2);
  t.is(await latestCheckpoint(out), m.latest?.dir ?? null);
  t.is(sealedAt.length, 1);
  t.regex(sealedAt[0].dir, /\.incoming-/, 'sealed in the upload folder, before it took its published name');
  t.is(sealedAt[0].latest, null, 'latest did not name it yet');
  const names: string[] = [];
  for await (const p of m.pieces(2)) if (p.last) names.push(p.name);
  t.deepEqual(names.slice(-2), ['meta.json', 'seal.json']);
  t.deepEqual(leftovers(out), []);
});

test('the swap attack: a merged step uploaded again, with other bytes and matching digests, is refused and the published files stay as they were', async (t) => {
  const { m, out } = merger();
  await merged(m, 2);
  const before = published(out);
  const forged = await saved(2, 99);
  // Even a new ring whose every rank vouches for the forged weights changes nothing: the step is merged.
  m.startGeneration(1, 2);
  await agree(m, 2, forged.sha256);
  const err = await t.throwsAsync(m.receiveUpload(upload(forged.dir, 2), accept, true), { instanceOf: CheckpointExistsError, message: /step 2 refused: it is merged already .* immutable/ });
  t.is(err?.grpcStatus, GrpcStatus.ALREADY_EXISTS);
  t.deepEqual(published(out), before);
  t.deepEqual(leftovers(out), []);
  // Nor after the run closed.
  await m.close('the run finished');
  await t.throwsAsync(m.receiveUpload(upload(forged.dir, 2), accept, true), { instanceOf: CheckpointUploadClosedError, message: /closed \(the run finished\)/ });
  t.deepEqual(published(out), before);
});

test("an upload whose header names a new step but whose files are a merged step's is refused: the published step is untouched", async (t) => {
  const { m, out } = merger();
  await merged(m, 2);
  const before = published(out);
  const forged = await saved(2, 99);
  await t.throwsAsync(m.receiveUpload(upload(forged.dir, 4), accept, true), { instanceOf: ProtocolViolationError, message: /upload for step 4 holds a checkpoint of step 2/ });
  t.deepEqual(published(out), before);
  t.deepEqual(leftovers(out), []);
});

test('an upload whose weights are not the digest every rank agreed on is refused, named with both digests, and removed: digests first or upload first', async (t) => {
  const real = await saved(2);
  const tampered = await saved(2, 7);
  {
    const { m, out } = merger();
    await agree(m, 2, real.sha256);
    const err = await t.throwsAsync(m.receiveUpload(upload(tampered.dir, 2), accept, true), { instanceOf: CheckpointDigestMismatchError });
    t.is(err?.grpcStatus, GrpcStatus.DATA_LOSS);
    t.is(err?.message, `the uploaded checkpoint of step 2 holds weights with sha256 ${tampered.sha256}, but every rank reported ${real.sha256}`);
    t.is(m.latest, null);
    t.deepEqual(published(out), {});
  }
  {
    const { m, out } = merger();
    await m.receiveUpload(upload(tampered.dir, 2), accept, true);
    await m.recordDigest(2, 0, real.sha256, true);
    await t.throwsAsync(m.recordDigest(2, 1, real.sha256, true), { instanceOf: CheckpointDigestMismatchError, message: /step 2 .* sha256 [0-9a-f]{64}, but every rank reported [0-9a-f]{64}/ });
    t.is(m.latest, null);
    t.deepEqual(published(out), {}, 'the waiting upload is gone');
  }
});

test('bytes beyond a file bound or the total bound are refused before they are written', async (t) => {
  const ckpt = await saved(2);
  const smaller = checkpointLimits(tinyConfig({ generator: { baseFilters: 2, maxFilters: 4 } }));
  const { m, out } = merger({ limits: smaller });
  const err = await t.throwsAsync(m.receiveUpload(upload(ckpt.dir, 2), accept, true), { instanceOf: TransferTooLargeError, message: /generator\/weights\.bin: \d+ bytes and counting, but this transfer admits at most \d+ bytes/ });
  t.is(err?.grpcStatus, GrpcStatus.RESOURCE_EXHAUSTED);
  t.deepEqual(published(out), {});
  const total = merger({ limits: { files: limits.files, totalBytes: 10_000 } });
  await t.throwsAsync(total.m.receiveUpload(upload(ckpt.dir, 2), accept, true), { instanceOf: TransferTooLargeError, message: /more than the 10000 bytes it admits in all/ });
  t.deepEqual(published(total.out), {});
});

test('a file that is no part of a checkpoint, one sent twice, or a missing one is refused and nothing is left', async (t) => {
  const ckpt = await saved(2);
  writeFileSync(join(ckpt.dir, 'run.sh'), '#!/bin/sh\n');
  const files = await checkpointFiles(ckpt.dir);
  const cases: [string, string[], RegExp][] = [
    ['unknown', [...files.slice(0, -1), 'run.sh', 'meta.json'], /'run\.sh' is not a file this transfer admits/],
    ['duplicate', [...files.slice(0, 3), files[0], ...files.slice(3)], /'generator\/model\.json' was sent twice/],
    ['missing', files.filter((f) => f !== 'discriminator/optimizer.bin'), /cannot read discriminator\/optimizer\.bin/],
  ];
  for (const [what, names, message] of cases) {
    const { m, out } = merger();
    await agree(m, 2, ckpt.sha256);
    await t.throwsAsync(m.receiveUpload(upload(ckpt.dir, 2, names), accept, true), { message }, what);
    t.deepEqual(published(out), {}, what);
    t.is(m.latest, null, what);
  }
});

test("a meta.json that lists a path outside the checkpoint's files is refused before that path is read", async (t) => {
  const { m, out } = merger();
  const ckpt = await saved(2);
  const metaPath = join(ckpt.dir, 'meta.json');
  const meta = JSON.parse(readFileSync(metaPath, 'utf8')) as { files: { path: string; bytes: number; sha256: string }[] };
  meta.files.push({ path: '../../../../etc/hostname', bytes: 0, sha256: '0'.repeat(64) });
  writeFileSync(metaPath, JSON.stringify(meta));
  await t.throwsAsync(m.receiveUpload(upload(ckpt.dir, 2, [...CHECKPOINT_FILES]), accept, true), { instanceOf: CheckpointError, message: /meta\.json lists \.\.\/\.\.\/\.\.\/\.\.\/etc\/hostname, .*; expected / });
  t.deepEqual(published(out), {});
});

test('a second upload of a step while one is in flight, or once one waits for digests, is refused; the first goes on', async (t) => {
  const { m, out } = merger();
  const ckpt = await saved(2);
  const first = gated(upload(ckpt.dir, 2, undefined, 1024), 3);
  const receiving = m.receiveUpload(first.pieces, accept, true);
  await first.reached;
  await t.throwsAsync(m.receiveUpload(upload(ckpt.dir, 2), accept, true), { instanceOf: CheckpointExistsError, message: /another upload for it is in progress/ });
  first.open();
  await receiving;
  await t.throwsAsync(m.receiveUpload(upload(ckpt.dir, 2), accept, true), { instanceOf: CheckpointExistsError, message: /uploaded already and waits for the ranks' digests/ });
  await agree(m, 2, ckpt.sha256);
  t.is(m.latest?.step, 2);
  t.deepEqual(leftovers(out), []);
});

test('an upload whose sender vanishes midway (its stream throws) leaves no files', async (t) => {
  const { m, out } = merger();
  const ckpt = await saved(2);
  async function* vanishing(): AsyncGenerator<CheckpointPiece> {
    let n = 0;
    for await (const p of upload(ckpt.dir, 2, undefined, 1024)) {
      if (n++ === 5) throw new Error('the connection to rank 0 was reset');
      yield p;
    }
  }
  await t.throwsAsync(m.receiveUpload(vanishing(), accept, true), { message: 'the connection to rank 0 was reset' });
  t.deepEqual(leftovers(out), []);
  // The step is free again: rank 0 may send it whole.
  await m.receiveUpload(upload(ckpt.dir, 2), accept, true);
  await agree(m, 2, ckpt.sha256);
  t.is(m.latest?.step, 2);
});

test('close stops an upload in flight, even a stalled one, removes it and the ones waiting for digests, and refuses any after', async (t) => {
  const { m, out } = merger();
  const waiting = await saved(2);
  await m.receiveUpload(upload(waiting.dir, 2), accept, true);
  const ckpt = await saved(4);
  const stalled = gated(upload(ckpt.dir, 4, undefined, 1024), 3);
  const receiving = m.receiveUpload(stalled.pieces, accept, true);
  await stalled.reached;
  t.true(leftovers(out).length > 0, 'both uploads are on disk');
  await m.close('the run failed: rank 1 was lost');
  await t.throwsAsync(receiving, { instanceOf: CheckpointUploadClosedError, message: /closed: the run failed: rank 1 was lost/ });
  t.deepEqual(leftovers(out), []);
  await agree(m, 2, waiting.sha256);
  t.is(m.latest, null, 'a digest after close merges nothing');
  await t.throwsAsync(m.receiveUpload(upload(ckpt.dir, 6), accept, true), { instanceOf: CheckpointUploadClosedError });
  t.deepEqual(published(out), {});
  t.is(m.closedReason, 'the run failed: rank 1 was lost');
});

test('an upload is refused before anything is written when the disk would keep too little free space', async (t) => {
  const statfs = async () => ({ bsize: 4096, blocks: 1_000_000, bavail: 1000 });
  const { m, out } = merger({ statfs });
  const ckpt = await saved(2);
  const err = await t.throwsAsync(m.receiveUpload(upload(ckpt.dir, 2), accept, true), { instanceOf: DiskSpaceLowError, message: /the upload of checkpoint step 2 in .*checkpoints: it needs up to/ });
  t.is(err?.grpcStatus, GrpcStatus.RESOURCE_EXHAUSTED);
  t.deepEqual(leftovers(out), []);
});

test('the caller check of the first piece refuses before anything is written', async (t) => {
  const { m, out } = merger();
  const ckpt = await saved(2);
  const refuse = (p: CheckpointPiece) => {
    throw new ProtocolViolationError(`rank ${p.rank + 1} uploaded a checkpoint: only rank 0 does`);
  };
  await t.throwsAsync(m.receiveUpload(upload(ckpt.dir, 2), refuse, true), { message: /only rank 0 does/ });
  t.deepEqual(published(out), {});
});

test('a new ring generation stops the uploads of the one before and drops those waiting', async (t) => {
  const { m, out } = merger();
  const waiting = await saved(2);
  await m.receiveUpload(upload(waiting.dir, 2), accept, true);
  const ckpt = await saved(4);
  const slow = gated(upload(ckpt.dir, 4, undefined, 1024), 2);
  const receiving = m.receiveUpload(slow.pieces, accept, true);
  await slow.reached;
  m.startGeneration(1, 2);
  await t.throwsAsync(receiving, { instanceOf: CheckpointError, message: /step 4 came from ring generation 0, which has ended/ });
  await m.close('test over');
  t.deepEqual(leftovers(out), []);
});

test('a step older than the latest merged one is refused; after a rollback, the steps past its target can be merged anew', async (t) => {
  const { m, out } = merger();
  const two = await merged(m, 2);
  const four = await saved(4);
  for (const rank of [0, 1]) await m.recordDigest(4, rank, four.sha256, false);
  await m.receiveUpload(upload(four.dir, 4), accept, false);
  t.is(m.latest?.step, 4);
  await t.throwsAsync(m.receiveUpload(upload(two.dir, 3), accept, true), { instanceOf: CheckpointExistsError, message: /latest merged checkpoint is of step 4/ });
  // A collapse at step 4: back to the healthy checkpoint of step 2, and a new ring trains on.
  t.is((await m.rollBack()).step, 2);
  m.startGeneration(1, 2);
  const again = await saved(4, 5);
  await agree(m, 4, again.sha256);
  await m.receiveUpload((async function* () {
    for await (const p of upload(again.dir, 4)) yield { ...p, generation: 1 };
  })(), accept, true);
  t.is(m.latest?.step, 4);
  t.deepEqual(readFileSync(join(m.latest?.dir ?? '', 'generator', 'weights.bin')), readFileSync(join(again.dir, 'generator', 'weights.bin')));
  t.deepEqual(leftovers(out), []);
});
