import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { WEIGHTS_FILE } from './model-files';

/**
 * The weights digest of a checkpoint folder, from its files alone: sha256 over
 * `generator/weights.bin` then `discriminator/weights.bin`. Both files hold every weight of
 * their model as little-endian float32 in `model.weights` order (the tfjs layers format), so
 * this is the digest `weightsSha256` (replica-weights.ts) gives for the networks saved there: what every rank
 * reports at a checkpoint. The coordinator compares the two to know that the bytes rank 0
 * uploaded are the weights the ranks agreed on, without loading a model.
 */
export async function checkpointWeightsSha256(dir: string): Promise<string> {
  const hash = createHash('sha256');
  // The order of weightsSha256: generator, then discriminator.
  for (const network of ['generator', 'discriminator']) {
    for await (const chunk of createReadStream(join(dir, network, WEIGHTS_FILE))) hash.update(chunk as Buffer);
  }
  return hash.digest('hex');
}
