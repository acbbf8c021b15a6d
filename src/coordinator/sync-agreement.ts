import { ReplicasDivergedError } from '../shared/errors';
import { CheckpointAgreement } from './checkpoint-agreement';

/**
 * The digests of a ring's synchronised start: every rank reports the sha256 of the training
 * state it holds after rank 0's broadcast, and each report resolves once all agree (they must:
 * a difference is a corrupted broadcast, and the ring must not train on it).
 */
export class SyncAgreement {
  private readonly agreement: CheckpointAgreement;
  private readonly waiters: { resolve: () => void; reject: (e: Error) => void }[] = [];

  constructor(worldSize: number) {
    this.agreement = new CheckpointAgreement(worldSize);
  }

  record(rank: number, sha256: string, steps: number): Promise<void> {
    const verdict = this.agreement.record(steps, rank, sha256);
    if (verdict.status === 'diverged') {
      const err = new ReplicasDivergedError(`the ring's start-up broadcast left different states: ${verdict.reason}`);
      for (const w of this.waiters.splice(0)) w.reject(err);
      return Promise.reject(err);
    }
    return new Promise<void>((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      if (verdict.status === 'agreed') for (const w of this.waiters.splice(0)) w.resolve();
    });
  }
}
