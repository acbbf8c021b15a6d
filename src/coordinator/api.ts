import type { RunConfig } from '../shared/config';
import type { FilePiece } from '../shared/control/file-transfer';
import type { DatasetPlan, StepReportIn } from '../shared/control/wire';
import type { ProbeResult, StepResult } from '../shared/train/api';
import type { Assignment, Registration } from './rendezvous';

export type { DatasetPlan, StepReportIn };

/** How the global batch is split (see ShardPlan), and how long the run is. */
export interface TrainingPlan {
  globalBatch: number;
  seed: number;
  steps: number;
  dataset: DatasetPlan;
}

/** Who makes a call: a rank of one ring generation of one run, with the session secret its registration handed it. */
export interface Caller {
  runId: string;
  generation: number;
  rank: number;
  session: string;
}

/** Everything a worker learns when its generation's ring forms. */
export interface WorkerAssignment extends Assignment {
  runId: string;
  config: RunConfig;
  plan: TrainingPlan;
  /** Steps completed in the state the ring starts from (rank 0 broadcasts it). */
  startStep: number;
  /** The merged checkpoint to load first (a rollback, or no worker holds a state), or null. */
  checkpointStep: number | null;
  /** Bound on the ring's start-up broadcast (it waits for the slowest rank's download). */
  startupTimeoutMs: number;
  /** This rank's secret for this generation: its later calls carry it. */
  session: string;
}

/** What the coordinator tells a worker: go on, stop for good, or leave this ring and register for the next. */
export type Directive = { action: 'continue' } | { action: 'stop'; reason: string } | { action: 'regroup'; reason: string };

/** A worker's own account of itself in a heartbeat: training, done, failed, or leaving a ring that broke under it. */
export type WorkerCondition = 'running' | 'finished' | 'failed' | 'left';

/** A heartbeat: the worker is alive, at `step`, and in `condition` (with `error` when failed or left). */
export interface Heartbeat extends Caller {
  step: number;
  condition: WorkerCondition;
  error: string;
  /** With 'left': the rank of the neighbour that went silent, or -1. */
  silentPeer: number;
}

/** One piece of an uploaded checkpoint, with the upload's header (repeated on every piece). */
export interface CheckpointPiece extends FilePiece, Caller {
  step: number;
}

/** Where an uploaded checkpoint went. */
export interface CheckpointReceipt {
  step: number;
  /** Relative to the run folder: no absolute server path leaves the coordinator. */
  path: string;
}

/** The end of a worker's live link: the coordinator pushes directives into it, and hears when it breaks. */
export interface WatchLink {
  /** Pushes a directive to the worker at once. */
  push(directive: Directive): void;
  /** Ends the link from the coordinator's side (after a final directive). */
  end(): void;
}

/** One worker as `status` shows it. */
export interface WorkerView {
  rank: number;
  host: string;
  gpu: number;
  backend: string;
  /** gpu or cpu: what its backend computes on. */
  device: string;
  state: string;
  step: number;
  heartbeatAgeSeconds: number;
}

/** One recovery as `status` shows it. */
export interface RecoveryView {
  cause: string;
  generation: number;
  /** The step training resumed from (-1 while the ring forms). */
  step: number;
  lostSteps: number;
  reason: string;
  /** Detection to the new ring's first step (0 while it is not training yet). */
  seconds: number;
}

/** The run as `status` shows it. */
export interface RunView {
  runId: string;
  state: 'rendezvous' | 'running' | 'recovering' | 'finished' | 'failed';
  generation: number;
  step: number;
  steps: number;
  workers: WorkerView[];
  lastReport: (StepResult & { rank: number; images: number }) | null;
  imagesPerSecond: number;
  error: string;
  /** The latest merged checkpoint's folder relative to the run folder, or ''. */
  latestCheckpoint: string;
  collapse: CollapseView;
  /** Rank 0's latest validation probe, or null before the first. */
  probe: ProbeResult | null;
  /** The recent recoveries, oldest first. */
  recoveries: RecoveryView[];
  /** `cluster.ringEncryption` of the run. */
  ringEncryption: 'curve' | 'none';
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
 * the wire messages at the edge. A call that names another run throws RunMismatchError; one
 * of an earlier ring generation is told to regroup.
 */
export interface ControlPlane {
  /** Joins the next ring generation; resolves when its ring forms. Aborting `left` (the caller went away) gives its place back. */
  register(registration: Registration, left?: AbortSignal): Promise<WorkerAssignment>;
  /** Opens a worker's live link for its generation; `link` is its end. Returns what to call when the worker's side ends. */
  watch(caller: Caller, link: WatchLink): (why: string) => void;
  heartbeat(beat: Heartbeat): Directive;
  /** Resolves once the report is taken in (a digest: once the merge or agreement it completes is done). */
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
