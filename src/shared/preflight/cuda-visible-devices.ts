/**
 * What CUDA_VISIBLE_DEVICES lets a CUDA process see: every GPU (unset), or the listed ones in
 * that order (an empty value lists none).
 */
export type VisibleDevices = { all: true } | { all: false; entries: string[] };

/**
 * Parses a CUDA_VISIBLE_DEVICES value as the CUDA runtime reads it: comma-separated ordinals or
 * `GPU-…`/`MIG-…` UUIDs (a unique prefix will do), read up to the first entry that is neither;
 * that one and all after it are ignored, which is why `-1` hides every GPU.
 */
export function parseVisibleDevices(value: string | undefined): VisibleDevices {
  if (value === undefined) return { all: true };
  const entries: string[] = [];
  for (const raw of value.split(',')) {
    const entry = raw.trim();
    if (!/^\d+$/.test(entry) && !/^(GPU|MIG)-[0-9a-fA-F-]*/.test(entry)) break;
    entries.push(entry);
  }
  return { all: false, entries };
}

/** Whether a GPU (by nvidia-smi's ordinal and UUID) is visible to a process under `visible`. */
export function isGpuVisible(gpu: { index: number; uuid: string | null }, visible: VisibleDevices): boolean {
  if (visible.all) return true;
  return visible.entries.some((e) => (/^\d+$/.test(e) ? Number(e) === gpu.index : gpu.uuid !== null && gpu.uuid.startsWith(e)));
}
