/** How long nvidia-smi may take (it hangs on a wedged GPU or a driver being reloaded). */
export const NVIDIA_SMI_TIMEOUT_MS = 10_000;

/** One GPU as nvidia-smi lists it. */
export interface GpuDevice {
  /** nvidia-smi's ordinal, the number `facefill workers --gpus` and CUDA_VISIBLE_DEVICES use. */
  index: number;
  name: string;
  /** `GPU-…` (or `MIG-…`), or null when the line carried none. */
  uuid: string | null;
  /** Such as 8.6, or null when this driver's nvidia-smi cannot report it. */
  computeCapability: number | null;
  /** Total memory in MiB, or null when not reported. */
  memoryMiB: number | null;
}

/**
 * Parses `nvidia-smi -L` output: one `GPU 0: NVIDIA A100-SXM4-40GB (UUID: GPU-…)` line per GPU.
 * MIG lines (indented `MIG 1g.5gb Device 0: …`) are not GPUs of their own and are left out.
 */
export function parseNvidiaSmiList(output: string): GpuDevice[] {
  const gpus: GpuDevice[] = [];
  for (const m of output.matchAll(/^GPU (\d+): (.*?)(?: \(UUID: ([^)]+)\))?\s*$/gm)) {
    gpus.push({ index: Number(m[1]), name: m[2].trim(), uuid: m[3]?.trim() ?? null, computeCapability: null, memoryMiB: null });
  }
  return gpus;
}

/** The fields {@link GPU_QUERY_ARGS} asks for, in order. */
const QUERY_FIELDS = ['index', 'uuid', 'name', 'compute_cap', 'driver_version', 'memory.total'] as const;

/**
 * nvidia-smi arguments for one CSV line per GPU with the fields {@link parseGpuQuery} reads.
 * `compute_cap` exists in the nvidia-smi of drivers 510 and later; older ones refuse the query,
 * and the GPUs are then known from `-L` alone.
 */
export const GPU_QUERY_ARGS: readonly string[] = [`--query-gpu=${QUERY_FIELDS.join(',')}`, '--format=csv,noheader,nounits'];

/** What {@link parseGpuQuery} reads: the GPUs and the driver version they report. */
export interface GpuQuery {
  devices: GpuDevice[];
  /** Such as `535.104.05`, or null when no line had one. */
  driverVersion: string | null;
}

/** Parses the CSV of `nvidia-smi` with {@link GPU_QUERY_ARGS}; lines that do not fit are skipped. */
export function parseGpuQuery(output: string): GpuQuery {
  const devices: GpuDevice[] = [];
  let driverVersion: string | null = null;
  for (const line of output.split('\n')) {
    const cells = line.split(',').map((c) => c.trim());
    if (cells.length !== QUERY_FIELDS.length || !/^\d+$/.test(cells[0])) continue;
    const [index, uuid, name, cap, driver, memory] = cells;
    devices.push({ index: Number(index), uuid: known(uuid), name, computeCapability: number(cap), memoryMiB: number(memory) });
    driverVersion ??= known(driver);
  }
  return { devices, driverVersion };
}

/** The GPUs of `-L` (the list of record), each completed with what the query knew of it. */
export function mergeGpuQuery(listed: readonly GpuDevice[], query: GpuQuery | null): GpuDevice[] {
  return listed.map((gpu) => {
    const q = query?.devices.find((d) => d.index === gpu.index);
    return q ? { ...gpu, uuid: gpu.uuid ?? q.uuid, computeCapability: q.computeCapability, memoryMiB: q.memoryMiB } : gpu;
  });
}

// nvidia-smi writes `[N/A]` or `[Not Supported]` where a field has no value.
function known(cell: string): string | null {
  return cell === '' || cell.startsWith('[') ? null : cell;
}

function number(cell: string): number | null {
  const v = known(cell);
  return v !== null && /^\d+(\.\d+)?$/.test(v) ? Number(v) : null;
}

/**
 * Compares dotted version numbers (`450.80.02` against `535.54.03`) part by part as numbers:
 * negative when a is older, 0 when equal, positive when newer. A leading `v` is ignored;
 * missing or unreadable parts count as 0.
 */
export function compareVersions(a: string, b: string): number {
  const parts = (v: string) => v.replace(/^v/, '').split('.').map((p) => Number.parseInt(p, 10) || 0);
  const [pa, pb] = [parts(a), parts(b)];
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}
