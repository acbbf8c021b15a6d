import { createReadStream, statSync } from 'node:fs';
import { pipeline } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { extract } from 'tar-stream';
import { FormatError } from '../errors';
import type { FaceSource, RawFile } from './api';
import { isImageName } from './image-names';

/**
 * Reads image files straight out of a .tar.gz (such as the official UTKFace archive) in
 * archive order, streaming: nothing is unpacked to disk and only one member is in memory
 * at a time. Directories, links and non-image members are skipped.
 */
export class TarGzSource implements FaceSource {
  readonly description: string;
  /** Size of the archive on disk: the progress total, as the member count is unknown until the end. */
  readonly totalBytes: number;
  /** Compressed bytes read so far, for progress against {@link totalBytes}. */
  bytesRead = 0;

  constructor(private readonly path: string) {
    this.description = `tar.gz ${path}`;
    this.totalBytes = statSync(path).size;
  }

  async *files(): AsyncIterable<RawFile> {
    this.bytesRead = 0;
    const input = createReadStream(this.path);
    input.on('data', (chunk) => {
      this.bytesRead += chunk.length;
    });
    const tar = extract();
    // pipeline tears all three streams down on an error, and when the consumer stops early.
    pipeline(input, createGunzip(), tar, () => undefined);
    try {
      for await (const entry of tar) {
        const { name, type } = entry.header;
        if (type !== 'file' || !isImageName(name)) {
          entry.resume();
          continue;
        }
        const chunks: Buffer[] = [];
        for await (const chunk of entry) chunks.push(chunk as Buffer);
        yield { name, bytes: Buffer.concat(chunks) };
      }
    } catch (err) {
      throw new FormatError(this.path, `not a readable .tar.gz archive: ${(err as Error).message}`);
    } finally {
      input.destroy();
    }
  }
}
