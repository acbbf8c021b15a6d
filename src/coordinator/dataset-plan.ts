import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { MANIFEST_FILE, manifestHash, readManifest } from '../shared/data/manifest';
import { FormatError } from '../shared/errors';
import type { DatasetPlan } from './api';

/**
 * The files a worker needs to train on the dataset in `dir`: its manifest and the train and
 * val splits' shards, with the sizes and sha256 sums the manifest records (the manifest's own
 * sum identifies the dataset). Checks that each file is there with its recorded size, so a
 * damaged dataset folder fails before any worker joins; the bytes are verified by whoever
 * loads or receives them.
 */
export async function planDataset(dir: string): Promise<DatasetPlan> {
  const manifest = await readManifest(dir);
  const sha = await manifestHash(dir);
  const files = [{ name: MANIFEST_FILE, bytes: (await stat(join(dir, MANIFEST_FILE))).size, sha256: sha }];
  // The train split to train on, the val split for rank 0's validation probe.
  for (const shard of [...manifest.splits.train.shards, ...manifest.splits.val.shards]) {
    const path = join(dir, shard.file);
    const bytes = await stat(path).then(
      (s) => s.size,
      () => -1,
    );
    if (bytes !== shard.bytes) {
      throw new FormatError(path, bytes < 0 ? 'missing: the manifest lists it' : `${bytes} bytes, the manifest records ${shard.bytes}`);
    }
    files.push({ name: shard.file, bytes, sha256: shard.sha256 });
  }
  return { manifestSha256: sha, files };
}
