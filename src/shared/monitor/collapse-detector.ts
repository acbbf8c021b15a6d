import type { LossConfig, RunConfig } from '../config/schema';
import type { StepResult } from '../train/api';

/** What the detector reads of one training step. */
export interface CollapseSample {
  /** Training steps completed when the sample was taken. */
  step: number;
  /** G's adversarial loss, measured from its minimum (see {@link collapseSample}); null when not comparable to zero. */
  gAdversarialLoss: number | null;
  /** mean of D's real and fake loss */
  dLoss: number | null;
  /** set on steps where the probe ran */
  diversityRatio: number | null;
}

/** The detector's judgement after a sample; assignable to the collapse metrics' `CollapseReading`. */
export interface CollapseVerdict {
  collapsed: boolean;
  /** 0 (healthy) .. 1 (surely collapsed): the stronger of the two signals, each 0.5 at its threshold. */
  score: number;
  /** '' when healthy; else which signal fired (or still holds) and its numbers. */
  reason: string;
  /** True on the update that turns healthy -> collapsed. */
  event: boolean;
  /** The last diversity ratio seen, null before the first probe. */
  diversityRatio: number | null;
}

// A signal's state: `fires` turns a healthy run collapsed, `holds` keeps a collapsed one so.
interface Signal {
  fires: boolean;
  holds: boolean;
  strength: number;
  reason: string;
}

const QUIET: Signal = { fires: false, holds: false, strength: 0, reason: '' };
// Recovery needs the signals to clear by this margin, so a run hovering at a threshold does not flap.
const HYSTERESIS = 1.5;
// D's loss must rise by this many standard errors of its slope: a clear rise, not noise.
const MIN_RISE_T = 2;
// Consecutive probes under the threshold needed: one bad probe may be a transient dip.
const LOW_PROBES = 2;

/**
 * The mode-collapse detector: a pure state machine fed one {@link CollapseSample} per step.
 * Two signals, either of which makes the run collapsed:
 *
 * - **Losses** (the seed research's "generator loss converging to zero"): over the last
 *   `collapseWindow` steps (a full window of loss readings is required), G's adversarial loss
 *   is under `adversarialFloor` — its mean over the window, or, when its least-squares slope
 *   is negative, its mean over the window's last quarter (where the downward trend ends; a mean
 *   rather than the fitted line's end, which overshoots below zero on a sharp drop) — while D's
 *   loss rises: a positive least-squares slope at least {@link MIN_RISE_T} standard errors
 *   from zero.
 * - **Output diversity**: the probe's diversity ratio under `diversityThreshold` on
 *   {@link LOW_PROBES} consecutive probes, so that a single noisy probe does not stop a run.
 *
 * Neither signal fires before the detector has seen `collapseWindow` samples (since it was made
 * or reset): the loss signal needs its full window, and a generator that has not learnt yet
 * paints the same mean hole for every input, which the diversity signal would take for a collapse.
 *
 * A collapsed run recovers once no signal holds with the thresholds relaxed by
 * {@link HYSTERESIS}: G's loss level back above 1.5x the floor (whatever D does), and the
 * latest probe's ratio back above 1.5x the threshold. A later collapse is then a new event.
 * A threshold of 0 turns its signal off.
 */
export class CollapseDetector {
  private readonly window: number;
  private readonly g: Float64Array;
  private readonly d: Float64Array;
  // Consecutive samples with both losses (capped at the window) and where the next one goes.
  private filled = 0;
  private next = 0;
  private seen = 0;
  private probes: number[] = [];
  private collapsed = false;

  constructor(private readonly config: RunConfig['monitor']) {
    this.window = config.collapseWindow;
    this.g = new Float64Array(this.window);
    this.d = new Float64Array(this.window);
  }

  /** Takes one step's sample and judges the run. */
  update(sample: CollapseSample): CollapseVerdict {
    this.record(sample);
    const loss = this.lossSignal();
    const diversity = this.diversitySignal();
    const was = this.collapsed;
    this.collapsed = was ? loss.holds || diversity.holds : loss.fires || diversity.fires;
    const active = [loss, diversity].filter((s) => (was ? s.holds : s.fires));
    return {
      collapsed: this.collapsed,
      score: Math.max(loss.strength, diversity.strength),
      reason: this.collapsed ? active.map((s) => s.reason).join('; ') : '',
      event: this.collapsed && !was,
      diversityRatio: this.probes.at(-1) ?? null,
    };
  }

  /** Forgets every sample and the collapsed state (after a rollback, the history no longer applies). */
  reset(): void {
    this.filled = 0;
    this.next = 0;
    this.seen = 0;
    this.probes = [];
    this.collapsed = false;
  }

  private record(s: CollapseSample): void {
    this.seen++;
    if (s.diversityRatio !== null) this.probes = [...this.probes, s.diversityRatio].slice(-LOW_PROBES);
    if (s.gAdversarialLoss === null || s.dLoss === null || !Number.isFinite(s.gAdversarialLoss) || !Number.isFinite(s.dLoss)) {
      // The window must be one unbroken run of readings.
      this.filled = 0;
      return;
    }
    this.g[this.next] = s.gAdversarialLoss;
    this.d[this.next] = s.dLoss;
    this.next = (this.next + 1) % this.window;
    this.filled = Math.min(this.window, this.filled + 1);
  }

  // The window's values, oldest first.
  private series(values: Float64Array): Float64Array {
    const out = new Float64Array(this.window);
    for (let i = 0; i < this.window; i++) out[i] = values[(this.next + i) % this.window];
    return out;
  }

  private lossSignal(): Signal {
    const floor = this.config.adversarialFloor;
    if (floor <= 0 || this.filled < this.window) return QUIET;
    const g = this.series(this.g);
    const gFit = leastSquares(g);
    const recent = mean(g.subarray(Math.floor((this.window * 3) / 4)));
    const level = gFit.slope < 0 ? Math.min(gFit.mean, recent) : gFit.mean;
    const d = leastSquares(this.series(this.d));
    const dRises = d.slope > 0 && (this.window < 3 || d.t >= MIN_RISE_T);
    const fires = level < floor && dRises;
    const holds = level < HYSTERESIS * floor;
    const dText = `discriminator loss slope ${signed(d.slope)}/step (t ${fmt(d.t)})`;
    return {
      fires,
      holds,
      strength: clamp01(1 - level / (2 * floor)),
      reason: fires
        ? `generator adversarial loss ${fmt(level)} over the last ${this.window} steps is under the floor ${floor} while the ${dText} rises`
        : `generator adversarial loss ${fmt(level)} over the last ${this.window} steps is still under ${HYSTERESIS}x the floor ${floor} (${dText})`,
    };
  }

  private diversitySignal(): Signal {
    const threshold = this.config.diversityThreshold;
    const latest = this.probes.at(-1);
    if (threshold <= 0 || latest === undefined) return QUIET;
    const fires = this.seen >= this.window && this.probes.length === LOW_PROBES && this.probes.every((r) => r < threshold);
    const holds = latest < HYSTERESIS * threshold;
    return {
      fires,
      holds,
      strength: clamp01(1 - latest / (2 * threshold)),
      reason: fires
        ? `output diversity ${this.probes.map(fmt).join(', ')} of the real holes' on ${LOW_PROBES} consecutive probes is under the threshold ${threshold}`
        : `output diversity ${fmt(latest)} of the real holes' is still under ${HYSTERESIS}x the threshold ${threshold}`,
    };
  }
}

/**
 * The detector's sample of one training step. G's adversarial loss is given as its excess over
 * its minimum, so that "converging to zero" means "fooling D" for every G loss: the `unique`
 * loss (BCE against the real label) bottoms out at that label's entropy (0.325 nats with soft
 * labels, 0 without), `reverse` at 0. The `saturating` loss, log(1 - D(fake)), has no floor to
 * converge to (it falls without bound as G wins), so it gives null and leaves the loss signal off.
 */
export function collapseSample(
  result: Pick<StepResult, 'gAdversarialLoss' | 'dLossReal' | 'dLossFake'>,
  loss: Pick<LossConfig, 'generatorLoss' | 'softLabels'>,
  step: number,
  diversity: number | null = null,
): CollapseSample {
  const adv = result.gAdversarialLoss;
  let gAdversarialLoss: number | null = null;
  if (adv !== null && loss.generatorLoss === 'reverse') gAdversarialLoss = adv;
  // The real label of src/shared/model/losses.ts (realLabel), kept here so the detector needs no tfjs.
  if (adv !== null && loss.generatorLoss === 'unique') gAdversarialLoss = adv - binaryEntropy(loss.softLabels ? 0.9 : 1);
  const { dLossReal, dLossFake } = result;
  return {
    step,
    gAdversarialLoss,
    dLoss: dLossReal !== null && dLossFake !== null ? (dLossReal + dLossFake) / 2 : null,
    diversityRatio: diversity,
  };
}

interface Fit {
  mean: number;
  slope: number;
  /** The slope over its standard error (+Infinity for a noiseless rise). */
  t: number;
}

// Least-squares line through (i, y[i]).
function leastSquares(y: Float64Array): Fit {
  const n = y.length;
  const xMean = (n - 1) / 2;
  const yMean = mean(y);
  let sxx = 0;
  let sxy = 0;
  for (let i = 0; i < n; i++) {
    sxx += (i - xMean) ** 2;
    sxy += (i - xMean) * (y[i] - yMean);
  }
  const slope = sxx > 0 ? sxy / sxx : 0;
  let residual = 0;
  for (let i = 0; i < n; i++) residual += (y[i] - (yMean + slope * (i - xMean))) ** 2;
  const stderr = n > 2 && sxx > 0 ? Math.sqrt(residual / (n - 2) / sxx) : 0;
  const t = stderr > 0 ? slope / stderr : slope === 0 ? 0 : Math.sign(slope) * Number.POSITIVE_INFINITY;
  return { mean: yMean, slope, t };
}

function mean(xs: Float64Array): number {
  let s = 0;
  for (const x of xs) s += x;
  return xs.length > 0 ? s / xs.length : Number.NaN;
}

function binaryEntropy(p: number): number {
  const term = (q: number) => (q > 0 ? -q * Math.log(q) : 0);
  return term(p) + term(1 - p);
}

const clamp01 = (x: number): number => Math.min(1, Math.max(0, x));
const fmt = (x: number): string => (Number.isFinite(x) ? Number(x.toPrecision(3)).toString() : String(x));
const signed = (x: number): string => (x >= 0 ? `+${fmt(x)}` : fmt(x));
