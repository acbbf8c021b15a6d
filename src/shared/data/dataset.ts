import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FormatError, ShardChecksumError } from '../errors';
import type { FaceLabels, FaceSet, Split } from './api';
import { UTKFACE_EYES_BOX } from './eyes-box';
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
  const listed = shards.reduce((n, s) => n + s.count, 0);
  if (listed !== count) throw new FormatError(join(datasetDir, MANIFEST_FILE), `lists ${count} ${split} images but its ${split} shards hold ${listed}`);
  const pixels = new Uint8Array(count * size * size);
  const hashes: string[] = [];
  const labels: FaceLabels[] = [];
  const names: string[] = [];
  for (const shard of shards) {
    const file = join(datasetDir, shard.file);
    const bytes = await readFile(file).catch((err: NodeJS.ErrnoException) => {
      throw new FormatError(file, `cannot read a shard the manifest lists (${err.code ?? err.message})`);
    });
    const actual = sha256Hex(bytes);
    if (actual !== shard.sha256) throw new ShardChecksumError(file, shard.sha256, actual);
    const decoded = decodeShard(bytes, file);
    if (decoded.size !== size || decoded.records.length !== shard.count) {
      throw new FormatError(file, `holds ${decoded.records.length} images of ${decoded.size}x${decoded.size}; the manifest lists ${shard.count} of ${size}x${size}`);
    }
    for (const r of decoded.records) {
      pixels.set(r.pixels, hashes.length * size * size);
      hashes.push(r.sha256);
      labels.push(r.labels);
      names.push(r.name);
    }
  }
  return { size, count, pixels, hashes, labels, names, eyesBox: manifest.eyesBox ?? UTKFACE_EYES_BOX };
}
