import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { StepResult } from '../train/api';

/** Every training metric's name, for the dashboard and alert checks. */
export const TRAINING_METRIC_NAMES = [
  'facefill_step',
  'facefill_epoch',
  'facefill_generator_adversarial_loss',
  'facefill_generator_l2_loss',
  'facefill_discriminator_loss',
  'facefill_discriminator_score',
  'facefill_gradient_norm',
  'facefill_trained_images_total',
  'facefill_images_per_second',
  'facefill_step_duration_seconds',
  'facefill_step_phase_seconds',
  'facefill_validation_hole_psnr_db',
  'facefill_validation_ssim',
  'facefill_backend_info',
] as const;

// Step phases run from milliseconds (a small model's reduce) to minutes (a big model on CPU).
const SECONDS_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

const PHASES = [
  ['data', 'data'],
  ['dCompute', 'd_compute'],
  ['dReduce', 'd_allreduce'],
  ['gCompute', 'g_compute'],
  ['gReduce', 'g_allreduce'],
  ['apply', 'apply'],
] as const;

/**
 * What one training process (a worker, or `facefill train`) exports of its steps: losses and
 * D scores of its share of the batch, the norms of the gradients it applied, throughput, step
 * time by phase, validation quality, and the backend in use. Labels are few and fixed
 * (`input` real|fake, `network`, `phase`, `backend`).
 */
export class TrainingMetrics {
  private readonly step: Gauge;
  private readonly epoch: Gauge;
  private readonly adversarial: Gauge;
  private readonly l2: Gauge;
  private readonly dLoss: Gauge<'input'>;
  private readonly dScore: Gauge<'input'>;
  private readonly gradNorm: Gauge<'network'>;
  private readonly images: Counter;
  private readonly imagesPerSecond: Gauge;
  private readonly duration: Histogram;
  private readonly phases: Histogram<'phase'>;
  private readonly psnr: Gauge;
  private readonly ssim: Gauge;
  private readonly backend: Gauge<'backend'>;

  constructor(registry: Registry) {
    const on = { registers: [registry] };
    this.step = new Gauge({ name: 'facefill_step', help: 'Training steps completed.', ...on });
    this.epoch = new Gauge({ name: 'facefill_epoch', help: 'Epoch of the last step (0-based).', ...on });
    this.adversarial = new Gauge({ name: 'facefill_generator_adversarial_loss', help: "The generator's adversarial loss (unweighted) on the last step.", ...on });
    this.l2 = new Gauge({ name: 'facefill_generator_l2_loss', help: "The generator's L2 loss (unweighted) on the last step.", ...on });
    this.dLoss = new Gauge({ name: 'facefill_discriminator_loss', help: "The discriminator's BCE loss on the real or fake batch of the last step.", labelNames: ['input'], ...on });
    this.dScore = new Gauge({ name: 'facefill_discriminator_score', help: 'Mean sigmoid(D) on the real or fake batch of the last step.', labelNames: ['input'], ...on });
    this.gradNorm = new Gauge({ name: 'facefill_gradient_norm', help: 'L2 norm of the (all-reduced) gradient applied on the last step.', labelNames: ['network'], ...on });
    this.images = new Counter({ name: 'facefill_trained_images_total', help: 'Images this process has trained on.', ...on });
    this.imagesPerSecond = new Gauge({ name: 'facefill_images_per_second', help: 'Global-batch images per second of the last step.', ...on });
    this.duration = new Histogram({ name: 'facefill_step_duration_seconds', help: 'Wall time of a training step.', buckets: SECONDS_BUCKETS, ...on });
    this.phases = new Histogram({ name: 'facefill_step_phase_seconds', help: 'Wall time of each phase of a training step.', labelNames: ['phase'], buckets: SECONDS_BUCKETS, ...on });
    this.psnr = new Gauge({ name: 'facefill_validation_hole_psnr_db', help: 'PSNR of the restored hole on the validation probe batch, in dB.', ...on });
    this.ssim = new Gauge({ name: 'facefill_validation_ssim', help: 'SSIM of the restored images on the validation probe batch.', ...on });
    this.backend = new Gauge({ name: 'facefill_backend_info', help: 'The tensor backend in use (value 1).', labelNames: ['backend'], ...on });
    // prom-client exports an unlabelled gauge as 0 until it is set; 0 dB or an SSIM of 0 before
    // the first probe would read as a broken model, so it is NaN (no value) until then.
    this.psnr.set(Number.NaN);
    this.ssim.set(Number.NaN);
  }

  /** Records a finished step: `images` this process trained on, `globalImages` the whole step's batch. */
  observe(r: StepResult, epoch: number, images: number, globalImages: number): void {
    this.step.set(r.step + 1);
    this.epoch.set(epoch);
    this.l2.set(r.gL2Loss);
    if (r.gAdversarialLoss !== null) this.adversarial.set(r.gAdversarialLoss);
    if (r.dLossReal !== null) this.dLoss.set({ input: 'real' }, r.dLossReal);
    if (r.dLossFake !== null) this.dLoss.set({ input: 'fake' }, r.dLossFake);
    if (r.dScoreReal !== null) this.dScore.set({ input: 'real' }, r.dScoreReal);
    if (r.dScoreFake !== null) this.dScore.set({ input: 'fake' }, r.dScoreFake);
    this.gradNorm.set({ network: 'generator' }, r.gGradNorm);
    if (r.dGradNorm !== null) this.gradNorm.set({ network: 'discriminator' }, r.dGradNorm);
    this.images.inc(images);
    this.imagesPerSecond.set(globalImages / Math.max(r.seconds.total, 1e-9));
    this.duration.observe(r.seconds.total);
    for (const [field, phase] of PHASES) this.phases.observe({ phase }, r.seconds[field]);
  }

  /** Records the validation probe's quality. */
  validation(holePsnrDb: number, ssim: number): void {
    this.psnr.set(holePsnrDb);
    this.ssim.set(ssim);
  }

  /** Records the backend in use. */
  setBackend(name: string): void {
    this.backend.reset();
    this.backend.set({ backend: name }, 1);
  }
}
