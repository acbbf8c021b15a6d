/** A fault the chaos bench injects into a running cluster. */
export type Fault = 'kill-worker' | 'stop-worker' | 'kill-coordinator' | 'link-cut';

/** Every fault, in the order the plan deals them before shuffling. */
export const FAULTS: readonly Fault[] = ['kill-worker', 'stop-worker', 'kill-coordinator', 'link-cut'];

/** One trial: which fault, at which completed step, on which worker (and, for a link cut, its peer). */
export interface TrialPlan {
  /** 1-based. */
  index: number;
  fault: Fault;
  atStep: number;
  worker: number;
  peer: number;
}

/** A seeded generator of floats in [0, 1) (mulberry32): the same seed gives the same trials. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/**
 * The trials of one seed: the faults dealt in turn (so each comes up about equally often) and
 * shuffled, each at a step drawn from `steps` (inclusive) on a worker drawn from `workers`.
 */
export function planTrials(seed: number, count: number, faults: readonly Fault[], steps: { first: number; last: number }, workers: number): TrialPlan[] {
  const random = seededRandom(seed);
  const pick = (n: number) => Math.floor(random() * n);
  const dealt = Array.from({ length: count }, (_, i) => faults[i % faults.length]);
  for (let i = dealt.length - 1; i > 0; i--) {
    const j = pick(i + 1);
    [dealt[i], dealt[j]] = [dealt[j], dealt[i]];
  }
  return dealt.map((fault, i) => {
    const atStep = steps.first + pick(steps.last - steps.first + 1);
    const worker = pick(workers);
    const peer = (worker + 1 + pick(workers - 1)) % workers;
    return { index: i + 1, fault, atStep, worker, peer };
  });
}
