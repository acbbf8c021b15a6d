import type { DoctorReport } from './report';

const LABEL_WIDTH = 12;

/** A `facefill doctor` report as a short table for the terminal: a label column, then what was found. */
export function formatDoctorReport(r: DoctorReport): string {
  const rows: [string, string[]][] = [
    ['node', [`${r.node.version} (${r.node.ok ? 'ok' : 'too old'}: facefill needs >= ${r.node.required}), ${r.platform.os} ${r.platform.arch}`]],
    ['backends', backendLines(r)],
    ['train step', [stepLine(r)]],
    ['GPUs', gpuLines(r)],
    ['CUDA libs', libraryLines(r)],
    ['CUDA env', [cudaEnvLine(r)]],
    ['zeromq', [r.zeromq.error ? `does not load: ${r.zeromq.error}` : `libzmq ${r.zeromq.version ?? '?'}, CURVE ${r.zeromq.curve ? 'yes' : 'NO'}`]],
    ['disk', [diskLine(r)]],
  ];
  if (r.requestedGpu) {
    const v = r.requestedGpu;
    rows.push([`GPU ${v.index}`, v.usable ? ['usable'] : ['UNUSABLE', ...v.problems.map((p) => `- ${p}`)]]);
  }
  if (r.notes.length > 0) rows.push(['notes', r.notes.map((n) => `- ${n}`)]);
  return rows.flatMap(([label, lines]) => lines.map((line, i) => `${(i === 0 ? label : '').padEnd(LABEL_WIDTH)}${line}`)).join('\n');
}

function backendLines(r: DoctorReport): string[] {
  const width = Math.max(...r.backends.map((b) => b.name.length));
  return r.backends.map((b) => {
    const state = b.loaded ? `loads${b.loadSeconds === null ? '' : ` in ${seconds(b.loadSeconds)}`}` : 'no';
    const extra: string[] = [];
    if (b.loaded && b.usesGpu === true) extra.push('on a GPU');
    if (b.loaded && b.usesGpu === false && b.name === 'tensorflow-gpu') extra.push('on the CPU (TensorFlow found no GPU)');
    if (b.libtensorflow) extra.push(`libtensorflow ${b.libtensorflow}`);
    if (!b.loaded && b.reason) extra.push(b.reason);
    if (b.name === r.chosenBackend) extra.push('<- chosen');
    return `${b.name.padEnd(width)}  ${state}${extra.length > 0 ? `  ${extra.join(', ')}` : ''}`;
  });
}

function stepLine(r: DoctorReport): string {
  const s = r.trainStep;
  if (!s) return r.preference === 'auto' ? 'not run: no backend loads' : `not run: backend ${r.preference} does not load`;
  const shape = `${s.imageSize}x${s.imageSize}, batch ${s.batchSize}`;
  if (!s.ok) return `${s.backend} (${shape}): FAILED: ${s.error ?? 'unknown error'}`;
  return `${s.backend} (${shape}): first step ${seconds(s.firstStepSeconds)}, then ${seconds(s.stepSeconds)} a step (networks built in ${seconds(s.buildSeconds)})`;
}

function gpuLines(r: DoctorReport): string[] {
  const g = r.gpus;
  if (g.nvidiaSmi !== 'ok') return [`none found: ${g.detail ?? g.nvidiaSmi}`];
  if (g.devices.length === 0) return ['none listed by nvidia-smi -L'];
  const lines = g.devices.map((d) => {
    const facts = [d.computeCapability === null ? null : `compute capability ${d.computeCapability.toFixed(1)}`, d.memoryMiB === null ? null : `${d.memoryMiB} MiB`].filter((f) => f !== null);
    return `${d.index}: ${d.name}${facts.length > 0 ? ` (${facts.join(', ')})` : ''}`;
  });
  if (g.driverVersion) lines.push(`driver ${g.driverVersion}`);
  return lines;
}

function libraryLines(r: DoctorReport): string[] {
  const missing = r.cudaLibraries.filter((l) => l.path === null).map((l) => l.soname);
  const found = r.cudaLibraries.length - missing.length;
  const head = `${found} of ${r.cudaLibraries.length} CUDA 11.2/cuDNN 8 libraries found${missing.length > 0 ? `; missing ${missing.join(', ')}` : ''}`;
  return [head, `${r.driverLibrary.soname} (driver): ${r.driverLibrary.path ?? 'not found'}`];
}

function cudaEnvLine(r: DoctorReport): string {
  const c = r.cudaCache;
  return [
    `CUDA_VISIBLE_DEVICES ${r.cudaVisibleDevices === null ? 'unset' : `'${r.cudaVisibleDevices}'`}`,
    `CUDA_CACHE_PATH ${c.path ?? 'default'}`,
    `CUDA_CACHE_MAXSIZE ${c.maxSizeBytes ?? 'default'}${c.disabled ? ' (cache disabled)' : ''}`,
  ].join(', ');
}

function diskLine(r: DoctorReport): string {
  const d = r.disk;
  if (d.freeBytes === null || d.totalBytes === null) return `${d.workDir}: not measured: ${d.error ?? 'unknown error'}`;
  const where = d.measured !== null && d.measured !== d.workDir ? ` (not created yet; measured at ${d.measured})` : '';
  return `${d.workDir}: ${gib(d.freeBytes)} free of ${gib(d.totalBytes)}${where}`;
}

const seconds = (s: number | null): string => (s === null ? '?' : `${s.toFixed(2)} s`);
const gib = (bytes: number): string => `${(bytes / 2 ** 30).toFixed(1)} GiB`;
