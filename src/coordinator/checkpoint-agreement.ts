import { ProtocolViolationError } from '../shared/errors';

/** Whether the ranks' weight digests for one checkpoint step are complete and equal. */
export type Agreement =
  | { status: 'pending'; missing: number[] }
  | { status: 'agreed'; sha256: string }
  | { status: 'diverged'; reason: string };

/**
 * Collects every rank's weights digest per checkpoint step. Replicas of a synchronous run
 * apply the same updates to the same weights, so their digests must be equal; one that
 * differs means the replicas diverged (a bug, a non-deterministic kernel, a corrupted
 * message) and a checkpoint of rank 0 would not stand for the run. Pure, tested without I/O.
 */
export class CheckpointAgreement {
  private readonly digests = new Map<number, Map<number, string>>();

  constructor(readonly worldSize: number) {}

  /** Records rank's digest for `step`; a second, different digest for the same step is a divergence too. */
  record(step: number, rank: number, sha256: string): Agreement {
    if (!Number.isInteger(rank) || rank < 0 || rank >= this.worldSize) throw new ProtocolViolationError(`rank ${rank} is outside 0..${this.worldSize - 1}`);
    if (!/^[0-9a-f]{64}$/.test(sha256)) throw new ProtocolViolationError(`rank ${rank} sent weights digest '${sha256.slice(0, 80)}' for step ${step}: expected 64 hex digits`);
    let ranks = this.digests.get(step);
    if (!ranks) this.digests.set(step, (ranks = new Map()));
    const before = ranks.get(rank);
    if (before !== undefined && before !== sha256) {
      return { status: 'diverged', reason: `rank ${rank} reported two different weights digests for step ${step}` };
    }
    ranks.set(rank, sha256);
    return this.at(step);
  }

  /** The verdict for `step` so far. */
  at(step: number): Agreement {
    const ranks = this.digests.get(step) ?? new Map<number, string>();
    const distinct = new Set(ranks.values());
    if (distinct.size > 1) {
      const byDigest = [...distinct].map((d) => `${d.slice(0, 12)} on rank ${[...ranks].filter(([, v]) => v === d).map(([r]) => r).join(', ')}`);
      return { status: 'diverged', reason: `the replicas diverged: their weights differ at step ${step} (${byDigest.join('; ')})` };
    }
    const missing = Array.from({ length: this.worldSize }, (_, r) => r).filter((r) => !ranks.has(r));
    if (missing.length > 0) return { status: 'pending', missing };
    return { status: 'agreed', sha256: [...distinct][0] };
  }

  /** Forgets the steps before `step` (their checkpoints are settled). */
  settle(step: number): void {
    for (const s of this.digests.keys()) if (s < step) this.digests.delete(s);
  }
}
