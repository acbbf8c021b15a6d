// The α-β cost model of the ring all-reduce (Hockney; Thakur et al. 2005), pure arithmetic for
// the scaling bench: what a ring of N ranks should take, what the measurements say α and β are,
// and what a step would take elsewhere.

/** A ring's cost parameters: `alpha` seconds per hop (latency and per-message software), `beta` seconds per byte through a link. */
export interface AlphaBeta {
  alpha: number;
  beta: number;
}

/** Seconds per byte of a link of `gbit` Gbit/s. */
export const betaOfLink = (gbit: number): number => 8 / (gbit * 1e9);

/**
 * Seconds of one ring all-reduce of `bytes` on `n` ranks: 2(N-1) rounds (reduce-scatter, then
 * all-gather), each a hop of α and a segment of bytes/N through every link at once.
 */
export function ringSeconds(n: number, bytes: number, m: AlphaBeta): number {
  if (n <= 1) return 0;
  return 2 * (n - 1) * m.alpha + ((2 * (n - 1)) / n) * bytes * m.beta;
}

/** Seconds of a step's all-reduces, one per gradient (`bytes`: D's and G's), one after the other. */
export function stepRingSeconds(n: number, bytes: readonly number[], m: AlphaBeta): number {
  return bytes.reduce((sum, b) => sum + ringSeconds(n, b, m), 0);
}

/** α from an all-reduce on `n` ranks too small for its bytes to count: its time over its 2(N-1) hops. */
export function alphaOf(n: number, seconds: number): number {
  if (n < 2) throw new RangeError(`alpha needs a ring of at least 2 ranks, got ${n}`);
  return seconds / (2 * (n - 1));
}

/**
 * β fitted to a step's measured all-reduce time on `n` ranks (`bytes`: each all-reduce's size),
 * once the hops' α is taken off: the per-byte cost the ring really paid, wire and software.
 */
export function fitBeta(n: number, bytes: readonly number[], seconds: number, alpha: number): number {
  const carried = stepRingSeconds(n, bytes, { alpha: 0, beta: 1 });
  if (carried <= 0) throw new RangeError(`no bytes cross a link on ${n} ranks`);
  return (seconds - stepRingSeconds(n, bytes, { alpha, beta: 0 })) / carried;
}

/**
 * A β fitted on links of `hereGbit` carried over to links of `gbit`: the wire's part changes
 * with the rate, and what the ring paid per byte above the wire here (encryption, sums, copies
 * the pipeline did not hide) is kept as it is.
 */
export const betaAt = (gbit: number, fitted: number, hereGbit: number): number => betaOfLink(gbit) + Math.max(0, fitted - betaOfLink(hereGbit));

/** A step as the model sees it: compute, then the all-reduces, with no overlap (as the GAN step does: G's phase needs D's update). */
export interface StepProjection {
  ringSeconds: number;
  stepSeconds: number;
  /** Compute over the step: what a rank keeps of its single-rank speed. */
  efficiency: number;
}

/** A step of `computeSeconds` plus the ring all-reduces of `bytes` on `n` ranks. */
export function projectStep(n: number, computeSeconds: number, bytes: readonly number[], m: AlphaBeta): StepProjection {
  const ring = stepRingSeconds(n, bytes, m);
  return { ringSeconds: ring, stepSeconds: computeSeconds + ring, efficiency: computeSeconds / (computeSeconds + ring) };
}

/**
 * The same step with a hierarchical all-reduce: `perHost` ranks of a host reduce among
 * themselves (over NVLink or shared memory, counted as free), then one leader per host runs the
 * ring across hosts and broadcasts the result back: the ring has ceil(N / perHost) ranks.
 */
export function projectHierarchicalStep(n: number, perHost: number, computeSeconds: number, bytes: readonly number[], m: AlphaBeta): StepProjection {
  return projectStep(Math.ceil(n / perHost), computeSeconds, bytes, m);
}

/**
 * The slowest link (Gbit/s, wire only) on which a step of `computeSeconds` on `n` ranks keeps
 * `efficiency` of its compute; null when the hops' α alone already cost more than that allows.
 */
export function linkForEfficiency(n: number, computeSeconds: number, bytes: readonly number[], alpha: number, efficiency: number): number | null {
  const allowed = computeSeconds / efficiency - computeSeconds - stepRingSeconds(n, bytes, { alpha, beta: 0 });
  if (allowed <= 0) return null;
  return (stepRingSeconds(n, bytes, { alpha: 0, beta: 1 }) * 8) / allowed / 1e9;
}
