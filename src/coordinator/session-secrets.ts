import { randomBytes } from 'node:crypto';
import { PermissionDeniedError } from '../shared/errors';
import { tokenMatches } from '../shared/security/run-token';

/** Who speaks in a call for a rank: the rank of a ring generation and the secret it was handed. */
export interface SessionClaim {
  generation: number;
  rank: number;
  session: string;
}

/**
 * The per-generation session secret of every rank: handed out with a registration's reply and
 * carried by that rank's later calls (Watch, Heartbeat, ReportStep, UploadCheckpoint). The run
 * token lets a caller in; the session secret is what lets it speak for one rank, so a holder
 * of the token cannot fake another worker's heartbeat, report or upload. Secrets of earlier
 * generations are kept so that a late call of an old ring is still told apart from a forged one.
 */
export class SessionSecrets {
  private readonly secrets = new Map<string, string>();
  private readonly generations = new Set<number>();

  /** A new secret for `rank` of `generation` (replacing one issued before). */
  issue(generation: number, rank: number): string {
    const secret = randomBytes(32).toString('hex');
    this.secrets.set(key(generation, rank), secret);
    this.generations.add(generation);
    return secret;
  }

  /**
   * Throws PermissionDeniedError unless `claim` carries the secret issued to its rank and
   * generation. A call of a generation before `current` that no secret was issued for here (a
   * ring of the coordinator before a restart) passes: all such a call can hear is to regroup.
   */
  check(claim: SessionClaim, current: number): void {
    if (claim.generation < current && !this.generations.has(claim.generation)) return;
    const issued = this.secrets.get(key(claim.generation, claim.rank));
    if (issued === undefined || !tokenMatches(issued, claim.session)) {
      throw new PermissionDeniedError(`the call for rank ${claim.rank} of ring generation ${claim.generation} does not carry that rank's session secret`);
    }
  }
}

const key = (generation: number, rank: number) => `${generation}/${rank}`;
