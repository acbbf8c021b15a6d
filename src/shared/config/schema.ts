import { z } from 'zod';
import { COMPRESSIONS } from '../collective/wire-reduction';

/** Occlusion kinds the data pipeline can draw; `half` picks one of the four sides at random. */
export const OCCLUSION_KINDS = [
  'half',
  'half-left',
  'half-right',
  'half-upper',
  'half-lower',
  'eyes',
  'eyes-unconstrained',
  'box',
  'strokes',
] as const;

/** One occlusion kind. */
export type OcclusionKind = (typeof OCCLUSION_KINDS)[number];

/** Tensor backends in the order `auto` tries them. */
export const BACKENDS = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const;

/** A concrete tensor backend. */
export type BackendName = (typeof BACKENDS)[number];

const int = (min: number, max: number) => z.number().int().min(min).max(max);
const rate = z.number().min(0).max(0.95);

/** The generator: an encoder-decoder of strided convolutions (no pooling). */
export const GeneratorSchema = z.strictObject({
  /** Total conv layers, the slides' "N layered": floor(N/2) strided downsamplers, the rest upsamplers (last one outputs the image). */
  layers: int(1, 14),
  baseFilters: int(1, 512),
  maxFilters: int(1, 1024),
  kernelSize: int(1, 9),
  /** U-Net style skip connections from each encoder level to the decoder level of the same size. */
  skip: z.boolean(),
  /** Width of a fully-connected code between encoder and decoder; 0 for none. */
  bottleneck: int(0, 4096),
  dropout: rate,
  norm: z.enum(['batch', 'none']),
  /** How the decoder doubles the size: a stride-2 transposed convolution, or a bilinear resize then a convolution (no checkerboard). */
  upsample: z.enum(['transposed', 'resize']),
  /** Feeds the input's left-right mirror image as two more channels: faces are nearly symmetric, so the other half of the face is one kernel away. */
  mirrorInput: z.boolean(),
  /** Adds a dense map from the pooled input to the image, summed into the output: a whole-face linear predictor that the convolutions, seeing only near pixels, learn slowly. */
  globalLinear: z.boolean(),
  /**
   * Components of a Gaussian face prior (PCA of the train split, fitted when a run starts)
   * whose most likely fill of the hole, given the visible pixels, the generator takes as an
   * input and refines; 0 for none.
   */
  prior: int(0, 255),
});

/** The discriminator: strided convolutions, dropout, minibatch features, one logit. */
export const DiscriminatorSchema = z.strictObject({
  layers: int(1, 10),
  baseFilters: int(1, 512),
  maxFilters: int(1, 1024),
  kernelSize: int(1, 9),
  dropout: rate,
  /** Minibatch discrimination (Salimans et al. 2016), minibatch stddev (Karras et al. 2018), or neither. */
  minibatch: z.enum(['discrimination', 'stddev', 'none']),
  /** Minibatch discrimination: number of kernels B and their dimension C. */
  minibatchKernels: int(1, 256),
  minibatchDims: int(1, 64),
});

/** Losses and the GAN training tricks the original research compared. */
export const LossSchema = z.strictObject({
  mode: z.enum(['gan', 'l2', 'gan+l2']),
  // Bounded: a weight like 1e38 overflows float32 losses into Inf and NaN.
  ganWeight: z.number().min(0).max(10_000),
  l2Weight: z.number().min(0).max(10_000),
  /** L2 over the hole only, or over the whole raw generator output. */
  l2Region: z.enum(['hole', 'image']),
  /** `unique`: BCE of D(fake) against the real label; `reverse`: non-saturating -log D(fake); `saturating`: minimax log(1 - D(fake)). */
  generatorLoss: z.enum(['unique', 'reverse', 'saturating']),
  /** Real target 0.9 instead of 1 (one-sided label smoothing). */
  softLabels: z.boolean(),
  /** Add Normal(0, labelNoiseStd) to the discriminator's targets. */
  noisyLabels: z.boolean(),
  labelNoiseStd: z.number().min(0).max(1),
  /** D sees a real batch and a fake batch in separate passes, never a mixed batch. */
  isolatedMinibatches: z.boolean(),
});

/** Adam settings, with separate learning rates for G and D. */
export const OptimizerSchema = z.strictObject({
  lrG: z.number().positive().max(1),
  lrD: z.number().positive().max(1),
  beta1: z.number().min(0).max(0.999),
  beta2: z.number().min(0).max(0.99999),
  /** `constant`, or `cosine`: both rates fall along half a cosine over `train.steps`, to {@link COSINE_FLOOR} of themselves at the end. */
  schedule: z.enum(['constant', 'cosine']),
});

/** The fraction of the learning rates a cosine schedule ends at. */
export const COSINE_FLOOR = 0.05;

const fraction = z.number().min(0).max(1);

/** Where both eyes sit in a dataset's crops, as fractions of the image side: rows [top, bottom) x columns [left, right). */
export const EyesBoxSchema = z
  .strictObject({ top: fraction, bottom: fraction, left: fraction, right: fraction })
  .refine((b) => b.top < b.bottom && b.left < b.right, { message: 'needs top < bottom and left < right' });

/** An eyes box. */
export type EyesBox = z.infer<typeof EyesBoxSchema>;

/**
 * How strongly training samples are augmented (`src/shared/data/augmentation.ts`); every
 * field is a bound, and 0 disables it. The bounds keep every draw meaningful: a scale or
 * contrast change of 1 or more could reach a zero or negative factor.
 */
export const AugmentSchema = z.strictObject({
  /** Largest relative change of scale: 0.1 zooms by a factor in [0.9, 1.1]. */
  scale: z.number().min(0).max(0.5),
  /** Largest shift along each axis, as a fraction of the side. */
  shift: z.number().min(0).max(0.5),
  /** Probability of a horizontal mirror. */
  flip: fraction,
  /** Largest additive change of brightness, as a fraction of the full range. */
  brightness: fraction,
  /** Largest relative change of contrast: 0.2 scales contrast by a factor in [0.8, 1.2]. */
  contrast: z.number().min(0).max(0.9),
  /** Largest |ln gamma|: 0.2 draws gamma in [e^-0.2, e^0.2]. Beyond e^±1 the gamma table drifts from an exact power, and no photo to restore is that far off. */
  gamma: fraction,
  /** Probability of a small Gaussian blur, its sigma drawn in [0.3, 1.0] px. */
  blur: fraction,
  /** Largest standard deviation of additive Gaussian noise, as a fraction of the full range. */
  noise: z.number().min(0).max(0.5),
});

/** Augmentation bounds. */
export type AugmentConfig = z.infer<typeof AugmentSchema>;

/** What the model sees: image size, batch, and the occlusion mixture. */
export const DataSchema = z.strictObject({
  imageSize: int(16, 128),
  /** Global batch size (split across ranks in distributed runs). */
  batchSize: int(1, 4096),
  /** Use at most this many training images (the slides' 4,160 and 13,195); 0 for all. */
  maxImages: int(0, 10_000_000),
  /** Relative weights of occlusion kinds; kinds left out are never drawn. */
  occlusion: z
    .partialRecord(z.enum(OCCLUSION_KINDS), z.number().min(0))
    .refine((mix) => Object.values(mix).some((w) => (w ?? 0) > 0), {
      message: 'needs at least one occlusion kind with a positive weight',
    }),
  /**
   * Where the `eyes` masks go; null takes the box the dataset's manifest measured at ingest.
   * A training run records the box it used here, so its checkpoints restore with the same.
   */
  eyesBox: EyesBoxSchema.nullable(),
  /** Seeded re-framing and exposure changes of each training sample, so the model does not depend on the exact crop. */
  augment: AugmentSchema,
  /** Batches built ahead while a step runs (masks and tensors); 0 builds each when its step starts. Changes no result, only when batches are built. */
  prefetch: z.literal([0, 1, 2]),
});

/** Length and bookkeeping of a training run. */
export const TrainSchema = z.strictObject({
  steps: int(1, 100_000_000),
  seed: int(0, 2 ** 31 - 1),
  checkpointEvery: int(0, 100_000_000),
  logEvery: int(1, 1_000_000),
  /** Consecutive steps skipped for a non-finite loss or gradient before the recovery policy acts. */
  maxSkippedSteps: int(1, 1_000_000),
  /** Merged (or saved) checkpoints kept; older ones are pruned, never the latest nor a rollback target. 0 keeps all. */
  keepCheckpoints: int(0, 1_000_000),
  /**
   * Simulation only (`npm run bench scaling`): each step sleeps this many ms instead of
   * computing, and all-reduces gradients of the networks' real sizes without applying them, so
   * the weights never change. Absent in a real run.
   */
  emulateComputeMs: int(1, 600_000).optional(),
});

/**
 * How a distributed run's processes find and watch each other. Every bound is here so that
 * the coordinator hands all workers the same ones: nothing waits without a limit.
 */
/** The largest `cluster.chunkBytes`: a ring socket admits frames up to this size before it knows the run's config. */
export const MAX_CHUNK_BYTES = 64 << 20;

export const ClusterSchema = z.strictObject({
  /** How long the coordinator waits for all workers to register. */
  rendezvousTimeoutSeconds: z.number().min(1).max(86_400),
  /** How often a worker sends a heartbeat. */
  heartbeatSeconds: z.number().min(0.1).max(600),
  /** A worker silent for longer fails the run (synchronous training cannot go on without it). */
  heartbeatTimeoutSeconds: z.number().min(0.5).max(3_600),
  /** Bound on each all-reduce wait; it must cover the ranks' compute skew within a step. */
  collectiveTimeoutSeconds: z.number().min(0.5).max(3_600),
  /** Ring links between ranks on one host: ipc (Unix sockets) or tcp over loopback. */
  sameHostTransport: z.enum(['ipc', 'tcp']),
  /** Largest all-reduce message payload; a ring socket refuses bigger frames (ZMQ_MAXMSGSIZE), so the bound is also a memory bound. */
  chunkBytes: int(4, MAX_CHUNK_BYTES),
  /**
   * The ring's links: `curve` (ZeroMQ CURVE: encrypted, and only the ring's own keys are
   * admitted) or `none` (plaintext, anyone who reaches a ring port can inject frames; only for
   * a trusted fabric).
   */
  ringEncryption: z.enum(['curve', 'none']),
  /**
   * What the all-reduce sends: `none` (float32 gradients) or `fp16` (half precision, as
   * Horovod's Compression.fp16: half the bytes on every link, partial sums still added in
   * float32, every replica still bit-identical). Half holds about 3 significant digits and
   * magnitudes up to 65504. It applies to the run's all-reduces (the gradients, and the
   * batch-norm statistics averaged at checkpoints); the start-up weight broadcast stays exact.
   */
  compression: z.enum(COMPRESSIONS),
  /** Fewest workers a run trains with: a lost worker is dropped from the ring while at least this many remain. */
  minWorkers: int(1, 4096),
  /** How long a run below `minWorkers` waits for replacements before it fails. */
  rejoinSeconds: z.number().min(1).max(86_400),
  /** A worker that heartbeats but completes no step for this long is treated as lost (it must exceed the longest step and checkpoint). */
  stallSeconds: z.number().min(1).max(86_400),
  /** How long a worker that lost the coordinator keeps trying to reach it (a restarted coordinator finds it). */
  reconnectSeconds: z.number().min(0).max(86_400),
  /**
   * Admit workers of another backend or device than the ring's (say, a wasm worker into a ring
   * of GPUs). Off by default: a synchronous ring runs at its slowest member's pace, so one such
   * worker slows every rank; the coordinator refuses it by name.
   */
  allowMixedBackends: z.boolean(),
});

/**
 * Training-health monitoring: a validation probe (a fixed batch of held-out faces and masks the
 * generator restores every `probeEvery` steps: hole PSNR, SSIM and output diversity) and the
 * mode-collapse detector fed by it and by the losses.
 */
export const MonitorSchema = z.strictObject({
  /** Steps between probes; 0 turns the probe (and the diversity signal) off. */
  probeEvery: int(0, 1_000_000),
  /** Faces in the probe batch. */
  probeSize: int(2, 256),
  /** Steps the collapse detector judges the loss signal over. */
  collapseWindow: int(2, 100_000),
  /** Collapse when generated holes vary less than this fraction of the real holes' variety. */
  diversityThreshold: z.number().min(0).max(1),
  /** The seed's signal: G's adversarial loss under this while D's loss rises over the window. */
  adversarialFloor: z.number().min(0).max(10),
  /** What a collapse does: log it, stop the run, or go back to the last healthy checkpoint with a lower D learning rate. */
  collapseAction: z.enum(['warn', 'stop', 'rollback']),
  /** D's learning rate is multiplied by this on a rollback. */
  rollbackLrFactor: z.number().gt(0).max(1),
  /** Rollbacks a run may take (for collapse or non-finite steps) before it stops instead. */
  maxRollbacks: int(0, 1_000),
});

// Sides the face prior pools faces to: its fit's covariance has side⁴ entries and its
// eigendecomposition costs side⁶, so 32 (seconds) and no more; below 16 a fill is too coarse.
export const PRIOR_SIDE_MAX = 32;
export const PRIOR_SIDE_MIN = 16;

/** The side `generator.prior` pools faces of `imageSize` to: its largest divisor up to 32, or null when that is under 16. */
export function priorSide(imageSize: number): number | null {
  for (let d = Math.min(imageSize, PRIOR_SIDE_MAX); d >= PRIOR_SIDE_MIN; d--) if (imageSize % d === 0) return d;
  return null;
}

/** The one run configuration shared by every command. */
export const RunConfigSchema = z
  .strictObject({
    preset: z.string(),
    backend: z.enum(['auto', ...BACKENDS]),
    generator: GeneratorSchema,
    discriminator: DiscriminatorSchema,
    loss: LossSchema,
    optimizer: OptimizerSchema,
    data: DataSchema,
    train: TrainSchema,
    cluster: ClusterSchema,
    monitor: MonitorSchema,
  })
  .refine((c) => c.generator.prior === 0 || priorSide(c.data.imageSize) !== null, {
    path: ['generator', 'prior'],
    message: `needs data.imageSize to have a divisor from ${PRIOR_SIDE_MIN} to ${PRIOR_SIDE_MAX} to pool the faces to (set 0 for no prior)`,
  });

/** A validated run configuration. */
export type RunConfig = z.infer<typeof RunConfigSchema>;
/** Generator settings. */
export type GeneratorConfig = RunConfig['generator'];
/** Discriminator settings. */
export type DiscriminatorConfig = RunConfig['discriminator'];
/** Loss settings. */
export type LossConfig = RunConfig['loss'];
/** Optimizer settings. */
export type OptimizerConfig = RunConfig['optimizer'];
/** Data settings. */
export type DataConfig = RunConfig['data'];
/** Distributed-run settings. */
export type ClusterConfig = RunConfig['cluster'];
/** Training-health monitoring settings. */
export type MonitorConfig = RunConfig['monitor'];

/** A partial overlay of a RunConfig, as presets, config files and flags give it. */
export type ConfigOverlay = {
  [K in keyof RunConfig]?: RunConfig[K] extends object ? Partial<RunConfig[K]> : RunConfig[K];
};
