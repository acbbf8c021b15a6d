import { type Dirent, readdirSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type { FaceSource, RawFile } from './api';
import { isImageName } from './image-names';

/**
 * Reads image files from a folder and its subfolders, in sorted path order. The folder is
 * listed when the source is opened, so the file count is known for progress up front.
 */
export class FolderSource implements FaceSource {
  readonly description: string;
  readonly expectedCount: number;
  private readonly paths: readonly string[];

  constructor(private readonly root: string) {
    this.description = `folder ${root}`;
    this.paths = imagePaths(readdirSync(root, { recursive: true, withFileTypes: true }));
    this.expectedCount = this.paths.length;
  }

  async *files(): AsyncIterable<RawFile> {
    for (const path of this.paths) {
      yield { name: relative(this.root, path), bytes: await readFile(path) };
    }
  }
}

/** Every image file below `root`, sorted, so that reads are in a stable order. */
export async function listImages(root: string): Promise<string[]> {
  return imagePaths(await readdir(root, { recursive: true, withFileTypes: true }));
}

function imagePaths(entries: readonly Dirent[]): string[] {
  return entries
    .filter((e) => e.isFile() && isImageName(e.name))
    .map((e) => join(e.parentPath, e.name))
    .sort();
}
