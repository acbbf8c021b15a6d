import type { DeviceKind } from '../shared/backend/api';
import { RendezvousBackendMismatchError, RendezvousClosedError } from '../shared/errors';

/** What a worker tells the coordinator when it joins a ring generation. */
export interface Registration {
  host: string;
  /** GPU ordinal on the host, -1 for a CPU worker. */
  gpu: number;
  backend: string;
  /** What its backend computes on. */
  device: DeviceKind;
  /** Where the worker receives all-reduce messages (tcp://host:port or ipc://path). */
  dataEndpoint: string;
  /** Where it also receives from a left neighbour on the same host (ipc://path), or ''. */
  ipcEndpoint: string;
  pid: number;
  /** The run it trained in before, or '' for a new worker. */
  runId: string;
  /** Steps completed in the training state it holds in memory for that run; -1 for none. */
  committedStep: number;
  /** This generation's CURVE public key of its ring socket (Z85), or '' when the ring is not encrypted. */
  ringPublicKey: string;
}

/** A worker with its rank. */
export interface Member extends Registration {
  rank: number;
}

/** A worker's place in its ring: its generation, rank and ring neighbours (it sends right, receives from left). */
export interface Assignment {
  generation: number;
  rank: number;
  worldSize: number;
  left: Member;
  right: Member;
  members: readonly Member[];
}

/** The bounds of one generation's rendezvous. */
export interface RendezvousRules {
  /** The ring forms at once with this many workers (`--workers`). */
  max: number;
  /** It never forms with fewer (`cluster.minWorkers`). */
  min: number;
  /** The survivors of the ring before, by process: once all of them (and at least `min`) have joined, the ring forms. */
  expect: readonly Registration[];
  /** Admit members of different backends or devices (`cluster.allowMixedBackends`); by default a ring's members share both. */
  allowMixed?: boolean;
}

/**
 * One ring generation's rendezvous: workers join until the ring can form, then every one gets
 * its rank. It forms when `max` workers joined, or when every expected survivor joined (and at
 * least `min` did), or when {@link settle} is called with at least `min` (the coordinator calls it
 * when its wait for the stragglers ends). Ranks follow (host, gpu, pid) order, so the workers of
 * one host are ring neighbours, rotated so that rank 0 is the worker holding the most advanced
 * training state of the run (it broadcasts that state to the others); the ring keeps its
 * neighbours. Joining with an endpoint already taken, or a complete or closed rendezvous, is a
 * {@link RendezvousClosedError} that changes nothing else. Unless `allowMixed`, every member
 * computes with one backend on one kind of device (see {@link checkKind}). Pure apart from the
 * promises it hands out.
 */
export class Rendezvous {
  private readonly joined: { registration: Registration; resolve: (a: Assignment) => void; reject: (e: Error) => void }[] = [];
  private members: Member[] | null = null;
  private closedBecause: string | null = null;

  constructor(
    readonly generation: number,
    private readonly rules: RendezvousRules,
    /** The run whose training states count: a state of another run is none. */
    private readonly runId: string,
  ) {
    if (!Number.isInteger(rules.max) || rules.max < 1 || rules.min < 1 || rules.min > rules.max) {
      throw new RangeError(`rendezvous bounds min ${rules.min}, max ${rules.max}: expected 1 <= min <= max`);
    }
  }

  /** Joins; resolves with the worker's assignment once the ring forms. */
  join(registration: Registration): Promise<Assignment> {
    try {
      this.checkKind(registration);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    if (this.closedBecause !== null) return Promise.reject(new RendezvousClosedError(`the rendezvous is closed: ${this.closedBecause}`));
    if (this.members !== null) return Promise.reject(new RendezvousClosedError(`ring generation ${this.generation} already formed with ${this.members.length} workers`));
    const clash = this.joined.find((j) => j.registration.dataEndpoint === registration.dataEndpoint || sameProcess(j.registration, registration));
    if (clash) {
      return Promise.reject(new RendezvousClosedError(`${describe(registration)} (${registration.dataEndpoint}) has already joined ring generation ${this.generation} as ${describe(clash.registration)}`));
    }
    return new Promise<Assignment>((resolve, reject) => {
      this.joined.push({ registration, resolve, reject });
      if (this.ready()) this.form();
    });
  }

  /**
   * Refuses a worker whose backend or device differs from the ring's, unless mixed rings are
   * allowed. The ring's kind is its members' once formed, else that of the survivors it expects
   * (the ring before), else that of the first worker to join; a refusal changes nothing.
   * @throws RendezvousBackendMismatchError naming the worker, its kind and the ring's.
   */
  checkKind(registration: Registration): void {
    if (this.rules.allowMixed) return;
    const [setter, role] = this.kindSetter();
    if (!setter || kindOf(setter) === kindOf(registration)) return;
    throw new RendezvousBackendMismatchError(
      `${describe(registration)} computes with ${kindOf(registration)}, but ring generation ${this.generation} computes with ${kindOf(setter)} (as ${describe(setter)}, ${role}): ` +
        'a synchronous ring runs at its slowest member\'s pace. Start the worker with the ring\'s backend on the same kind of device, or set cluster.allowMixedBackends',
    );
  }

  /** How many workers have joined so far. */
  get count(): number {
    return this.joined.length;
  }

  /** Who has joined so far, for messages. */
  get who(): string {
    return this.joined.map((j) => describe(j.registration)).join(', ') || 'nobody';
  }

  /** The members once formed, else null. */
  get world(): readonly Member[] | null {
    return this.members;
  }

  /** Forms the ring with whoever joined, if at least `min` did; true when it formed. */
  settle(): boolean {
    if (this.members === null && this.closedBecause === null && this.joined.length >= this.rules.min) this.form();
    return this.members !== null;
  }

  /** A joiner that left before the ring formed (its call was cancelled: it died waiting) gives its place back. */
  leave(registration: Registration): void {
    const at = this.joined.findIndex((j) => j.registration === registration);
    if (at < 0 || this.members !== null) return;
    const [gone] = this.joined.splice(at, 1);
    gone.reject(new RendezvousClosedError(`${describe(registration)} left ring generation ${this.generation} before it formed`));
  }

  /** Moves every pending join to the next generation's rendezvous (they asked for the next ring, not this one) and refuses later ones. */
  handOver(next: Rendezvous): void {
    this.closedBecause = `ring generation ${next.generation} replaces it`;
    for (const j of this.joined.splice(0)) next.join(j.registration).then(j.resolve, j.reject);
  }

  /** Fails every pending join and refuses later ones. */
  close(reason: string): void {
    this.closedBecause = reason;
    for (const j of this.joined.splice(0)) j.reject(new RendezvousClosedError(`the rendezvous is closed: ${reason}`));
  }

  // The member whose backend and device the ring's others must share, and why it is that one.
  private kindSetter(): [Registration | undefined, string] {
    if (this.members !== null) return [this.members[0], 'a member'];
    if (this.rules.expect.length > 0) return [this.rules.expect[0], 'a member of the ring before'];
    return [this.joined[0]?.registration, 'the first to join'];
  }

  private ready(): boolean {
    const n = this.joined.length;
    if (n >= this.rules.max) return true;
    const { expect } = this.rules;
    return expect.length > 0 && n >= this.rules.min && expect.every((e) => this.joined.some((j) => sameProcess(j.registration, e)));
  }

  private form(): void {
    const order = [...this.joined].sort((a, b) => compare(a.registration, b.registration));
    // Rank 0 holds the most advanced state of this run (the first in ring order among equals).
    const held = (r: Registration) => (r.runId === this.runId ? r.committedStep : -1);
    const source = order.reduce((best, j, i) => (held(j.registration) > held(order[best].registration) ? i : best), 0);
    const ring = [...order.slice(source), ...order.slice(0, source)];
    const members = ring.map((j, rank) => ({ ...j.registration, rank }));
    this.members = members;
    const n = members.length;
    const generation = this.generation;
    ring.forEach((j, rank) => j.resolve({ generation, rank, worldSize: n, left: members[(rank - 1 + n) % n], right: members[(rank + 1) % n], members }));
    this.joined.splice(0);
  }
}

/** The most advanced training state of run `runId` among `members`: its step count, or -1 when none holds one. */
export function heldStep(members: readonly Registration[], runId: string): number {
  return members.reduce((best, m) => (m.runId === runId ? Math.max(best, m.committedStep) : best), -1);
}

function sameProcess(a: Registration, b: Registration): boolean {
  return a.host === b.host && a.pid === b.pid;
}

function compare(a: Registration, b: Registration): number {
  return a.host.localeCompare(b.host) || a.gpu - b.gpu || a.pid - b.pid || a.dataEndpoint.localeCompare(b.dataEndpoint);
}

/** A worker's backend and device in words, e.g. "tensorflow-gpu on gpu": what a ring's members share. */
export const kindOf = (r: Pick<Registration, 'backend' | 'device'>): string => `${r.backend} on ${r.device}`;

/** A worker in words: its host, GPU and process. */
export const describe = (r: Registration): string => `${r.host} gpu ${r.gpu} pid ${r.pid}`;
