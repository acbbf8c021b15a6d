/**
 * Iterates `source` until `signal` aborts. A `next()` still waiting then rejects at once with
 * the signal's reason, so a sender that stalls cannot hold its receiver, and the source is
 * told to stop (its `return()`, not awaited: a stalled source may never answer). Ending the
 * iteration early, by a break or a throw in the consumer, stops the source the same way.
 */
export async function* abortable<T>(source: AsyncIterable<T>, signal: AbortSignal): AsyncGenerator<T> {
  const it = source[Symbol.asyncIterator]();
  let onAbort = (): void => undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
  });
  // Only ever raced against next(): a rejection nobody awaits is not an error.
  aborted.catch(() => undefined);
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    for (;;) {
      signal.throwIfAborted();
      const next = await Promise.race([it.next(), aborted]);
      if (next.done) return;
      yield next.value;
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
    void Promise.resolve(it.return?.()).catch(() => undefined);
  }
}
