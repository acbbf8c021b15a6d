import { SingleBar } from 'cli-progress';
import type { FaceSource } from '../shared/data/api';
import { ingest, type IngestResult } from '../shared/data/ingest';
import { openSource } from '../shared/data/open-source';
import type { SplitFractions } from '../shared/data/split';
import { TarGzSource } from '../shared/data/tar-source';
import type { Logger } from '../shared/log';

/** Options of `facefill ingest`. */
export interface IngestCommandOptions {
  source: string;
  out: string;
  size: number;
  split?: SplitFractions;
  progress: boolean;
  log: Logger;
}

/** `facefill ingest`: builds a dataset folder from a source, with a progress bar on stderr. */
export async function runIngest(options: IngestCommandOptions): Promise<IngestResult> {
  const source = openSource(options.source);
  const bar = options.progress ? progressBar(source) : undefined;
  const result = await ingest({
    source,
    out: options.out,
    size: options.size,
    split: options.split,
    onProgress: bar && ((c) => bar.update(source instanceof TarGzSource ? source.bytesRead : c.filesRead, c)),
  });
  bar?.update(bar.getTotal());
  bar?.stop();
  const { counts, splits } = result.manifest;
  options.log.info(
    {
      ...counts,
      train: splits.train.count,
      val: splits.val.count,
      test: splits.test.count,
      seconds: round(result.seconds),
      imagesPerSecond: round(counts.filesRead / result.seconds),
    },
    `ingested ${counts.kept} distinct images into ${result.out}`,
  );
  if (counts.undecodable > 0) options.log.warn(`${counts.undecodable} files could not be decoded; see ${result.out}/ingest-report.json`);
  return result;
}

function progressBar(source: FaceSource): SingleBar {
  const byBytes = source instanceof TarGzSource;
  const bar = new SingleBar({
    format: `ingest [{bar}] {percentage}% | ${byBytes ? '{value}/{total} bytes' : '{value}/{total} files'} | kept {decoded} | dup {duplicates} | bad {undecodable} | {eta_formatted}`,
    stream: process.stderr,
    hideCursor: true,
    etaBuffer: 200,
    fps: 5,
  });
  bar.start(byBytes ? source.totalBytes : (source.expectedCount ?? 0), 0, { decoded: 0, duplicates: 0, undecodable: 0 });
  return bar;
}

const round = (v: number): number => Math.round(v * 10) / 10;
