import { existsSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ConfigInvalidError, ImageDecodeError } from '../errors';
import { type FaceSource, type Split, SPLITS } from './api';
import { measureEyesBox } from './eyes-box';
import { decodeGray } from './image-codec';
import { labelHistograms } from './label-histogram';
import { MANIFEST_FILE, MANIFEST_VERSION, type Manifest, sha256Hex, type ShardEntry } from './manifest';
import { encodeShard, type ShardRecord } from './shard-format';
import { DEFAULT_SPLIT, type SplitFractions, splitOf } from './split';
import { isLabelled, parseUtkfaceLabels } from './utkface-labels';

/** File name of the ingest report inside a dataset folder. */
export const REPORT_FILE = 'ingest-report.json';

/** What to ingest and how. */
export interface IngestOptions {
  source: FaceSource;
  /** Dataset folder to create; it must not exist yet. */
  out: string;
  /** Side of the square grayscale images, in pixels. */
  size: number;
  split?: SplitFractions;
  /** Most images per shard file. */
  shardSize?: number;
  /** Images decoded at once (sharp decodes on libuv's thread pool). */
  concurrency?: number;
  /** Called after each file with the running counts (the same object, updated in place). */
  onProgress?: (progress: IngestCounts) => void;
}

/** Running counts of an ingest. */
export interface IngestCounts {
  filesRead: number;
  decoded: number;
  undecodable: number;
  duplicates: number;
}

/** Every file an ingest passed over, and why. */
export interface IngestReport {
  undecodable: { name: string; reason: string }[];
  duplicates: { name: string; sameAs: string }[];
  unlabeled: string[];
}

/** The outcome of an ingest. */
export interface IngestResult {
  out: string;
  manifest: Manifest;
  report: IngestReport;
  seconds: number;
}

/**
 * Ingests a face source into a dataset folder: decode to grayscale `size`x`size`,
 * deduplicate by the sha256 of the file bytes, parse UTKFace labels, split by content hash,
 * and write checksummed shards, `manifest.json` and `ingest-report.json`. A file that cannot
 * be decoded is skipped and listed in the report; it never aborts the ingest. The folder is
 * built under a temporary name and renamed into place when complete, so a folder at `out`
 * is always a whole dataset.
 */
export async function ingest(options: IngestOptions): Promise<IngestResult> {
  const { source, out, size, split = DEFAULT_SPLIT, shardSize = 4096 } = options;
  if (existsSync(out)) throw new ConfigInvalidError(`dataset folder ${out} already exists; ingest writes a new one (remove it or pick another)`);
  const started = process.hrtime.bigint();
  const { counts, records, report } = await decodeAll(options);
  const tmp = join(dirname(out), `.${basename(out)}.tmp-${process.pid}`);
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  try {
    const manifest: Manifest = {
      version: MANIFEST_VERSION,
      imageSize: size,
      source: source.description,
      counts: { ...counts, kept: records.length, unlabeled: report.unlabeled.length },
      splitFractions: [...split],
      splits: await writeShards(tmp, size, records, split, shardSize),
      labels: labelHistograms(records.map((r) => r.labels)),
      eyesBox: measureEyesBox(trainFaces(size, records, split)),
    };
    await writeFile(join(tmp, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
    await writeFile(join(tmp, REPORT_FILE), `${JSON.stringify(report, null, 2)}\n`);
    await rename(tmp, out);
    return { out, manifest, report, seconds: Number(process.hrtime.bigint() - started) / 1e9 };
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}

// Reads every file once, skipping byte-identical copies before they are decoded, and
// decodes up to `concurrency` files at once. The records come back sorted by hash.
async function decodeAll(options: IngestOptions): Promise<{ counts: IngestCounts; records: ShardRecord[]; report: IngestReport }> {
  const { source, size, concurrency = 8, onProgress } = options;
  const counts: IngestCounts = { filesRead: 0, decoded: 0, undecodable: 0, duplicates: 0 };
  const report: IngestReport = { undecodable: [], duplicates: [], unlabeled: [] };
  const firstName = new Map<string, string>();
  const records: ShardRecord[] = [];
  const pending = new Set<Promise<void>>();

  for await (const file of source.files()) {
    counts.filesRead++;
    const sha256 = sha256Hex(file.bytes);
    const seen = firstName.get(sha256);
    if (seen !== undefined) {
      counts.duplicates++;
      report.duplicates.push({ name: file.name, sameAs: seen });
      continue;
    }
    firstName.set(sha256, file.name);
    const job = decodeGray(file.bytes, size, file.name).then(
      (pixels) => {
        counts.decoded++;
        records.push({ sha256, labels: parseUtkfaceLabels(file.name), name: file.name, pixels });
      },
      (err: unknown) => {
        if (!(err instanceof ImageDecodeError)) throw err;
        counts.undecodable++;
        report.undecodable.push({ name: file.name, reason: err.message });
      },
    );
    const tracked = job.finally(() => pending.delete(tracked));
    // Marked handled here; a failure other than a decode error still surfaces through race/all below.
    tracked.catch(() => undefined);
    pending.add(tracked);
    if (pending.size >= concurrency) await Promise.race(pending);
    onProgress?.(counts);
  }
  await Promise.all(pending);
  onProgress?.(counts);

  // Decodes finish in any order; sorted, the shards, manifest and report depend only on
  // the set of files read.
  records.sort((a, b) => (a.sha256 < b.sha256 ? -1 : 1));
  report.undecodable.sort((a, b) => (a.name < b.name ? -1 : 1));
  report.unlabeled = records.filter((r) => !isLabelled(r.labels)).map((r) => r.name).sort();
  return { counts, records, report };
}

// The train split's pixels, which the eyes box is measured on.
function trainFaces(size: number, records: readonly ShardRecord[], fractions: SplitFractions): { size: number; count: number; pixels: Uint8Array } {
  const train = records.filter((r) => splitOf(r.sha256, fractions) === 'train');
  const pixels = new Uint8Array(train.length * size * size);
  train.forEach((r, i) => pixels.set(r.pixels, i * size * size));
  return { size, count: train.length, pixels };
}

// Records come sorted by hash, and keep that order inside each split and shard.
async function writeShards(dir: string, size: number, records: readonly ShardRecord[], fractions: SplitFractions, shardSize: number): Promise<Manifest['splits']> {
  const bySplit = Object.fromEntries(SPLITS.map((s) => [s, [] as ShardRecord[]])) as Record<Split, ShardRecord[]>;
  for (const r of records) bySplit[splitOf(r.sha256, fractions)].push(r);
  const splits = {} as Manifest['splits'];
  for (const s of SPLITS) {
    const list = bySplit[s];
    const shards: ShardEntry[] = [];
    for (let i = 0; i < list.length; i += shardSize) {
      const file = `${s}-${String(shards.length).padStart(5, '0')}.ffs`;
      const bytes = encodeShard(size, list.slice(i, i + shardSize));
      await writeFile(join(dir, file), bytes);
      shards.push({ file, count: Math.min(shardSize, list.length - i), bytes: bytes.length, sha256: sha256Hex(bytes) });
    }
    splits[s] = { count: list.length, shards };
  }
  return splits;
}
