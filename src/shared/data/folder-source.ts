import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type { FaceSource, RawFile } from './api';
import { isImageName } from './image-names';

/** Reads image files from a folder and its subfolders, in sorted path order. */
export class FolderSource implements FaceSource {
  readonly description: string;

  constructor(private readonly root: string) {
    this.description = `folder ${root}`;
  }

  async *files(): AsyncIterable<RawFile> {
    for (const path of await listImages(this.root)) {
      yield { name: relative(this.root, path), bytes: await readFile(path) };
    }
  }
}

/** Every image file below `root`, sorted, so that reads are in a stable order. */
export async function listImages(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && isImageName(e.name))
    .map((e) => join(e.parentPath, e.name))
    .sort();
}
