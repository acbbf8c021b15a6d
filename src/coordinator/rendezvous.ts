import { RendezvousClosedError, RendezvousTimeoutError } from '../shared/errors';

/** What a worker tells the coordinator when it joins. */
export interface Registration {
  host: string;
  /** GPU ordinal on the host, -1 for a CPU worker. */
  gpu: number;
  backend: string;
  /** Where the worker receives all-reduce messages (tcp://host:port or ipc://path). */
  dataEndpoint: string;
  /** Where it also receives from a left neighbour on the same host (ipc://path), or ''. */
  ipcEndpoint: string;
  pid: number;
}

/** A worker with its rank. */
export interface Member extends Registration {
  rank: number;
}

/** A worker's place in the run: its rank and ring neighbours (it sends right, receives from left). */
export interface Assignment {
  rank: number;
  worldSize: number;
  left: Member;
  right: Member;
  members: readonly Member[];
}

/**
 * Static rendezvous: waits until `worldSize` workers have joined, then gives every one its
 * rank. Ranks follow (host, gpu, pid) order, so the workers of one host are ring neighbours
 * and can use ipc between them. Bounded: if the world is not complete within `timeoutMs` of
 * {@link start}, every pending join fails with a {@link RendezvousTimeoutError} that says who
 * came and how many are missing. Joining a complete or closed rendezvous, or with an endpoint
 * already taken, is a {@link RendezvousClosedError}.
 */
export class Rendezvous {
  private readonly joined: { registration: Registration; resolve: (a: Assignment) => void; reject: (e: Error) => void }[] = [];
  private members: Member[] | null = null;
  private closedBecause: string | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    readonly worldSize: number,
    private readonly timeoutMs: number,
  ) {
    if (!Number.isInteger(worldSize) || worldSize < 1) throw new RangeError(`world size must be a positive integer, got ${worldSize}`);
  }

  /** Starts the timeout clock (the coordinator calls this when it begins to listen). */
  start(): void {
    this.timer ??= setTimeout(() => this.expire(), this.timeoutMs);
  }

  /** Joins; resolves with the worker's assignment once the world is complete. */
  join(registration: Registration): Promise<Assignment> {
    if (this.closedBecause !== null) return Promise.reject(new RendezvousClosedError(`the rendezvous is closed: ${this.closedBecause}`));
    if (this.members !== null) return Promise.reject(new RendezvousClosedError(`the run already has its ${this.worldSize} workers`));
    const clash = this.joined.find((j) => j.registration.dataEndpoint === registration.dataEndpoint);
    if (clash) {
      return Promise.reject(new RendezvousClosedError(`data endpoint ${registration.dataEndpoint} is already taken by ${describe(clash.registration)}`));
    }
    this.start();
    return new Promise<Assignment>((resolve, reject) => {
      this.joined.push({ registration, resolve, reject });
      if (this.joined.length === this.worldSize) this.complete();
    });
  }

  /** Why the rendezvous failed (timed out or closed), else null. */
  get failure(): string | null {
    return this.members === null ? this.closedBecause : null;
  }

  /** The members once complete, else null. */
  get world(): readonly Member[] | null {
    return this.members;
  }

  /** Fails every pending join and refuses later ones. */
  close(reason: string): void {
    this.closedBecause = reason;
    this.clearTimer();
    for (const j of this.joined.splice(0)) j.reject(new RendezvousClosedError(`the rendezvous is closed: ${reason}`));
  }

  private complete(): void {
    this.clearTimer();
    const order = [...this.joined].sort((a, b) => compare(a.registration, b.registration));
    const members = order.map((j, rank) => ({ ...j.registration, rank }));
    this.members = members;
    const n = this.worldSize;
    order.forEach((j, rank) => j.resolve({ rank, worldSize: n, left: members[(rank - 1 + n) % n], right: members[(rank + 1) % n], members }));
  }

  private expire(): void {
    this.timer = null;
    if (this.members !== null) return;
    const who = this.joined.map((j) => describe(j.registration)).join(', ') || 'nobody';
    const err = new RendezvousTimeoutError(
      `rendezvous timed out after ${this.timeoutMs} ms: ${this.joined.length} of ${this.worldSize} workers joined (${who})`,
    );
    this.closedBecause = err.message;
    for (const j of this.joined.splice(0)) j.reject(err);
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}

function compare(a: Registration, b: Registration): number {
  return a.host.localeCompare(b.host) || a.gpu - b.gpu || a.pid - b.pid || a.dataEndpoint.localeCompare(b.dataEndpoint);
}

const describe = (r: Registration): string => `${r.host} gpu ${r.gpu} pid ${r.pid}`;
