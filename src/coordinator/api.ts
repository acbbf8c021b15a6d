import type { RunConfig } from '../shared/config';
import type { FilePiece } from '../shared/control/file-transfer';
import type { DatasetPlan, StepReportIn } from '../shared/control/wire';
import type { ProbeResult, StepResult } from '../shared/train/api';
import type { Assignment, Registration } from './rendezvous';

export type { DatasetPlan, StepReportIn };

/** How the global batch is split (see ShardPlan), and how long the run is. */
export interface TrainingPlan {
  globalBatch: number;
  perRankBatch: number;
  seed: number;
  steps: number;
  dataset: DatasetPlan;
}

/** Everything a worker learns when the rendezvous completes. */
export interface WorkerAssignment extends Assignment {
  runId: string;
  config: RunConfig;
  plan: TrainingPlan;
  /** First step to run (0 for a new run). */
  startStep: number;
}

/** What the coordinator tells a worker in reply to a heartbeat or report. */
export type Directive = { action: 'continue' } | { action: 'stop'; reason: string } | { action: 'rollback'; reason: string };

/** A worker's own account of itself in a heartbeat. */
export type WorkerCondition = 'running' | 'finished' | 'failed';

/** A heartbeat: the worker is alive, at `step`, and in `condition` (with `error` when failed). */
export interface Heartbeat {
  runId: string;
  rank: number;
  step: number;
  condition: WorkerCondition;
  error: string;
}


/** One piece of an uploaded checkpoint, with the upload's header (repeated on every piece). */
export interface CheckpointPiece extends FilePiece {
  runId: string;
  rank: number;
  step: number;
}

/** Where an uploaded checkpoint went. */
export interface CheckpointReceipt {
  step: number;
  path: string;
}

/** One worker as `status` shows it. */
export interface WorkerView {
  rank: number;
  host: string;
  gpu: number;
  backend: string;
  state: string;
  step: number;
  heartbeatAgeSeconds: number;
}

/** The run as `status` shows it. */
export interface RunView {
  runId: string;
  state: 'rendezvous' | 'running' | 'finished' | 'failed';
  step: number;
  steps: number;
  workers: WorkerView[];
  lastReport: (StepResult & { rank: number; images: number }) | null;
  imagesPerSecond: number;
  error: string;
  latestCheckpoint: string;
  collapse: CollapseView;
  /** Rank 0's latest validation probe, or null before the first. */
  probe: ProbeResult | null;
}

/** The mode-collapse detector's state as `status` shows it. */
export interface CollapseView {
  collapsed: boolean;
  /** 0 (healthy) .. 1. */
  score: number;
  /** Which signal fired and its numbers; '' while healthy. */
  reason: string;
  diversityRatio: number | null;
  /** Times the run was judged collapsed. */
  events: number;
}

/**
 * The coordinator as its gRPC service sees it: domain types only; the service converts
 * the wire messages at the edge. Calls that name another run throw RunMismatchError.
 */
export interface ControlPlane {
  /** Joins the rendezvous; resolves when the world is complete. */
  register(registration: Registration): Promise<WorkerAssignment>;
  heartbeat(beat: Heartbeat): Directive;
  /** Resolves once the report is taken in (a checkpoint digest: once the merge it completes is done). */
  reportStep(report: StepReportIn): Promise<Directive>;
  status(): RunView;
  /** The pieces of one dataset file, for workers without a shared filesystem. */
  datasetPieces(runId: string, name: string): AsyncIterable<FilePiece>;
  /** Receives rank 0's checkpoint files (verified) for merging. */
  uploadCheckpoint(pieces: AsyncIterable<CheckpointPiece>): Promise<CheckpointReceipt>;
  /** The pieces of a merged checkpoint (`step` 0: the latest), meta.json last. */
  checkpointPieces(step: number): AsyncIterable<FilePiece>;
  shutdown(reason: string): void;
}
