import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FormatError, ShardChecksumError } from '../errors';
import type { FaceLabels, FaceSet, Split } from './api';
import { MANIFEST_FILE, readManifest, sha256Hex } from './manifest';
import { decodeShard } from './shard-format';

/**
 * Loads one split of an ingested dataset into memory, verifying every shard's sha256
 * against the manifest first: a truncated or tampered shard is a {@link ShardChecksumError}.
 */
export async function loadSplit(datasetDir: string, split: Split): Promise<FaceSet> {
  const manifest = await readManifest(datasetDir);
  const size = manifest.imageSize;
  const { count, shards } = manifest.splits[split];
  const pixels = new Uint8Array(count * size * size);
  const hashes: string[] = [];
  const labels: FaceLabels[] = [];
  const names: string[] = [];
  for (const shard of shards) {
    const file = join(datasetDir, shard.file);
    const bytes = await readFile(file);
    const actual = sha256Hex(bytes);
    if (actual !== shard.sha256) throw new ShardChecksumError(file, shard.sha256, actual);
    for (const r of decodeShard(bytes, file).records) {
      pixels.set(r.pixels, hashes.length * size * size);
      hashes.push(r.sha256);
      labels.push(r.labels);
      names.push(r.name);
    }
  }
  if (hashes.length !== count) {
    throw new FormatError(join(datasetDir, MANIFEST_FILE), `lists ${count} ${split} images but its shards hold ${hashes.length}`);
  }
  return { size, count, pixels, hashes, labels, names };
}
