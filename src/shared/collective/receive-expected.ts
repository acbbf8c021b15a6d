import { CollectiveMessageError, CollectiveTimeoutError } from '../errors';
import type { Logger } from '../log';
import { type CollectiveOp, type ExpectedChunk, PHASES, type WireArrays, type WireType } from './api';
import { decodeFrame, type FrameHeader } from './frame';

/**
 * The receive policy every transport shares: decode, validate against the expected chunk,
 * drop leftovers, bound the wait. Transports only move frames.
 */

/** What a receiver does with a well-formed message: use it, or drop it as a leftover. */
export type Verdict = 'accept' | 'stale';

/** The ranks at both ends of a link, to name them in errors and logs. */
export interface LinkEnds {
  /** The receiving rank. */
  self: number;
  /** The sending rank (the left neighbour). */
  from: number;
}

/**
 * Judges a well-formed header against the chunk the receiver waits for. Another run's message,
 * or one of an earlier operation, is 'stale': a leftover of an aborted operation that cannot
 * change this one. Anything else that differs (a later operation, another round, chunk or
 * length) means the ranks disagree about what they are doing: a CollectiveMessageError,
 * since using or skipping it would corrupt or stall the result.
 */
export function judgeHeader(h: FrameHeader, expect: ExpectedChunk, peer: string): Verdict {
  if (h.run !== expect.run || order(h) < order(expect)) return 'stale';
  if (order(h) > order(expect)) {
    throw new CollectiveMessageError(`${peer} sent ${opName(h)} while this rank is at ${opName(expect)} of run '${expect.run}': ranks out of step`);
  }
  const fields = ['round', 'chunk', 'dtype', 'length'] as const;
  const off = fields.filter((f) => h[f] !== expect[f]).map((f) => `${f} ${h[f]} (expected ${expect[f]})`);
  if (off.length > 0) throw new CollectiveMessageError(`${peer} sent ${off.join(', ')} for ${opName(expect)} of run '${expect.run}'`);
  return 'accept';
}

/**
 * Resolves with the payload of the expected chunk, taking messages from `next` (which resolves
 * with a message's frames, or null when `timeoutMs` passed without one). Stale messages are
 * dropped with a warning; the deadline stays the same, so a stream of them cannot extend the
 * wait. Throws CollectiveMessageError for a malformed or misfitting message and
 * CollectiveTimeoutError, naming the sender and the chunk, when the deadline passes.
 */
export async function receiveExpected<T extends WireType>(
  next: (timeoutMs: number) => Promise<readonly Buffer[] | null>,
  expect: ExpectedChunk<T>,
  timeoutMs: number,
  ends: LinkEnds,
  log: Logger,
): Promise<WireArrays[T]> {
  const peer = `rank ${ends.from}`;
  const deadline = performance.now() + timeoutMs;
  let dropped = 0;
  for (;;) {
    const left = Math.ceil(deadline - performance.now());
    const frames = left > 0 ? await next(left) : null;
    if (frames === null) {
      const note = dropped > 0 ? `; dropped ${dropped} stale message(s) meanwhile` : '';
      throw new CollectiveTimeoutError(
        `rank ${ends.self} received nothing from ${peer} within ${timeoutMs} ms while waiting for ${chunkName(expect)}${note} (is ${peer} alive?)`,
        ends.from,
      );
    }
    const { header, payload } = decodeFrame(frames, peer);
    // judgeHeader accepts only the expected wire type, which decodeFrame gave its array type.
    if (judgeHeader(header, expect, peer) === 'accept') return payload as WireArrays[T];
    dropped++;
    log.warn({ from: ends.from, self: ends.self, got: header, expected: expect }, `dropped a stale message: ${peer} sent ${staleReason(header, expect)}`);
  }
}

// Operations are ordered by step, then by phase within the step.
const order = (op: CollectiveOp): number => op.step * PHASES.length + PHASES.indexOf(op.phase);
const opName = (op: CollectiveOp): string => `step ${op.step} phase ${op.phase}`;
const chunkName = (c: ExpectedChunk): string =>
  `${opName(c)} round ${c.round} chunk ${c.chunk} (${c.length} ${c.dtype} values) of run '${c.run}'`;
const staleReason = (h: FrameHeader, expect: ExpectedChunk): string =>
  h.run !== expect.run ? `run '${h.run}' (this ring runs '${expect.run}')` : `${opName(h)}, an operation before ${opName(expect)}`;
