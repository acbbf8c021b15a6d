import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** One process the batch script started with `node`: on which node, as which task, seeing which GPUs, with which words. */
export interface NodeCall {
  node: string;
  /** SLURM_LOCALID of the task ('' outside srun: the batch script itself). */
  localId: string;
  cudaVisibleDevices: string;
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
}

/** How the stub srun sets CUDA_VISIBLE_DEVICES: one GPU per task (Slurm's binding), or all of the node's. */
export type GpuBinding = 'per-task' | 'all';

const SCONTROL = `#!/bin/bash
[[ "$1 $2" == "show hostnames" ]] || { echo "stub scontrol: unexpected: $*" >&2; exit 2; }
printf '%s\\n' $STUB_NODES
`;

// Runs the step's command once per task of every node, as Slurm would (one after another here).
// Only --option=value spellings are understood, which the stub insists on.
const SRUN = `#!/bin/bash
printf '%s\\0' "$@" > "$(mktemp "$STUB_LOG/srun.XXXXXX")"
while [[ $# -gt 0 && "$1" == --*=* || "$1" == --kill-on-bad-exit ]]; do shift; done
[[ "$1" != -* ]] || { echo "stub srun: write options as --name=value: $1" >&2; exit 2; }
node_id=0; proc_id=0
for node in $STUB_NODES; do
  for ((local_id = 0; local_id < SLURM_NTASKS_PER_NODE; local_id++)); do
    if [[ $STUB_GPU_BINDING == per-task ]]; then gpus=$local_id; else gpus=$(seq -s, 0 $((SLURM_NTASKS_PER_NODE - 1))); fi
    SLURMD_NODENAME=$node SLURM_NODEID=$node_id SLURM_LOCALID=$local_id SLURM_PROCID=$proc_id CUDA_VISIBLE_DEVICES=$gpus "$@" || exit $?
    proc_id=$((proc_id + 1))
  done
  node_id=$((node_id + 1))
done
`;

const NODE = `#!/bin/bash
printf '%s\\0' "\${SLURMD_NODENAME:-}" "\${SLURM_LOCALID:-}" "\${CUDA_VISIBLE_DEVICES-unset}" "$@" > "$(mktemp "$STUB_LOG/node.XXXXXX")"
`;

/**
 * Runs a Slurm batch script outside Slurm: stub `scontrol`, `srun` and `node` on PATH record
 * what would run where, with the environment Slurm gives a job of `nodes` x `tasksPerNode`.
 */
export function dryRunSbatch(script: string, o: { nodes: readonly string[]; tasksPerNode: number; gpuBinding: GpuBinding }): DryRun {
  const root = mkdtempSync(join(tmpdir(), 'facefill-sbatch-'));
  try {
    const bin = join(root, 'bin');
    const log = join(root, 'log');
    for (const dir of [bin, log, join(root, 'checkout'), join(root, 'scratch')]) mkdirSync(dir);
    for (const [name, body] of [['scontrol', SCONTROL], ['srun', SRUN], ['node', NODE]] as const) {
      writeFileSync(join(bin, name), body);
      chmodSync(join(bin, name), 0o755);
    }
    const result = spawnSync('bash', [script], {
      encoding: 'utf8',
      timeout: 30_000,
      env: {
        PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`,
        HOME: root,
        TMPDIR: join(root, 'scratch'),
        SLURM_SUBMIT_DIR: join(root, 'checkout'),
        SLURM_JOB_ID: '4242',
        SLURM_JOB_NODELIST: o.nodes.join(','),
        SLURM_JOB_NUM_NODES: String(o.nodes.length),
        SLURM_NTASKS_PER_NODE: String(o.tasksPerNode),
        SLURM_GPUS_PER_TASK: '1',
        SLURMD_NODENAME: o.nodes[0],
        CUDA_VISIBLE_DEVICES: Array.from({ length: o.tasksPerNode }, (_, i) => i).join(','),
        STUB_NODES: o.nodes.join(' '),
        STUB_LOG: log,
        STUB_GPU_BINDING: o.gpuBinding,
      },
    });
    const records = (prefix: string) =>
      readdirSync(log)
        .filter((f) => f.startsWith(prefix))
        .sort()
        .map((f) => readFileSync(join(log, f), 'utf8').split('\0').slice(0, -1));
    const calls = records('node.').map(([node, localId, cudaVisibleDevices, ...args]) => ({ node, localId, cudaVisibleDevices, args }));
    return { status: result.status, stdout: result.stdout, stderr: result.stderr, calls, srunOptions: records('srun.') };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/** The `#SBATCH` options of a batch script, by name (`--nodes` → '2'). */
export function sbatchOptions(script: string): Map<string, string> {
  const options = new Map<string, string>();
  for (const m of script.matchAll(/^#SBATCH\s+(--[\w-]+)(?:=(\S+))?/gm)) options.set(m[1], m[2] ?? '');
  return options;
}
