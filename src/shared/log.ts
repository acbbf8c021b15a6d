import pino from 'pino';
import pinoPretty from 'pino-pretty';

/** The project's structured logger type. */
export type Logger = pino.Logger;

/** How log lines are written: JSON lines (for machines: log shippers, supervisors, tests) or readable text (for a person at a terminal). */
export type LogFormat = 'json' | 'pretty';

/** The log formats a user may ask for (`--log-format`, FACEFILL_LOG_FORMAT). */
export const LOG_FORMATS: readonly LogFormat[] = ['json', 'pretty'];

/**
 * The format this process logs in: FACEFILL_LOG_FORMAT when set (the CLI's `--log-format` sets
 * it, and the processes a command starts inherit it), else readable text when stderr is a
 * terminal and JSON lines otherwise.
 */
export function logFormat(env: NodeJS.ProcessEnv = process.env, stderrIsTty = process.stderr.isTTY === true): LogFormat {
  const asked = env.FACEFILL_LOG_FORMAT;
  if (asked === 'json' || asked === 'pretty') return asked;
  return stderrIsTty ? 'pretty' : 'json';
}

/**
 * Creates the process logger. Logs go to stderr so that stdout stays free for
 * command output (`--json`, tables); FACEFILL_LOG_LEVEL sets the level, {@link logFormat} the
 * format. Writes are synchronous: a line is on disk before the next step starts, and none is
 * lost on a crash.
 */
export function createLogger(name: string, level = process.env.FACEFILL_LOG_LEVEL ?? 'info'): Logger {
  const options = { name, level, base: { pid: process.pid } };
  if (logFormat() === 'json') return pino(options, pino.destination({ dest: 2, sync: true }));
  return pino(options, pinoPretty({ destination: 2, sync: true, colorize: process.stderr.isTTY === true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' }));
}
