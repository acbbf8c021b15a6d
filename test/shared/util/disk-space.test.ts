import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { DiskSpaceLowError, GrpcStatus } from '../../../src/shared/errors';
import { ensureFreeSpace, type FileSystemSpace, MIN_FREE_BYTES, type StatFs } from '../../../src/shared/util/disk-space';

const MiB = 2 ** 20;

/** A file system of `totalBytes` with `freeBytes` free (in 1-byte blocks, so any size is exact); records the paths it was asked about. */
function fakeStatfs(totalBytes: number, freeBytes: number, asked: string[] = []): StatFs {
  return async (path: string): Promise<FileSystemSpace> => {
    asked.push(path);
    return { bsize: 1, blocks: totalBytes, bavail: freeBytes };
  };
}

test('a write that leaves at least 256 MiB free on a small disk goes ahead; one that would not is refused naming the sizes', async (t) => {
  const disk = 10 * 1024 * MiB; // 1% is 102.4 MiB: the 256 MiB floor rules
  await t.notThrowsAsync(ensureFreeSpace('/data', 100 * MiB, 'a checkpoint', fakeStatfs(disk, 100 * MiB + MIN_FREE_BYTES)));
  const err = await t.throwsAsync(ensureFreeSpace('/data', 100 * MiB, 'the checkpoint of step 4', fakeStatfs(disk, 100 * MiB + MIN_FREE_BYTES - 1)), {
    instanceOf: DiskSpaceLowError,
  });
  t.is(err?.grpcStatus, GrpcStatus.RESOURCE_EXHAUSTED);
  t.regex(err?.message ?? '', /the checkpoint of step 4 in \/data: it needs up to 100\.0 MiB .*, 356\.0 MiB .* is free, and 256\.0 MiB .* must stay free/);
});

test('on a large disk 1% of it must stay free', async (t) => {
  const disk = 1024 * 1024 * MiB; // 1 TiB: 1% is 10485.76 MiB
  const onePercent = Math.ceil(disk / 100);
  await t.notThrowsAsync(ensureFreeSpace('/data', MiB, 'a shard', fakeStatfs(disk, onePercent + 2 * MiB)));
  await t.throwsAsync(ensureFreeSpace('/data', MiB, 'a shard', fakeStatfs(disk, onePercent + MiB / 2)), { instanceOf: DiskSpaceLowError, message: /10485\.8 MiB .* must stay free/ });
});

test('a folder not created yet is measured on its nearest existing ancestor', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'facefill-space-'));
  const asked: string[] = [];
  const real = fakeStatfs(1024 * MiB * 1024, 512 * MiB * 1024, asked);
  const statfs: StatFs = async (path) => {
    if (path.startsWith(join(root, 'not'))) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
    return real(path);
  };
  await ensureFreeSpace(join(root, 'not', 'yet'), MiB, 'a download', statfs);
  t.is(asked.at(-1), root);
});

test('the real file system of the temporary folder is read', async (t) => {
  await t.notThrowsAsync(ensureFreeSpace(tmpdir(), 0, 'nothing'));
  await t.throwsAsync(ensureFreeSpace(tmpdir(), Number.MAX_SAFE_INTEGER, 'everything'), { instanceOf: DiskSpaceLowError });
});
