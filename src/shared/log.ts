import pino from 'pino';

/** The project's structured logger type. */
export type Logger = pino.Logger;

/**
 * Creates the process logger. Logs go to stderr so that stdout stays free for
 * command output (`--json`, tables); FACEFILL_LOG_LEVEL sets the level. Writes are
 * synchronous: a line is on disk before the next step starts, and none is lost on a crash.
 */
export function createLogger(name: string, level = process.env.FACEFILL_LOG_LEVEL ?? 'info'): Logger {
  return pino({ name, level, base: { pid: process.pid } }, pino.destination({ dest: 2, sync: true }));
}
