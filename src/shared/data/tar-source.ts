import { createReadStream, statSync } from 'node:fs';
import { createGunzip } from 'node:zlib';
import { extract } from 'tar-stream';
import type { FaceSource, RawFile } from './api';
import { isImageName } from './image-names';

/**
 * Reads image files straight out of a .tar.gz (such as the official UTKFace archive),
 * streaming: nothing is unpacked to disk and only one member is in memory at a time.
 */
export class TarGzSource implements FaceSource {
  readonly description: string;
  /** Compressed bytes read so far, for progress against {@link totalBytes}. */
  bytesRead = 0;
  readonly totalBytes: number;

  constructor(private readonly path: string) {
    this.description = `tar.gz ${path}`;
    this.totalBytes = statSync(path).size;
  }

  async *files(): AsyncIterable<RawFile> {
    const input = createReadStream(this.path);
    input.on('data', (chunk) => {
      this.bytesRead += chunk.length;
    });
    const tar = extract();
    input.on('error', (err) => tar.destroy(err));
    const gunzip = createGunzip();
    gunzip.on('error', (err) => tar.destroy(new Error(`${this.path}: ${err.message}`)));
    input.pipe(gunzip).pipe(tar);
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
  }
}
