/** What a {@link BatchPrefetcher} builds and frees: one step's batch, in whatever form the step takes it. */
export interface PrefetchSource<T> {
  /** Builds the batch of 0-based step `step`; a pure function of the step, so a batch built early is the batch built late. */
  build(step: number): T;
  /** Frees a built batch nobody will take (prefetched for a step the loop did not ask for, or still held at close). */
  release(item: T): void;
}

/** How far a {@link BatchPrefetcher} builds ahead. */
export interface PrefetchOptions {
  /** Batches held ready beyond the one handed out: 0 builds each batch when it is taken. */
  depth: number;
  /** The step the first {@link BatchPrefetcher.take} is expected to ask for; prefetching starts there at once. */
  from: number;
  /** The step after the last one: nothing at or past it is built ahead. */
  end: number;
}

// A built batch, or why its build failed (told to the take of its step, not to the event loop).
type Entry<T> = { step: number; ok: true; item: T } | { step: number; ok: false; error: unknown };

// 'idle': no build is scheduled; 'scheduled': one build runs on the next turn of the event loop.
type State = { kind: 'idle' } | { kind: 'scheduled'; tick: NodeJS.Immediate } | { kind: 'closed' };

/**
 * A bounded prefetch of a step loop's batches: when step k's batch is taken, the batches of
 * steps k+1 .. k+depth are built on later turns of the event loop, one per turn, so they are
 * built while step k awaits something (an all-reduce, a GPU) instead of after it. JS runs one
 * thing at a time: a step that never yields to the event loop (synchronous wasm or cpu
 * kernels) only moves the build out of the step, to the loop's yield between steps.
 *
 * Batches are keyed by step. A take of a step the queue does not start with (after a
 * rollback, a resume, a step that jumped) frees what was built ahead and builds the step at
 * once, so the loop gets exactly the batch it would have built itself. Whoever takes a batch
 * owns it; {@link close} frees every batch still held.
 */
export class BatchPrefetcher<T> {
  private readonly queue: Entry<T>[] = [];
  private state: State = { kind: 'idle' };
  // The step after the last one handed out: where the queue must start.
  private next: number;

  constructor(
    private readonly source: PrefetchSource<T>,
    private readonly options: PrefetchOptions,
  ) {
    this.next = options.from;
    this.schedule();
  }

  /** Batches built ahead and held, not yet taken. */
  get held(): number {
    return this.queue.length;
  }

  /** Hands over the batch of `step` (prefetched, or built now) and starts building the ones after it. */
  take(step: number): T {
    if (this.state.kind === 'closed') throw new Error(`take(${step}) on a closed batch prefetcher`);
    while (this.queue.length > 0 && this.queue[0].step !== step) this.free(this.queue.shift());
    const entry = this.queue.shift() ?? this.buildEntry(step);
    this.next = step + 1;
    this.schedule();
    if (!entry.ok) throw entry.error;
    return entry.item;
  }

  /** Stops building ahead and frees every batch still held; a later take throws. */
  close(): void {
    if (this.state.kind === 'scheduled') clearImmediate(this.state.tick);
    this.state = { kind: 'closed' };
    for (const entry of this.queue.splice(0)) this.free(entry);
  }

  // The step the queue continues with, if it should build one more now.
  private wanted(): number | null {
    const last = this.queue.at(-1);
    // A failed build ends prefetching until its step is taken (and throws there).
    if (last && !last.ok) return null;
    const step = last ? last.step + 1 : this.next;
    return this.queue.length < this.options.depth && step < this.options.end ? step : null;
  }

  private schedule(): void {
    if (this.state.kind !== 'idle' || this.wanted() === null) return;
    this.state = { kind: 'scheduled', tick: setImmediate(() => this.fill()) };
  }

  // One build per turn of the event loop, so sockets and timers get their turns in between.
  private fill(): void {
    if (this.state.kind !== 'scheduled') return;
    this.state = { kind: 'idle' };
    const step = this.wanted();
    if (step !== null) this.queue.push(this.buildEntry(step));
    this.schedule();
  }

  private buildEntry(step: number): Entry<T> {
    try {
      return { step, ok: true, item: this.source.build(step) };
    } catch (error) {
      return { step, ok: false, error };
    }
  }

  private free(entry: Entry<T> | undefined): void {
    if (entry?.ok) this.source.release(entry.item);
  }
}
