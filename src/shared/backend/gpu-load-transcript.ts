import { type RunOutcome, runBounded } from '../util/bounded-run';

/** How long a child loading tfjs-node-gpu may take: libtensorflow's start and CUDA's device probe take a few seconds. */
export const GPU_LOAD_TIMEOUT_MS = 30_000;

/** More than TensorFlow prints while it loads; a bound, so a runaway child cannot fill memory. */
const MAX_TRANSCRIPT_BYTES = 1 << 20;

// Loads the package, lets it look for its GPU, and says what it found; TensorFlow's own log goes to stderr.
const SCRIPT = `
Promise.resolve()
  .then(() => require(process.argv[1]))
  .then((tf) => tf.setBackend('tensorflow').then(() => tf.ready()).then(() => tf))
  .then((tf) => console.log('isUsingGpuDevice: ' + tf.backend().isUsingGpuDevice))
  .catch((err) => { console.error(err && err.stack ? err.stack : String(err)); process.exitCode = 1; });
`;

/**
 * What TensorFlow prints while tfjs-node-gpu loads and looks for its GPU: the dlopen line of each
 * CUDA library it could not load, the driver's diagnostics, or the load's error. libtensorflow
 * writes them to the process's native stderr, which Node cannot read back, so the package is
 * loaded again in a child process whose stderr is read (with TensorFlow's log fully on). Never
 * throws: a package that cannot be found gives its resolution error, a child that hangs is
 * stopped after `timeoutMs` and what it printed so far is returned.
 */
export async function captureGpuLoad(o: { module?: string; timeoutMs?: number } = {}): Promise<string> {
  let resolved: string;
  try {
    resolved = require.resolve(o.module ?? '@tensorflow/tfjs-node-gpu');
  } catch (err) {
    return (err as Error).message;
  }
  const timeoutMs = o.timeoutMs ?? GPU_LOAD_TIMEOUT_MS;
  const run = await runBounded(process.execPath, ['-e', SCRIPT, resolved], { timeoutMs, env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '0' }, maxBytes: MAX_TRANSCRIPT_BYTES });
  return transcriptOf(run, timeoutMs);
}

/** The child's output as one text, TensorFlow's log (stderr) first, ending with a line saying so when it was stopped. */
export function transcriptOf(run: Pick<RunOutcome, 'status' | 'stdout' | 'stderr'>, timeoutMs: number): string {
  const text = `${run.stderr}${run.stdout}`;
  if (run.status !== 'timeout') return text;
  return `${text}${text === '' || text.endsWith('\n') ? '' : '\n'}(stopped after ${timeoutMs / 1000} s)`;
}
