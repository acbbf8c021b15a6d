import type { FilePiece } from '../shared/control/file-transfer';
import type { RunConfig } from '../shared/config';
import type { StepResult } from '../shared/train/api';
import type { Assignment, Registration } from './rendezvous';

/** The dataset a run trains on, as workers must have it. */
export interface DatasetPlan {
  /** sha256 of the dataset's manifest.json. */
  manifestSha256: string;
  files: { name: string; bytes: number; sha256: string }[];
}

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
export type Directive = { action: 'continue' } | { action: 'stop'; reason: string };

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
}

/**
 * The coordinator as its gRPC service sees it: domain types only; the service converts
 * the wire messages at the edge. Calls that name another run throw RunMismatchError.
 */
export interface ControlPlane {
  /** Joins the rendezvous; resolves when the world is complete. */
  register(registration: Registration): Promise<WorkerAssignment>;
  heartbeat(runId: string, rank: number, step: number): Directive;
  reportStep(runId: string, rank: number, result: StepResult, images: number): Directive;
  status(): RunView;
  /** The pieces of one dataset file, for workers without a shared filesystem. */
  datasetPieces(runId: string, name: string): AsyncIterable<FilePiece>;
  shutdown(reason: string): void;
}
