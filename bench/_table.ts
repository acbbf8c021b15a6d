/** A benchmark's result: a titled table, printed as fixed-width text. */
export interface BenchTable {
  title: string;
  columns: string[];
  rows: (string | number)[][];
  /** Lines printed under the table (ratios, conditions). */
  notes?: string[];
}

/** Options given on the command line (`npm run bench -- chaos --seed 7`, `-- scaling --link-mbit 250`); a benchmark reads those it knows. */
export interface BenchOptions {
  /** Seed of a benchmark's random choices, to replay a run. */
  seed?: number;
  /** Run only this trial (1-based) of a benchmark made of trials. */
  trial?: number;
  /** Rate of a network emulation's links, in Mbit/s. */
  linkMbit?: number;
}

/** A named benchmark. */
export interface Bench {
  name: string;
  /** Runs only when named, not in a run of all benchmarks (it takes many minutes). */
  onlyWhenNamed?: boolean;
  run(options?: BenchOptions): Promise<BenchTable>;
}

/** Formats a table with right-aligned numbers. */
export function formatTable(t: BenchTable): string {
  const cells = t.rows.map((r) => r.map((c) => (typeof c === 'number' ? format(c) : c)));
  const widths = t.columns.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [`## ${t.title}`, line(t.columns), ...cells.map(line), ...(t.notes ?? [])].join('\n');
}

const format = (v: number): string => (Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(3));

/** The median of `xs` (the mean of the middle two for an even count), null when empty. */
export function median(xs: readonly number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Median wall time in seconds of `reps` runs of `fn`, after one warm-up run unless `warmUp` is false. */
export async function medianSeconds(reps: number, fn: () => Promise<void> | void, warmUp = true): Promise<number> {
  if (warmUp) await fn();
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    await fn();
    times.push((performance.now() - t) / 1000);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}
