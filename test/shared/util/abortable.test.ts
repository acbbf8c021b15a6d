import test from 'ava';
import { abortable } from '../../../src/shared/util/abortable';

test('values pass through until the source ends', async (t) => {
  async function* three() {
    yield* [1, 2, 3];
  }
  const seen: number[] = [];
  for await (const v of abortable(three(), new AbortController().signal)) seen.push(v);
  t.deepEqual(seen, [1, 2, 3]);
});

test('an abort ends a wait on a stalled source at once, with the reason, and stops the source', async (t) => {
  let stopped = false;
  const stalled: AsyncIterable<number> = {
    [Symbol.asyncIterator]: () => ({
      next: () => new Promise<IteratorResult<number>>(() => undefined),
      return: async () => {
        stopped = true;
        return { done: true, value: undefined };
      },
    }),
  };
  const abort = new AbortController();
  const reading = (async () => {
    for await (const _ of abortable(stalled, abort.signal)) t.fail('no value was sent');
  })();
  setTimeout(() => abort.abort(new Error('closed: the run finished')), 20);
  await t.throwsAsync(reading, { message: 'closed: the run finished' });
  t.true(stopped);
});

test('a signal aborted before the first value ends the iteration before the source is read', async (t) => {
  let read = false;
  async function* source() {
    read = true;
    yield 1;
  }
  const abort = new AbortController();
  abort.abort(new Error('too late'));
  await t.throwsAsync(async () => {
    for await (const _ of abortable(source(), abort.signal)) t.fail();
  }, { message: 'too late' });
  t.false(read);
});
