import type { StepReport, StepReport__Output } from '../../generated/facefill/v1/StepReport';
import type { ProbeResult, StepResult } from '../train/api';

/** Conversions of control-plane messages both sides use, and the types they carry. */

/** The dataset a run trains on, as workers must have it. */
export interface DatasetPlan {
  /** sha256 of the dataset's manifest.json. */
  manifestSha256: string;
  files: { name: string; bytes: number; sha256: string }[];
}

/** A step report: one rank's step result, at checkpoint steps its weights' digest, and rank 0's probe. */
export interface StepReportIn {
  runId: string;
  rank: number;
  result: StepResult;
  /** Images this rank trained on in the step. */
  images: number;
  /** sha256 of all the rank's weights at a checkpoint step, else ''. */
  weightsSha256: string;
  /** The validation probe, on steps where rank 0 ran it. */
  probe: ProbeResult | null;
}

/** A received step report (the coordinator's side of {@link toStepReport}). */
export function toStepReportIn(r: StepReport__Output): StepReportIn {
  return { runId: r.runId, rank: r.rank, result: toStepResult(r), images: r.images, weightsSha256: r.weightsSha256, probe: r.probe ?? null };
}

// proto3 `optional` fields are absent when unset: absent means null (D not trained).
const orNull = (v: number | undefined): number | null => (v === undefined ? null : v);

function toStepResult(r: StepReport__Output): StepResult {
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
    skipped: r.skipped ?? null,
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

/** The wire form of a step report (the worker's side of {@link toStepReportIn}). */
export function toStepReport({ runId, rank, result: r, images, weightsSha256, probe }: StepReportIn): StepReport {
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
    skipped: r.skipped ?? undefined,
    seconds: r.seconds,
    images,
    weightsSha256,
    probe: probe ?? undefined,
  };
}
