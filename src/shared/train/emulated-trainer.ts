import { setTimeout as sleep } from 'node:timers/promises';
import type { RunConfig } from '../config';
import { type Networks, type StepResult, stepSecondsFrom } from './api';
import type { BatchTensors } from './batch-tensors';
import { l2Norm, parameterCount, trainableVariables } from './flat-gradients';
import { type DataParallel, SINGLE_PROCESS, Trainer } from './trainer';

const now = (): number => performance.now() / 1000;

/**
 * The trainer of a scaling simulation (`train.emulateComputeMs`): a step waits out a fixed
 * compute time, half before D's all-reduce and half before G's as the real step computes each
 * phase before reducing it, and all-reduces flat gradients exactly as long as the networks'
 * trainable weights through the reducer the real step would use. It sleeps rather than spins:
 * several emulated ranks sharing a host's cores would otherwise make the cores the bottleneck
 * instead of the links. No loss is computed (D's are null, G's NaN) and the reduced gradients
 * are not applied, so the weights stay as built and every replica agrees.
 */
export class EmulatedTrainer extends Trainer {
  private readonly flatD: Float32Array;
  private readonly flatG: Float32Array;

  constructor(
    config: RunConfig,
    networks: Networks,
    private readonly computeMs: number,
    parallel: DataParallel = SINGLE_PROCESS,
  ) {
    super(config, networks, parallel);
    this.flatD = new Float32Array(this.trainsDiscriminator ? parameterCount(trainableVariables(networks.discriminator)) : 0);
    this.flatG = new Float32Array(parameterCount(trainableVariables(networks.generator)));
  }

  /** Runs emulated step `step`: the batch is not looked at, only the step number tags the all-reduces. */
  override async stepOnTensors(_tensors: BatchTensors, step: number, dataSeconds = 0): Promise<StepResult> {
    const t0 = now();
    const seconds = stepSecondsFrom(dataSeconds);
    let dGradNorm: number | null = null;
    if (this.trainsDiscriminator) {
      const d = await this.phase('D', step, this.computeMs / 2);
      [seconds.dCompute, seconds.dReduce, dGradNorm] = [d.computeSeconds, d.reduceSeconds, d.norm];
    }
    const g = await this.phase('G', step, this.trainsDiscriminator ? this.computeMs / 2 : this.computeMs);
    [seconds.gCompute, seconds.gReduce] = [g.computeSeconds, g.reduceSeconds];
    seconds.total = dataSeconds + now() - t0;
    const bad = [dGradNorm, g.norm].some((n) => n !== null && !Number.isFinite(n));
    return {
      step,
      dLossReal: null,
      dLossFake: null,
      gAdversarialLoss: null,
      gL2Loss: Number.NaN,
      gLoss: Number.NaN,
      dScoreReal: null,
      dScoreFake: null,
      gGradNorm: g.norm,
      dGradNorm,
      skipped: bad ? 'an emulated gradient is not finite after the all-reduce' : null,
      seconds,
    };
  }

  // Waits out one phase's compute, then reduces its gradient: this rank's share in every element,
  // so the ring's sum is all ones wherever the shares add up to the global batch.
  private async phase(phase: 'D' | 'G', step: number, computeMs: number): Promise<{ computeSeconds: number; reduceSeconds: number; norm: number }> {
    const t0 = now();
    await sleep(computeMs);
    const flat = (phase === 'D' ? this.flatD : this.flatG).fill(this.parallel.share);
    const t1 = now();
    const reduced = await this.parallel.reduce(flat, phase, step);
    const t2 = now();
    return { computeSeconds: t1 - t0, reduceSeconds: t2 - t1, norm: l2Norm(reduced) };
  }
}
