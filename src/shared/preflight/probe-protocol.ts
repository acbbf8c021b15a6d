import { z } from 'zod';
import { BACKENDS, type BackendName } from '../config';

/*
 * What a probe child (probe-child.ts) tells its parent: one line per event on stdout, the marker
 * then JSON, written as each thing happens, so that a child killed at its time limit (a step
 * stuck in the first start's PTX JIT) has already said which backends loaded and that its
 * step had started. A marker, because a native library may print to stdout too; the parent
 * validates each line at this edge and trusts it inside.
 */

/** The prefix of a probe child's event lines. */
export const PROBE_EVENT_MARKER = 'FACEFILL_PROBE ';
const BackendLoad = z.strictObject({
  name: z.enum(BACKENDS),
  loaded: z.boolean(),
  /** Why it could not load (the error's first line). */
  reason: z.string().optional(),
  loadSeconds: z.number().nonnegative(),
  /** Native backends: whether TensorFlow computes on a GPU device (tfjs-node's isUsingGpuDevice); null when unknown. */
  usesGpu: z.boolean().nullable(),
  /** Native backends: the libtensorflow version the binding reports, or null. */
  libtensorflow: z.string().nullable(),
});

const StepOutcome = z.strictObject({
  backend: z.enum(BACKENDS),
  ok: z.boolean(),
  error: z.string().optional(),
  imageSize: z.number().int().positive(),
  batchSize: z.number().int().positive(),
  buildSeconds: z.number().nonnegative().nullable(),
  firstStepSeconds: z.number().nonnegative().nullable(),
  stepSeconds: z.number().nonnegative().nullable(),
});

/** One event of a probe child: a backend's load attempt, the start of its step, or the step's outcome. */
export const ProbeEventSchema = z.union([
  z.strictObject({ load: BackendLoad }),
  z.strictObject({ stepStarted: z.enum(BACKENDS) }),
  z.strictObject({ step: StepOutcome }),
]);

/** One backend's load attempt in a probe child. */
export type BackendLoad = z.infer<typeof BackendLoad>;
/** The timed tiny step's outcome in a probe child. */
export type StepOutcome = z.infer<typeof StepOutcome>;
/** One event of a probe child. */
export type ProbeEvent = z.infer<typeof ProbeEventSchema>;

/** What a probe child reported before it ended: its loads in order, the backend whose step it started, and the step's outcome. */
export interface ProbeReport {
  backends: BackendLoad[];
  stepStarted: BackendName | null;
  step: StepOutcome | null;
}

/** The line a probe child prints for an event. */
export function probeEventLine(event: ProbeEvent): string {
  return `${PROBE_EVENT_MARKER}${JSON.stringify(event)}\n`;
}

/** Collects the event lines of a probe child's stdout; a line that does not validate is ignored, as if never written. */
export function readProbeEvents(stdout: string): ProbeReport {
  const report: ProbeReport = { backends: [], stepStarted: null, step: null };
  for (const line of stdout.split('\n')) {
    if (!line.startsWith(PROBE_EVENT_MARKER)) continue;
    let json: unknown;
    try {
      json = JSON.parse(line.slice(PROBE_EVENT_MARKER.length));
    } catch {
      continue;
    }
    const parsed = ProbeEventSchema.safeParse(json);
    if (!parsed.success) continue;
    const e = parsed.data;
    if ('load' in e) report.backends.push(e.load);
    else if ('stepStarted' in e) report.stepStarted = e.stepStarted;
    else report.step = e.step;
  }
  return report;
}
