import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Resolves as `work` does, or rejects with `onTimeout()` once `ms` have passed; the timer is
 * cancelled as soon as either happens, so nothing lingers after a fast `work`.
 */
export async function withDeadline<T>(work: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  const cancel = new AbortController();
  const expired = sleep(ms, undefined, { signal: cancel.signal }).then((): never => {
    throw onTimeout();
  });
  try {
    return await Promise.race([work, expired]);
  } finally {
    cancel.abort();
  }
}
