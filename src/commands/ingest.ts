import { SingleBar } from 'cli-progress';
import type { FaceSource } from '../shared/data/api';
import { ingest, type IngestCounts, type IngestResult } from '../shared/data/ingest';
import { openSource } from '../shared/data/open-source';
import type { SplitFractions } from '../shared/data/split';
import { TarGzSource } from '../shared/data/tar-source';
import { createLogger, type Logger } from '../shared/log';

/** Options of `facefill ingest`. */
export interface IngestCommandOptions {
  /** `synthetic:N[:seed]`, a UTKFace-style .tar.gz, or a folder of images. */
  source: string;
  /** Dataset folder to create. */
  out: string;
  /** Side of the square grayscale images, in pixels. */
  size: number;
  split?: SplitFractions;
  /** Seed of generated faces when the source is `synthetic:N` without one. */
  seed?: number;
  /** Show a progress bar on stderr. */
  progress?: boolean;
  log?: Logger;
}

/** What an ingest did, with its throughput. */
export interface IngestSummary extends IngestResult {
  /** Files read (decoded, skipped or duplicate) per second of wall time. */
  imagesPerSecond: number;
}

/**
 * `facefill ingest`: builds a dataset folder from a source, with a progress bar on stderr
 * (by compressed bytes for a .tar.gz, by files otherwise) and a summary log line.
 */
export async function runIngest(options: IngestCommandOptions): Promise<IngestSummary> {
  const log = options.log ?? createLogger('ingest');
  const source = openSource(options.source, options.seed);
  const bar = options.progress ? startBar(source) : undefined;
  const result = await ingest({
    source,
    out: options.out,
    size: options.size,
    split: options.split,
    onProgress: bar && ((c) => bar.update(source instanceof TarGzSource ? source.bytesRead : c.filesRead, { ...c })),
  });
  bar?.update(bar.getTotal());
  bar?.stop();
  const { counts, splits } = result.manifest;
  const imagesPerSecond = counts.filesRead / result.seconds;
  log.info(
    {
      ...counts,
      train: splits.train.count,
      val: splits.val.count,
      test: splits.test.count,
      seconds: round(result.seconds),
      imagesPerSecond: round(imagesPerSecond),
    },
    `ingested ${counts.kept} distinct images of ${counts.filesRead} files into ${result.out} (${Math.round(imagesPerSecond)} images/s)`,
  );
  const eyes = result.manifest.eyesBox;
  if (eyes) log.info({ eyesBox: eyes }, `eyes box measured on the train split: rows ${eyes.top}-${eyes.bottom}, columns ${eyes.left}-${eyes.right} of the side`);
  else log.warn("the train split's mean face shows no eyes; eyes masks will use UTKFace's box unless data.eyesBox sets one");
  if (counts.undecodable > 0) log.warn(`${counts.undecodable} files could not be decoded; see ${result.out}/ingest-report.json`);
  return { ...result, imagesPerSecond };
}

function startBar(source: FaceSource): SingleBar {
  const byBytes = source instanceof TarGzSource;
  const bar = new SingleBar({
    format: `ingest [{bar}] {percentage}% | ${byBytes ? '{value}/{total} bytes' : '{value}/{total} files'} | decoded {decoded} | dup {duplicates} | bad {undecodable} | {eta_formatted}`,
    stream: process.stderr,
    hideCursor: true,
    etaBuffer: 200,
    fps: 5,
  });
  const start: IngestCounts = { filesRead: 0, decoded: 0, undecodable: 0, duplicates: 0 };
  bar.start(byBytes ? source.totalBytes : (source.expectedCount ?? 0), 0, start);
  return bar;
}

const round = (v: number): number => Math.round(v * 10) / 10;
