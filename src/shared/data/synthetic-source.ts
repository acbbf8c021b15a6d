import type { FaceSource, RawFile } from './api';
import { encodePng } from './image-codec';
import { drawSyntheticFace } from './synthetic-face';

/**
 * The built-in generated face set (`synthetic:N`): N procedurally drawn faces, encoded as
 * PNG so they go through the same decode path as real files, named like UTKFace files
 * (`<age>_<gender>_<race>_<index>.synthetic.png`) so their labels parse.
 */
export class SyntheticSource implements FaceSource {
  readonly description: string;

  constructor(
    readonly expectedCount: number,
    private readonly seed = 0,
  ) {
    this.description = `synthetic faces: ${expectedCount}, seed ${seed}`;
  }

  async *files(): AsyncIterable<RawFile> {
    for (let i = 0; i < this.expectedCount; i++) {
      const face = drawSyntheticFace(this.seed, i);
      const name = `${face.age}_${face.gender}_${face.race}_${String(i).padStart(6, '0')}.synthetic.png`;
      yield { name, bytes: await encodePng(face.pixels, face.side, face.side) };
    }
  }
}
