import type { EyesBox } from '../config/schema';

/**
 * Contracts of the data pipeline: where raw face files come from, and the
 * in-memory face set that training, evaluation and sharding read.
 */

/** One raw file from a source, before decoding. */
export interface RawFile {
  /** Path inside the source (archive member or path relative to the folder). */
  name: string;
  bytes: Buffer;
}

/** A place raw face images come from: a UTKFace .tar.gz, a folder, or the built-in generator. */
export interface FaceSource {
  /** Human-readable description for logs and the manifest. */
  readonly description: string;
  /** Total file count when known up front (for progress), else undefined. */
  readonly expectedCount?: number;
  /** Yields every image file once, in a stable order. */
  files(): AsyncIterable<RawFile>;
}

/** Labels parsed from a UTKFace file name; null where the name breaks the pattern. */
export interface FaceLabels {
  age: number | null;
  /** 0 male, 1 female (UTKFace coding). */
  gender: number | null;
  /** 0 White, 1 Black, 2 Asian, 3 Indian, 4 Others (UTKFace coding). */
  race: number | null;
}

/** Dataset splits; every distinct image belongs to exactly one. */
export const SPLITS = ['train', 'val', 'test'] as const;
/** A dataset split. */
export type Split = (typeof SPLITS)[number];

/**
 * A split of an ingested dataset held in memory: `count` grayscale images of
 * `size`x`size`, row-major, one byte per pixel (0 black .. 255 white).
 */
export interface FaceSet {
  readonly size: number;
  readonly count: number;
  /** count * size * size bytes. */
  readonly pixels: Uint8Array;
  /** Hex sha256 of each image's source file bytes (its identity across splits). */
  readonly hashes: readonly string[];
  readonly labels: readonly FaceLabels[];
  /** Source file name of each image. */
  readonly names: readonly string[];
  /** Where the eyes sit in these faces: as measured at ingest, else UTKFace's box. */
  readonly eyesBox: EyesBox;
}
