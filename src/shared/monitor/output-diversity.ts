/**
 * How varied a batch of restored holes is. A mode-collapsed generator paints the same hole
 * whatever the input ("same output for every input"), so its holes differ from each other
 * far less than the real faces' holes do. Pure arithmetic on plain arrays, no tfjs.
 *
 * Two images are compared only where BOTH have a hole: elsewhere at least one of them shows
 * its real (known) pixels, which differ between faces whatever the generator does.
 */

/**
 * Mean pairwise L2 distance (RMS over the masked pixels) between the holes of `count` images of
 * `area` pixels each, stored back to back in `pixels`; `mask` (same layout, 1 = hole) selects
 * the pixels of each image compared. For each pair the RMS difference is taken over the pixels
 * that are hole in both images; pairs are weighted by that shared area, so pairs whose holes
 * barely touch count for little. 0 when no pair shares a hole pixel (nothing to compare).
 */
export function meanPairwiseHoleDistance(pixels: Float32Array, mask: Float32Array, count: number, area: number): number {
  checkLayout('pixels', pixels, count, area);
  checkLayout('mask', mask, count, area);
  let weighted = 0;
  let shared = 0;
  for (let i = 0; i < count; i++) {
    const a = i * area;
    for (let j = i + 1; j < count; j++) {
      const b = j * area;
      let sum = 0;
      let n = 0;
      for (let p = 0; p < area; p++) {
        if (mask[a + p] === 0 || mask[b + p] === 0) continue;
        sum += (pixels[a + p] - pixels[b + p]) ** 2;
        n++;
      }
      if (n === 0) continue;
      // n * RMS: the pair's RMS distance weighted by its shared hole area.
      weighted += n * Math.sqrt(sum / n);
      shared += n;
    }
  }
  return shared === 0 ? 0 : weighted / shared;
}

/**
 * Diversity of generated holes relative to real ones:
 * meanPairwiseHoleDistance(generated)/meanPairwiseHoleDistance(real), 1 when equally varied,
 * ~0 when the generator paints the same hole for every input. 1 when the real holes do not
 * vary at all (or share no pixel), since there is then nothing to judge the generator against.
 */
export function diversityRatio(generated: Float32Array, real: Float32Array, mask: Float32Array, count: number, area: number): number {
  const realDistance = meanPairwiseHoleDistance(real, mask, count, area);
  if (realDistance === 0) return 1;
  return meanPairwiseHoleDistance(generated, mask, count, area) / realDistance;
}

function checkLayout(name: string, values: Float32Array, count: number, area: number): void {
  if (values.length !== count * area) {
    throw new RangeError(`${name} holds ${values.length} values; ${count} images of ${area} pixels need ${count * area}`);
  }
}
