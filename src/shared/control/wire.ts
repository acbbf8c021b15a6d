import type { StepReport, StepReport__Output } from '../../generated/facefill/v1/StepReport';
import type { StepResult } from '../train/api';

/** Conversions of control-plane messages both sides use, and the types they carry. */

/** The dataset a run trains on, as workers must have it. */
export interface DatasetPlan {
  /** sha256 of the dataset's manifest.json. */
  manifestSha256: string;
  files: { name: string; bytes: number; sha256: string }[];
}

// proto3 `optional` fields are absent when unset: absent means null (D not trained).
const orNull = (v: number | undefined): number | null => (v === undefined ? null : v);

/** A received step report's result (the coordinator's side of {@link toStepReport}). */
export function toStepResult(r: StepReport__Output): StepResult {
  const s = r.seconds;
  return {
    step: r.step,
    dLossReal: orNull(r.dLossReal),
    dLossFake: orNull(r.dLossFake),
    gAdversarialLoss: orNull(r.gAdversarialLoss),
    gL2Loss: r.gL2Loss,
    gLoss: r.gLoss,
    dScoreReal: orNull(r.dScoreReal),
    dScoreFake: orNull(r.dScoreFake),
    gGradNorm: r.gGradNorm,
    dGradNorm: orNull(r.dGradNorm),
    seconds: {
      data: s?.data ?? 0,
      dCompute: s?.dCompute ?? 0,
      dReduce: s?.dReduce ?? 0,
      gCompute: s?.gCompute ?? 0,
      gReduce: s?.gReduce ?? 0,
      apply: s?.apply ?? 0,
      total: s?.total ?? 0,
    },
  };
}

/** The wire form of a step report (the worker's side of {@link toStepResult}). */
export function toStepReport(runId: string, rank: number, r: StepResult, images: number, weightsSha256 = ''): StepReport {
  const opt = (v: number | null) => (v === null ? undefined : v);
  return {
    runId,
    rank,
    step: r.step,
    dLossReal: opt(r.dLossReal),
    dLossFake: opt(r.dLossFake),
    gAdversarialLoss: opt(r.gAdversarialLoss),
    gL2Loss: r.gL2Loss,
    gLoss: r.gLoss,
    dScoreReal: opt(r.dScoreReal),
    dScoreFake: opt(r.dScoreFake),
    gGradNorm: r.gGradNorm,
    dGradNorm: opt(r.dGradNorm),
    seconds: r.seconds,
    images,
    weightsSha256,
  };
}
