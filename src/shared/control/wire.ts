import type { StepProgress, StepProgress__Output } from '../../generated/facefill/v1/StepProgress';
import type { StepReport, StepReport__Output } from '../../generated/facefill/v1/StepReport';
import { ProtocolViolationError } from '../errors';
import type { ProbeResult, StepResult } from '../train/api';

/** Conversions of control-plane messages both sides use, and the types they carry. */

/** The dataset a run trains on, as workers must have it. */
export interface DatasetPlan {
  /** sha256 of the dataset's manifest.json. */
  manifestSha256: string;
  files: { name: string; bytes: number; sha256: string }[];
}

/** A step report: one rank's progress, a checkpoint's weights digest, or the digest of a ring's synchronised start. */
export type StepReportIn = { runId: string; generation: number; rank: number; session: string; stepsDone: number } & (
  | { kind: 'progress'; result: StepResult; images: number; probe: ProbeResult | null }
  | { kind: 'checkpoint'; sha256: string }
  | { kind: 'sync'; sha256: string }
);

/** A received step report (the coordinator's side of {@link toStepReport}); a report of no kind is refused. */
export function toStepReportIn(r: StepReport__Output): StepReportIn {
  const who = { runId: r.runId, generation: r.generation, rank: r.rank, session: r.session, stepsDone: r.stepsDone };
  if (r.progress) return { ...who, kind: 'progress', result: toStepResult(r.stepsDone - 1, r.progress), images: r.progress.images, probe: r.progress.probe ?? null };
  if (r.checkpoint) return { ...who, kind: 'checkpoint', sha256: r.checkpoint.sha256 };
  if (r.sync) return { ...who, kind: 'sync', sha256: r.sync.sha256 };
  throw new ProtocolViolationError(`rank ${r.rank}'s step report carries neither progress, nor a checkpoint digest, nor a sync digest`);
}

// proto3 `optional` fields are absent when unset: absent means null (D not trained).
const orNull = (v: number | undefined): number | null => (v === undefined ? null : v);

/** The step result a progress message carries, for the 0-based step `step`. */
function toStepResult(step: number, r: StepProgress__Output): StepResult {
  const s = r.seconds;
  return {
    step,
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

/** The wire form of a step's progress. */
export function toStepProgress(r: StepResult, images: number, probe: ProbeResult | null): StepProgress {
  const opt = (v: number | null) => (v === null ? undefined : v);
  return {
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
    probe: probe ?? undefined,
  };
}

/** The wire form of a step report (the worker's side of {@link toStepReportIn}). */
export function toStepReport(r: StepReportIn): StepReport {
  const who = { runId: r.runId, generation: r.generation, rank: r.rank, session: r.session, stepsDone: r.stepsDone };
  switch (r.kind) {
    case 'progress':
      return { ...who, progress: toStepProgress(r.result, r.images, r.probe) };
    case 'checkpoint':
      return { ...who, checkpoint: { sha256: r.sha256 } };
    case 'sync':
      return { ...who, sync: { sha256: r.sha256 } };
  }
}
