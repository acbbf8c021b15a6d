import { ConfigInvalidError, CredentialsError, GpuUnavailableError, MaskFileError, RunStoppedError } from './errors';

/**
 * The exit codes of facefill commands, a contract with whatever starts them: `facefill workers`
 * restarts a worker by it, and a scheduler can too. Each code says whether starting the same
 * command again can help.
 */
export const ExitCode = {
  /** The command finished its work. */
  FINISHED: 0,
  /**
   * The process failed on its own: a crash, an error of its own, a lost coordinator. Restartable:
   * a new process may succeed, and a worker rejoins the run at its next ring generation.
   */
  FAILED: 1,
  /**
   * Invalid config or usage (a flag, config value or input the command refuses), or a host that
   * cannot run it as asked (a `--gpu` worker whose GPU tfjs-node-gpu cannot use). Not
   * restartable: the same command line fails the same way until the flags or the host change.
   */
  USAGE: 2,
  /**
   * The run was stopped or failed as a whole (the coordinator said stop, the monitor stopped a
   * collapsed run, the process was told to stop). Not restartable: there is no run to rejoin.
   */
  RUN_STOPPED: 3,
} as const;

/** One of the {@link ExitCode} values. */
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

const MEANING: Record<ExitCode, string> = {
  [ExitCode.FINISHED]: 'finished',
  [ExitCode.FAILED]: 'failed',
  [ExitCode.USAGE]: 'invalid config or usage',
  [ExitCode.RUN_STOPPED]: 'the run was stopped',
};

/** What an exit code means under the contract, or undefined for a code outside it (say, one of Node's own fatal errors). */
export function exitCodeMeaning(code: number): string | undefined {
  return Object.hasOwn(MEANING, code) ? MEANING[code as ExitCode] : undefined;
}

/** The exit code for the error that ended a command. */
export function exitCodeFor(err: unknown): ExitCode {
  if (err instanceof RunStoppedError) return ExitCode.RUN_STOPPED;
  // A GPU the worker cannot use stays unusable until someone fixes the host (its CUDA libraries, its driver).
  if (err instanceof ConfigInvalidError || err instanceof MaskFileError || err instanceof CredentialsError || err instanceof GpuUnavailableError) return ExitCode.USAGE;
  return ExitCode.FAILED;
}

/**
 * Whether starting a process again may help, from how it ended. Only the codes that say so are
 * final (finished, usage, run stopped); any other code is a crash, and so is a death by a
 * signal: the caller must itself leave out the processes it signalled to stop.
 */
export function isRestartable(code: number | null, signal: NodeJS.Signals | null): boolean {
  if (signal !== null) return true;
  return code !== ExitCode.FINISHED && code !== ExitCode.USAGE && code !== ExitCode.RUN_STOPPED;
}
