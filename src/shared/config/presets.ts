import { DEFAULT_AUGMENT, NO_AUGMENT } from '../data/augmentation';
import type { ConfigOverlay, RunConfig } from './schema';

/** A named configuration: the recommended default, or one of the original research runs. */
export interface Preset {
  /** What the preset is and, for research runs, what the slides reported. */
  description: string;
  /** Overlay on the `default` preset. */
  overlay: ConfigOverlay;
}

/**
 * The recommended configuration: GAN+L2 (the research's best) with the GAN term at a fifth
 * of its weight, a U-Net generator small enough to train usefully on CPU in minutes that
 * upsamples by resizing, sees its input mirrored and starts from a Gaussian face prior's
 * fill, minibatch discrimination in D, masks drawn mostly as the halves and eyes users ask
 * for, and rates that fall along a cosine over the run. What each choice bought is in
 * docs/restoration-quality.md.
 */
export const DEFAULT_CONFIG: RunConfig = {
  preset: 'default',
  backend: 'auto',
  generator: {
    layers: 8,
    baseFilters: 32,
    maxFilters: 128,
    kernelSize: 4,
    skip: true,
    bottleneck: 0,
    dropout: 0,
    norm: 'batch',
    // Transposed convolutions left the GAN+L2 fill under a checkerboard grain; a resize and a
    // convolution make it sharper than L2-only's without grain, for 0.25 dB on the eyes.
    upsample: 'resize',
    mirrorInput: true,
    globalLinear: false,
    // The fill alone beat 2000 trained steps without it on every mask, by 0.8-2.8 dB.
    prior: 128,
  },
  discriminator: {
    layers: 4,
    baseFilters: 32,
    maxFilters: 128,
    kernelSize: 4,
    dropout: 0.25,
    minibatch: 'discrimination',
    minibatchKernels: 16,
    minibatchDims: 4,
  },
  loss: {
    mode: 'gan+l2',
    // At weight 1 the adversarial term costs 0.5-0.8 dB against L2-only by 1000 steps; at 0.2, 0.2 at most.
    ganWeight: 0.2,
    l2Weight: 100,
    l2Region: 'hole',
    generatorLoss: 'reverse',
    softLabels: true,
    noisyLabels: false,
    labelNoiseStd: 0.1,
    isolatedMinibatches: true,
  },
  // This cosine and the mixture weighted to the halves together bought +0.7 dB on the lower half
  // and +0.5 on the right by 2000 steps, for 0.5 on boxes; over a 200-step run the cosine costs.
  optimizer: { lrG: 1e-3, lrD: 2e-4, beta1: 0.5, beta2: 0.999, schedule: 'cosine' },
  data: {
    imageSize: 64,
    batchSize: 32,
    maxImages: 0,
    occlusion: { 'half-lower': 2, 'half-right': 1.5, 'half-left': 1.5, 'half-upper': 0.5, eyes: 1.5, 'eyes-unconstrained': 0.5, box: 1, strokes: 0.5 },
    eyesBox: null,
    // The prior models aligned faces; trained on reframed ones, the generator learns to undo
    // it and loses 0.3-1.2 dB on aligned faces, gaining only on reframed eyes (`augmented`).
    augment: { ...NO_AUGMENT },
    prefetch: 2,
  },
  train: { steps: 2000, seed: 1, checkpointEvery: 500, logEvery: 10, maxSkippedSteps: 20, keepCheckpoints: 5 },
  cluster: {
    rendezvousTimeoutSeconds: 600,
    heartbeatSeconds: 2,
    heartbeatTimeoutSeconds: 30,
    collectiveTimeoutSeconds: 120,
    sameHostTransport: 'ipc',
    chunkBytes: 1 << 20,
    ringEncryption: 'curve',
    compression: 'none',
    minWorkers: 1,
    rejoinSeconds: 60,
    stallSeconds: 300,
    reconnectSeconds: 120,
    allowMixedBackends: false,
  },
  monitor: {
    probeEvery: 50,
    probeSize: 16,
    collapseWindow: 50,
    diversityThreshold: 0.2,
    adversarialFloor: 0.05,
    collapseAction: 'warn',
    rollbackLrFactor: 0.5,
    maxRollbacks: 5,
  },
};

/** Steps for `epochs` passes over `images` images in batches of 64, as the slides counted them. */
const epochs = (n: number, images: number): ConfigOverlay['train'] => ({ steps: n * Math.floor(images / 64) });

// What every slide-era run shared: plain conv nets without skips, batches of 64,
// Adam, GAN loss only, no minibatch features in D. Filters cap at 256, which puts v3.3 at
// the slides' 3M parameters (G+D) and v3.2's generator at their 8M.
const research = (over: {
  lr: [number, number];
  layers: [number, number];
  size?: number;
  images?: number;
  occlusion?: NonNullable<ConfigOverlay['data']>['occlusion'];
  epochs: number;
  bottleneck?: boolean;
  soft?: boolean;
  reverse?: boolean;
  isolated?: boolean;
  dropout?: number;
  mode?: RunConfig['loss']['mode'];
}): ConfigOverlay => {
  const images = over.images ?? 4160;
  return {
    generator: {
      layers: over.layers[0],
      baseFilters: 64,
      maxFilters: 256,
      kernelSize: 5,
      skip: false,
      bottleneck: over.bottleneck ? 256 : 0,
      dropout: over.dropout ?? 0,
      norm: 'batch',
      upsample: 'transposed',
      mirrorInput: false,
      globalLinear: false,
      prior: 0,
    },
    discriminator: {
      layers: over.layers[1],
      baseFilters: 64,
      maxFilters: 256,
      kernelSize: 5,
      dropout: over.dropout ?? 0.25,
      minibatch: 'none',
    },
    loss: {
      mode: over.mode ?? 'gan',
      ganWeight: 1,
      l2Weight: 100,
      l2Region: 'hole',
      generatorLoss: over.reverse ? 'reverse' : 'unique',
      softLabels: over.soft ?? false,
      noisyLabels: false,
      isolatedMinibatches: over.isolated ?? false,
    },
    optimizer: { lrG: over.lr[0], lrD: over.lr[1], beta1: 0.5, schedule: 'constant' },
    data: {
      imageSize: over.size ?? 64,
      batchSize: 64,
      maxImages: images,
      occlusion: over.occlusion ?? { half: 1 },
      // The research runs trained on the aligned crops as they are.
      augment: { ...NO_AUGMENT },
    },
    train: epochs(over.epochs, images),
  };
};

const small = { box: 1 };
const eyes = { 'eyes-unconstrained': 1 };

/** Every preset by name. The `v*` ones follow `shared/seed/experiments.md`. */
export const PRESETS: Readonly<Record<string, Preset>> = {
  default: {
    description: 'Recommended: GAN+L2, U-Net G (8 layers, skips, resize upsampling) refining a face prior\'s fill, D with minibatch discrimination, occlusions weighted to halves and eyes, cosine rates.',
    overlay: {},
  },
  augmented: {
    description: 'default trained on reframed and re-exposed samples (data.augment): for photos framed unlike the training set, at a cost on aligned ones.',
    overlay: { data: { augment: { ...DEFAULT_AUGMENT } } },
  },
  autoencoder: {
    description: 'The slides\' "progress" model: the v3.3 generator trained with L2 only, no discriminator.',
    overlay: research({ lr: [1e-4, 1e-4], layers: [6, 3], epochs: 250, mode: 'l2' }),
  },
  'v1.0': {
    description: 'One-layer G and D at 16x16, 1,800 images, small occlusions, GAN loss; ran out of memory at larger sizes.',
    overlay: research({ lr: [1e-4, 1.5e-4], layers: [1, 1], size: 16, images: 1800, occlusion: small, epochs: 1000 }),
  },
  'v1.1': {
    description: 'Three-layer G and D at 16x16; a 10-epoch trial.',
    overlay: research({ lr: [1e-4, 1.5e-4], layers: [3, 3], size: 16, images: 1800, occlusion: small, epochs: 10 }),
  },
  'v1.1.2': {
    description: 'v1.1 for 46 epochs; hit resource-exhausted errors in eval.',
    overlay: research({ lr: [1e-4, 1.5e-4], layers: [3, 3], size: 16, images: 1800, occlusion: small, epochs: 46 }),
  },
  'v2.6': {
    description: '8-layer G, 6-layer D at 64x64, half-face, GAN loss, mixed minibatches; very quick mode collapse.',
    overlay: research({ lr: [1e-4, 1e-4], layers: [8, 6], epochs: 25 }),
  },
  'v2.7.1': {
    description: 'v2.6 at lr 1e-5 with a bottleneck; trained until it collapsed.',
    overlay: research({ lr: [1e-5, 1e-5], layers: [8, 6], bottleneck: true, epochs: 100 }),
  },
  'v2.7.2': {
    description: 'v2.7.1 with isolated minibatches; 305 epochs (saved at 250).',
    overlay: research({ lr: [1e-5, 1e-5], layers: [8, 6], bottleneck: true, isolated: true, epochs: 305 }),
  },
  'v2.8': {
    description: 'v2.7.2 with soft labels and D lr 2e-5; mode collapse at 38 epochs.',
    overlay: research({ lr: [1e-5, 2e-5], layers: [8, 6], bottleneck: true, soft: true, isolated: true, epochs: 38 }),
  },
  'v2.9': {
    description: 'v2.8 with the reverse generator loss; constant test loss by 64 epochs.',
    overlay: research({
      lr: [1e-5, 2e-5],
      layers: [8, 6],
      bottleneck: true,
      soft: true,
      reverse: true,
      isolated: true,
      epochs: 64,
    }),
  },
  'v3.0': {
    description: '6-layer G, 3-layer D, no bottleneck, soft labels, isolated minibatches; 633 epochs.',
    overlay: research({ lr: [1e-5, 2e-5], layers: [6, 3], soft: true, isolated: true, epochs: 633 }),
  },
  'v3.1': {
    description: '8-layer G, 4-layer D with heavy dropout; 30 epochs.',
    overlay: research({ lr: [1e-5, 2e-5], layers: [8, 4], soft: true, isolated: true, dropout: 0.5, epochs: 30 }),
  },
  'v3.2': {
    description: '10-layer G, 5-layer D (8M parameters), 13,195 images with unconstrained eye occlusions; 23 epochs.',
    overlay: research({ lr: [1e-4, 2e-4], layers: [10, 5], images: 13195, occlusion: eyes, soft: true, isolated: true, epochs: 23 }),
  },
  'v3.2.2': {
    description: 'v3.2 trained for more than 50 epochs.',
    overlay: research({ lr: [1e-4, 2e-4], layers: [10, 5], images: 13195, occlusion: eyes, soft: true, isolated: true, epochs: 50 }),
  },
  'v3.3': {
    description: 'The "final" model: 6-layer G, 3-layer D (3M parameters), GAN+L2, lr G 1e-5 / D 4e-5, half-face, 250 epochs.',
    overlay: research({ lr: [1e-5, 4e-5], layers: [6, 3], soft: true, isolated: true, mode: 'gan+l2', epochs: 250 }),
  },
  'v3.3.2': {
    description: 'v3.3 trained for 500 epochs.',
    overlay: research({ lr: [1e-5, 4e-5], layers: [6, 3], soft: true, isolated: true, mode: 'gan+l2', epochs: 500 }),
  },
};
