import { statSync } from 'node:fs';
import { ConfigInvalidError } from '../errors';
import type { FaceSource } from './api';
import { FolderSource } from './folder-source';
import { SyntheticSource } from './synthetic-source';
import { TarGzSource } from './tar-source';

/** The most generated faces one ingest makes. */
export const MAX_SYNTHETIC = 1_000_000;

/**
 * Opens a face source from its command-line spelling: `synthetic:N[:seed]` (generated
 * faces; `seed` when the spec names none), a `.tar.gz` / `.tgz` archive, or a directory
 * of images. Anything else is a {@link ConfigInvalidError} naming the spec.
 */
export function openSource(spec: string, seed = 0): FaceSource {
  const synthetic = /^synthetic:(\d+)(?::(\d+))?$/.exec(spec);
  if (synthetic) {
    const count = Number(synthetic[1]);
    if (count < 1 || count > MAX_SYNTHETIC) throw new ConfigInvalidError(`--source '${spec}': expected synthetic:N with N in 1..${MAX_SYNTHETIC}`);
    return new SyntheticSource(count, synthetic[2] === undefined ? seed : Number(synthetic[2]));
  }
  if (spec.startsWith('synthetic')) throw new ConfigInvalidError(`--source '${spec}': expected synthetic:N or synthetic:N:seed`);
  let stat;
  try {
    stat = statSync(spec);
  } catch {
    throw new ConfigInvalidError(`--source '${spec}' does not exist; expected a .tar.gz archive, a directory of images, or synthetic:N`);
  }
  if (stat.isDirectory()) return new FolderSource(spec);
  if (/\.(tar\.gz|tgz)$/i.test(spec)) return new TarGzSource(spec);
  throw new ConfigInvalidError(`--source '${spec}' is neither a .tar.gz archive nor a directory (nor synthetic:N)`);
}
