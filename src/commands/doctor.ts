import type { BackendName } from '../shared/config';
import { ConfigInvalidError } from '../shared/errors';
import { GpuUnavailableError } from '../shared/errors';
import { childProber, hostFacts } from '../shared/preflight/host-probes';
import { probeEnvironment, runPreflight } from '../shared/preflight/preflight';
import type { DoctorReport } from '../shared/preflight/report';

/** Default bound on each backend probe (its load and the timed step), in seconds. */
export const DEFAULT_DOCTOR_TIMEOUT_SECONDS = 120;

/** What `facefill doctor` needs once its flags are parsed. */
export interface DoctorOptions {
  preference: 'auto' | BackendName;
  /** The GPU to judge (nvidia-smi's ordinal), or null for none. */
  gpu: number | null;
  workDir: string;
  /** Bound on each probe child, in seconds. */
  timeoutSeconds: number;
}

/**
 * Runs `facefill doctor`: checks this host as a worker would use it and returns the report.
 * @throws ConfigInvalidError for a negative GPU or a timeout under 1 s.
 */
export async function runDoctor(o: DoctorOptions): Promise<DoctorReport> {
  if (o.gpu !== null && (!Number.isInteger(o.gpu) || o.gpu < 0)) throw new ConfigInvalidError(`--gpu ${o.gpu}: expected a GPU ordinal, 0 or more`);
  if (!Number.isInteger(o.timeoutSeconds) || o.timeoutSeconds < 1) throw new ConfigInvalidError(`--timeout ${o.timeoutSeconds}: expected whole seconds, 1 or more`);
  return runPreflight(
    { preference: o.preference, gpu: o.gpu, workDir: o.workDir },
    hostFacts(),
    childProber(probeEnvironment(process.env, o.gpu), o.timeoutSeconds * 1000),
  );
}

/**
 * The error `facefill doctor --gpu I` ends with when GPU I cannot run a worker (exit code 1),
 * or null when it can or none was asked for.
 */
export function requestedGpuFailure(report: DoctorReport): GpuUnavailableError | null {
  const v = report.requestedGpu;
  return v && !v.usable ? new GpuUnavailableError(v.index, `GPU ${v.index} is unusable: ${v.problems.join('; ')}`) : null;
}
