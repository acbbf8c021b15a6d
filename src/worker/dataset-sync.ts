import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { ControlClient } from '../shared/control/client';
import { writeFilePieces } from '../shared/control/file-transfer';
import type { DatasetPlan } from '../shared/control/wire';
import { manifestHash } from '../shared/data/manifest';
import { TransferChecksumError } from '../shared/errors';
import type { Logger } from '../shared/log';
import { ensureFreeSpace, type StatFs } from '../shared/util/disk-space';

/** Where a worker may find or put the run's dataset. */
export interface DatasetSource {
  plan: DatasetPlan;
  runId: string;
  client: Pick<ControlClient, 'downloadDataset'>;
  /** A local copy (e.g. on a shared filesystem): used as is when its manifest is the run's. */
  localDir?: string;
  /** Downloads go to `<cacheDir>/<manifest sha256>/`, and are reused by later runs. */
  cacheDir: string;
  /** Bound on each file's download. */
  timeoutMs: number;
  log: Logger;
  /** Reads free disk space (tests pass a fake); node's fs.statfs by default. */
  statfs?: StatFs;
}

/**
 * Makes the run's dataset available on this host and resolves with its folder: the local copy
 * when its manifest matches, otherwise the cache, downloading from the coordinator each file
 * that is missing or whose sha256 differs from the plan's. A downloaded file is checked against
 * the sender's sum as it arrives and against the plan's sum after (a TransferChecksumError
 * naming the file otherwise), so a worker never trains on bytes the coordinator did not plan.
 * No file may exceed the plan's size for it (TransferTooLargeError), and the downloads are
 * refused before they start (DiskSpaceLowError) when they would leave the disk too full.
 */
export async function obtainDataset(s: DatasetSource): Promise<string> {
  if (s.localDir !== undefined) {
    const local = await manifestHash(s.localDir).catch(() => null);
    if (local === s.plan.manifestSha256) return s.localDir;
    s.log.warn({ dir: s.localDir }, `${s.localDir} is not this run's dataset (manifest ${local ?? 'unreadable'}); downloading it from the coordinator`);
  }
  const dir = join(s.cacheDir, s.plan.manifestSha256);
  await mkdir(dir, { recursive: true });
  const missing: DatasetPlan['files'] = [];
  for (const file of s.plan.files) if ((await fileSha256(join(dir, file.name))) !== file.sha256) missing.push(file);
  const needed = missing.reduce((n, f) => n + f.bytes, 0);
  if (missing.length > 0) await ensureFreeSpace(dir, needed, `the download of ${missing.length} dataset files`, s.statfs);
  let fetched = 0;
  for (const file of missing) {
    const only = { files: new Map([[file.name, file.bytes]]), maxBytes: file.bytes };
    const [received] = await writeFilePieces(dir, s.client.downloadDataset(s.runId, file.name, s.timeoutMs), only);
    if (received?.name !== file.name || received.sha256 !== file.sha256) {
      throw new TransferChecksumError(`${file.name}: received sha256 ${received?.sha256 ?? 'nothing'}, the run's plan expects ${file.sha256}`);
    }
    fetched += received.bytes;
  }
  s.log.info({ dir, files: s.plan.files.length, downloadedBytes: fetched }, fetched > 0 ? 'dataset downloaded from the coordinator' : 'dataset found in the cache');
  return dir;
}

async function fileSha256(path: string): Promise<string | null> {
  if (!(await stat(path).then((st) => st.isFile(), () => false))) return null;
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
