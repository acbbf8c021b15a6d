import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { EyesBoxSchema } from '../config/schema';
import { FormatError } from '../errors';
import { SPLITS } from './api';

/** Version of the manifest and shard layout this build writes and reads. */
export const MANIFEST_VERSION = 1;

/** File name of the manifest inside a dataset folder. */
export const MANIFEST_FILE = 'manifest.json';

const count = z.number().int().min(0);
const histogram = z.record(z.string(), count);

// A plain file name: a manifest must not point outside its own folder.
const shardFile = z
  .string()
  .regex(/^[\w.-]+$/, 'expected a plain file name inside the dataset folder')
  .refine((f) => f !== '.' && f !== '..', 'expected a plain file name inside the dataset folder');
const ShardEntrySchema = z.strictObject({ file: shardFile, count, bytes: count, sha256: z.string().regex(/^[0-9a-f]{64}$/) });

/** The dataset manifest: what was read, what was kept, and every shard's checksum. */
export const ManifestSchema = z.strictObject({
  version: z.literal(MANIFEST_VERSION),
  imageSize: z.number().int().min(1),
  source: z.string(),
  counts: z.strictObject({
    filesRead: count,
    decoded: count,
    undecodable: count,
    duplicates: count,
    kept: count,
    unlabeled: count,
  }),
  splitFractions: z.tuple([z.number(), z.number(), z.number()]),
  splits: z.strictObject(Object.fromEntries(SPLITS.map((s) => [s, z.strictObject({ count, shards: z.array(ShardEntrySchema) })])) as Record<
    (typeof SPLITS)[number],
    z.ZodObject<{ count: typeof count; shards: z.ZodArray<typeof ShardEntrySchema> }>
  >),
  labels: z.strictObject({ age: histogram, gender: histogram, race: histogram }),
  /** The eyes box measured on the train split's mean face; null when it shows no eyes, absent in datasets ingested before boxes were measured. */
  eyesBox: EyesBoxSchema.nullable().optional(),
});

/** A parsed dataset manifest. */
export type Manifest = z.infer<typeof ManifestSchema>;
/** One shard's entry in the manifest. */
export type ShardEntry = z.infer<typeof ShardEntrySchema>;

/** Reads and validates `manifest.json` of a dataset folder. */
export async function readManifest(dir: string): Promise<Manifest> {
  const file = join(dir, MANIFEST_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new FormatError(file, `cannot read the dataset manifest (${(err as Error).message}); is ${dir} an ingested dataset (facefill ingest)?`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new FormatError(file, `not valid JSON: ${(err as Error).message}`);
  }
  const parsed = ManifestSchema.safeParse(json);
  if (!parsed.success) {
    throw new FormatError(file, parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
  }
  return parsed.data;
}

/** sha256 of a dataset's manifest file: identifies the exact dataset a checkpoint was trained on. */
export async function manifestHash(dir: string): Promise<string> {
  return sha256Hex(await readFile(join(dir, MANIFEST_FILE)));
}

/** Hex sha256 of some bytes. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
