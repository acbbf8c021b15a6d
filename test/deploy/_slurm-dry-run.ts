import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

/** One process the batch script started with `node`: on which node, as which task, seeing which GPUs, with which words. */
export interface NodeCall {
  node: string;
  /** SLURM_LOCALID of the task ('' outside srun: the batch script itself). */
  localId: string;
  cudaVisibleDevices: string;
  /** The CUDA JIT cache settings it ran with (CUDA_CACHE_PATH, CUDA_CACHE_MAXSIZE, CUDA_CACHE_DISABLE; 'unset' for one not set). */
  cudaCache: { path: string; maxSize: string; disable: string };
  /** The words after `node`: the script path, then facefill's argv. */
  args: string[];
}

/** What a dry run of the batch script did. */
export interface DryRun {
  status: number | null;
  stdout: string;
  stderr: string;
  calls: NodeCall[];
  /** The options of every srun call. */
  srunOptions: string[][];
  /** SLURM_SUBMIT_DIR, the checkout the job ran from (gone after the run). */
  submitDir: string;
  /** Every folder and file under the checkout once the script ended, by its path relative to the checkout, with its permission bits. */
  modes: ReadonlyMap<string, number>;
  /** The text of every file under the checkout once the script ended, by its path relative to the checkout. */
  texts: ReadonlyMap<string, string>;
  /** NODE_SCRATCH, the node-local folder that outlives jobs (gone after the run). */
  nodeScratch: string;
  /** Every folder and file under NODE_SCRATCH once the script ended, by its path relative to it, with its permission bits. */
  nodeScratchModes: ReadonlyMap<string, number>;
}

/**
 * How the stub srun numbers the GPUs it gives a task in CUDA_VISIBLE_DEVICES: `relative`, from 0
 * within the job's GPUs of the node (Slurm with ConstrainDevices, where nvidia-smi lists only
 * those), or `global`, the node's own ordinals (no device cgroup: nvidia-smi lists every GPU of
 * the node, and this job got its upper half).
 */
export type GpuNumbering = 'relative' | 'global';

/** The job's GPUs on a node and every GPU `nvidia-smi -L` lists there, under a numbering. */
export function nodeGpus(numbering: GpuNumbering, perNode: number): { job: number[]; listed: number[] } {
  const first = numbering === 'global' ? perNode : 0;
  const job = Array.from({ length: perNode }, (_, i) => first + i);
  return { job, listed: Array.from({ length: first + perNode }, (_, i) => i) };
}

/** The allocation a dry run pretends to have. */
export interface DryRunJob {
  nodes: readonly string[];
  /** SLURM_NTASKS_PER_NODE, and srun's tasks per node unless it says --ntasks-per-node=. */
  tasksPerNode: number;
  /** SLURM_GPUS_PER_NODE as sbatch sets it: a count, or type:count. */
  gpusPerNode: string;
  cpusPerTask: number;
  gpuNumbering: GpuNumbering;
  /** SLURM_RESTART_COUNT: how often the job was requeued (unset when undefined). */
  restartCount?: number;
  /** Exit code of the stub `node` by facefill command (default 0). */
  exitCodes?: Readonly<Record<string, number>>;
  /** The coordinator never writes its join file: it hangs (runs until killed) or exits without it. */
  noJoinFile?: 'hangs' | 'exits';
  /** More environment for the script (its settings, such as JOIN_TIMEOUT). */
  env?: Readonly<Record<string, string>>;
}

const SCONTROL = `#!/bin/bash
[[ "$1 $2" == "show hostnames" ]] || { echo "stub scontrol: unexpected: $*" >&2; exit 2; }
printf '%s\\n' $STUB_NODES
`;

// Runs the step's command once per task of every node, as Slurm would (one after another here),
// dealing each node's GPUs for the job out to its tasks, and exits with the highest task status.
// Only --option=value spellings are understood, which the stub insists on.
const SRUN = `#!/bin/bash
printf '%s\\0' "$@" > "$(mktemp "$STUB_LOG/srun.XXXXXX")"
per_node=$SLURM_NTASKS_PER_NODE
while [[ $# -gt 0 && ( "$1" == --*=* || "$1" == --kill-on-bad-exit ) ]]; do
  [[ "$1" == --ntasks-per-node=* ]] && per_node=\${1#*=}
  shift
done
[[ "$1" != -* ]] || { echo "stub srun: write options as --name=value: $1" >&2; exit 2; }
read -r -a job_gpus <<< "$STUB_JOB_GPUS"
per_task=$(( \${#job_gpus[@]} / per_node ))
node_id=0; proc_id=0; status=0
for node in $STUB_NODES; do
  for ((local_id = 0; local_id < per_node; local_id++)); do
    mine=("\${job_gpus[@]:local_id * per_task:per_task}")
    gpus=$(IFS=,; echo "\${mine[*]}")
    SLURMD_NODENAME=$node SLURM_NODEID=$node_id SLURM_LOCALID=$local_id SLURM_PROCID=$proc_id CUDA_VISIBLE_DEVICES=$gpus "$@" || { code=$?; ((code > status)) && status=$code; }
    proc_id=$((proc_id + 1))
  done
  node_id=$((node_id + 1))
done
exit $status
`;

/** The run token the stub `facefill credentials` writes (in its token and join.json files): no command line may carry it. */
export const STUB_RUN_TOKEN = 'stub-run-token-5f3a9c';

// Records where and how it was started (in start order: the log's names begin with the time),
// then leaves what the real command would for the script to find: `facefill credentials` its
// --out folder; the coordinator its --credentials folder when missing (a new token each time),
// then <--out>/join.json; or, with STUB_NO_JOIN=hangs, a coordinator that never writes it and
// runs until it is killed (=exits: one that ends without it). Then it exits with
// STUB_EXIT_<facefill command>, or 0.
const NODE = `#!/bin/bash
printf '%s\\0' "\${SLURMD_NODENAME:-}" "\${SLURM_LOCALID:-}" "\${CUDA_VISIBLE_DEVICES-unset}" "\${CUDA_CACHE_PATH-unset}" "\${CUDA_CACHE_MAXSIZE-unset}" "\${CUDA_CACHE_DISABLE-unset}" "$@" > "$(mktemp "$STUB_LOG/node.$(date +%s%N).XXXXXX")"
out=
credentials=
prev=
for arg in "\${@:3}"; do
  [[ "$prev" == --out ]] && out=$arg
  [[ "$arg" == --out=* ]] && out=\${arg#--out=}
  [[ "$prev" == --credentials ]] && credentials=$arg
  [[ "$arg" == --credentials=* ]] && credentials=\${arg#--credentials=}
  prev=$arg
done
make_credentials() {
  mkdir -p "$1" && printf '%s-%s' "$STUB_TOKEN" "$(date +%s%N)" > "$1/token"
}
case "\${2:-}" in
  credentials) make_credentials "$out" && printf '{"token":"%s"}' "$(cat "$out/token")" > "$out/join.json" ;;
  coordinator)
    credentials=\${credentials:-$out/credentials}
    [[ -e "$credentials/token" ]] || make_credentials "$credentials"
    case "\${STUB_NO_JOIN:-}" in
      '') printf '{"token":"%s"}' "$(cat "$credentials/token")" > "$out/join.json" ;;
      hangs) exec sleep 60 ;;
    esac ;;
esac
code_var="STUB_EXIT_\${2:-none}"
exit "\${!code_var:-0}"
`;

/**
 * Runs a Slurm batch script outside Slurm: stub `scontrol`, `srun` and `node` on PATH record
 * what would run where, with the environment sbatch gives a job of `job.nodes` nodes.
 */
export function dryRunSbatch(script: string, job: DryRunJob): DryRun {
  return dryRunAttempts(script, [job])[0];
}

/**
 * Runs a batch script several times in one checkout, as Slurm runs a requeued job again: each
 * attempt finds what the earlier ones left in the run folder.
 */
export function dryRunAttempts(script: string, attempts: readonly DryRunJob[]): DryRun[] {
  const root = mkdtempSync(join(tmpdir(), 'facefill-sbatch-'));
  try {
    const bin = join(root, 'bin');
    const checkout = join(root, 'checkout');
    for (const dir of [bin, checkout, join(root, 'scratch'), join(root, 'node-scratch')]) mkdirSync(dir);
    for (const [name, body] of [['scontrol', SCONTROL], ['srun', SRUN], ['node', NODE]] as const) {
      writeFileSync(join(bin, name), body);
      chmodSync(join(bin, name), 0o755);
    }
    return attempts.map((job, i) => attempt(script, job, root, join(root, `log-${i}`)));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

function attempt(script: string, job: DryRunJob, root: string, log: string): DryRun {
  mkdirSync(log);
  const bin = join(root, 'bin');
  const checkout = join(root, 'checkout');
  const gpus = nodeGpus(job.gpuNumbering, Number(job.gpusPerNode.slice(job.gpusPerNode.lastIndexOf(':') + 1)));
  const exits = Object.fromEntries(Object.entries(job.exitCodes ?? {}).map(([command, code]) => [`STUB_EXIT_${command}`, String(code)]));
  const result = spawnSync('bash', [script], {
    encoding: 'utf8',
    timeout: 60_000,
    env: {
      ...job.env,
      ...(job.noJoinFile ? { STUB_NO_JOIN: job.noJoinFile } : {}),
      PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`,
      HOME: root,
      TMPDIR: join(root, 'scratch'),
      // The node-local folder that outlives jobs (the CUDA cache's parent): here, not the real /tmp.
      NODE_SCRATCH: join(root, 'node-scratch'),
      SLURM_SUBMIT_DIR: checkout,
      SLURM_JOB_ID: '4242',
      SLURM_JOB_NODELIST: job.nodes.join(','),
      SLURM_JOB_NUM_NODES: String(job.nodes.length),
      SLURM_NTASKS_PER_NODE: String(job.tasksPerNode),
      SLURM_GPUS_PER_NODE: job.gpusPerNode,
      SLURM_CPUS_PER_TASK: String(job.cpusPerTask),
      ...(job.restartCount === undefined ? {} : { SLURM_RESTART_COUNT: String(job.restartCount) }),
      SLURMD_NODENAME: job.nodes[0],
      CUDA_VISIBLE_DEVICES: gpus.job.join(','),
      STUB_NODES: job.nodes.join(' '),
      STUB_JOB_GPUS: gpus.job.join(' '),
      STUB_LOG: log,
      STUB_TOKEN: STUB_RUN_TOKEN,
      ...exits,
    },
  });
  const records = (prefix: string) =>
    readdirSync(log)
      .filter((f) => f.startsWith(prefix))
      .sort()
      .map((f) => readFileSync(join(log, f), 'utf8').split('\0').slice(0, -1));
  const calls = records('node.').map(([node, localId, cudaVisibleDevices, path, maxSize, disable, ...args]) => ({ node, localId, cudaVisibleDevices, cudaCache: { path, maxSize, disable }, args }));
  const nodeScratch = join(root, 'node-scratch');
  return {
    status: result.status,
    stdout: result.stdout,
    stderr: result.stderr,
    calls,
    srunOptions: records('srun.'),
    submitDir: checkout,
    ...filesUnder(checkout),
    nodeScratch,
    nodeScratchModes: filesUnder(nodeScratch).modes,
  };
}

/** The permission bits of every folder and file under `dir`, and the text of every file, by path relative to it. */
function filesUnder(dir: string): { modes: Map<string, number>; texts: Map<string, string> } {
  const modes = new Map<string, number>();
  const texts = new Map<string, string>();
  const walk = (path: string) => {
    for (const entry of readdirSync(path, { withFileTypes: true })) {
      const full = join(path, entry.name);
      modes.set(relative(dir, full), statSync(full).mode & 0o7777);
      if (entry.isDirectory()) walk(full);
      else texts.set(relative(dir, full), readFileSync(full, 'utf8'));
    }
  };
  walk(dir);
  return { modes, texts };
}

/** The `#SBATCH` options of a batch script, by name (`--nodes` → '2'). */
export function sbatchOptions(script: string): Map<string, string> {
  const options = new Map<string, string>();
  for (const m of script.matchAll(/^#SBATCH\s+(--[\w-]+)(?:=(\S+))?/gm)) options.set(m[1], m[2] ?? '');
  return options;
}
