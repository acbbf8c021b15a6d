import { type Registration, Rendezvous } from './rendezvous';

/** When a generation's rendezvous gives up waiting: it asks whether the run can go on with the `joined` workers (`who`, in words). */
export type FormationDeadline = (joined: number, who: string) => 'fail' | 'go-on';

/**
 * The current ring generation's rendezvous and its clock: at the settle bound it forms the ring
 * with whoever came (the survivors it expected may be dead too), and at the deadline the caller
 * judges it (the lifecycle fails a run below `cluster.minWorkers`, or lets it wait on for
 * replacements, another `retryMs` at a time). A new generation's rendezvous takes over the joins
 * pending in the one before.
 */
export class RingFormation {
  private rendezvous: Rendezvous;
  private timers: NodeJS.Timeout[] = [];

  constructor(
    private readonly bounds: { max: number; min: () => number; runId: () => string; allowMixed: () => boolean },
    private readonly onDeadline: FormationDeadline,
  ) {
    this.rendezvous = this.create(0, []);
  }

  /** The rendezvous workers join now. */
  get current(): Rendezvous {
    return this.rendezvous;
  }

  /** Opens `generation`'s rendezvous, expecting `expect`, and hands it the joins still pending in the one before; see {@link arm}. */
  open(generation: number, expect: readonly Registration[], deadlineMs: number, settleMs: number | null, retryMs: number): void {
    const before = this.rendezvous;
    this.rendezvous = this.create(generation, expect);
    before.handOver(this.rendezvous);
    this.arm(deadlineMs, settleMs, retryMs);
  }

  /** Arms the current rendezvous's bounds: at `settleMs` it forms with whoever came (if enough), at `deadlineMs` the caller judges it. */
  arm(deadlineMs: number, settleMs: number | null, retryMs: number): void {
    this.clear();
    const rendezvous = this.rendezvous;
    if (settleMs !== null) this.timers.push(setTimeout(() => rendezvous.settle(), settleMs));
    this.timers.push(
      setTimeout(() => {
        if (rendezvous !== this.rendezvous || rendezvous.world !== null) return;
        if (this.onDeadline(rendezvous.count, rendezvous.who) === 'fail') return;
        if (!rendezvous.settle()) this.arm(retryMs, null, retryMs);
      }, deadlineMs),
    );
  }

  /** Stops the clock (the ring formed, or the run ended). */
  clear(): void {
    for (const t of this.timers.splice(0)) clearTimeout(t);
  }

  /** Refuses further joins and stops the clock. */
  close(reason: string): void {
    this.clear();
    this.rendezvous.close(reason);
  }

  private create(generation: number, expect: readonly Registration[]): Rendezvous {
    return new Rendezvous(generation, { max: this.bounds.max, min: this.bounds.min(), expect, allowMixed: this.bounds.allowMixed() }, this.bounds.runId());
  }
}
