#!/usr/bin/env node
import { Command, Option } from 'commander';
import { hostname } from 'node:os';
import { type ConfigFlags, configFromFlags, toInt, toIntList, withConfigFlags } from './commands/config-options';
import { type ClientSecurityFlags, coordinatorLink } from './commands/control-security';
import { runCredentials } from './commands/credentials';
import { DEFAULT_COORDINATOR_METRICS_PORT, runCoordinator } from './commands/coordinator';
import { runDemo } from './commands/demo';
import { DEFAULT_DOCTOR_TIMEOUT_SECONDS, requestedGpuFailure, runDoctor } from './commands/doctor';
import { runEval } from './commands/eval';
import { runIngest } from './commands/ingest';
import { formatPresetTable, listPresets } from './commands/presets';
import { MAX_RESTORE_BATCH_SIZE, runRestore } from './commands/restore';
import { runPull } from './commands/pull';
import { fetchStatus, formatStatus } from './commands/status';
import { runTrain } from './commands/train';
import { DEFAULT_WORK_DIR, DEFAULT_WORKER_METRICS_PORT, runWorkerCommand } from './commands/worker';
import { DEFAULT_GRACE_MS, DEFAULT_MAX_RESTARTS, runWorkers } from './commands/workers';
import { BACKENDS } from './shared/config';
import { SPLITS, type Split } from './shared/data/api';
import { JITTERS } from './shared/data/augmentation';
import { parseSplitFractions } from './shared/data/split';
import { ConfigInvalidError, FacefillError } from './shared/errors';
import { ExitCode, exitCodeFor } from './shared/exit-codes';
import { formatEvalTable } from './shared/eval/evaluate';
import { DEFAULT_RESTORE_BATCH_SIZE } from './shared/eval/restore-files';
import { createLogger, LOG_FORMATS, type LogFormat, logFormat } from './shared/log';
import { formatDoctorReport } from './shared/preflight/format-report';

// Wiring only: parse flags, call the command modules, turn typed errors into exit codes.
/** The facefill command line (exported so tests and deploy checks can read its commands and flags). */
export const program = new Command('facefill')
  .description('Face occlusion-restoration GAN: ingest, train (one process or a cluster), restore, evaluate')
  .showHelpAfterError()
  // Commander exits 1 on an unknown flag or a bad value; the contract says usage (2), so that
  // `facefill workers` does not restart a worker whose flags are wrong. Subcommands inherit it.
  .exitOverride((err) => process.exit(err.exitCode === 0 ? ExitCode.FINISHED : ExitCode.USAGE))
  .addOption(new Option('--log-format <format>', 'log lines as JSON or readable text (default: text on a terminal, else JSON)').choices(LOG_FORMATS))
  // Set for this process and inherited by the ones it starts (workers, the demo's), whose stderr is a pipe.
  .hook('preAction', (cmd) => {
    process.env.FACEFILL_LOG_FORMAT = (cmd.opts() as { logFormat?: LogFormat }).logFormat ?? logFormat();
  });

const backendOption = () => new Option('--backend <name>', 'tensor backend').choices(['auto', ...BACKENDS]).default('auto');

/** The flags of every command that calls a coordinator: how it finds it and proves it belongs to the run. */
const withClientSecurity = (cmd: Command) =>
  cmd
    .option('--join <file>', 'the run\'s join file (the coordinator writes <out>/join.json): its address, CA and token; default $FACEFILL_JOIN')
    .option('--coordinator <host:port>', 'the coordinator\'s control address (default: the join file\'s)')
    .option('--insecure', 'call a coordinator started with --insecure: no TLS, no token (with --coordinator)')
    .option('--tls-cert <pem>', 'client certificate, for a coordinator that requires one (--tls-ca)')
    .option('--tls-key <pem>', 'the client certificate\'s key');
const showProgress = (flag: boolean) => flag && process.stderr.isTTY === true;

program
  .command('ingest')
  .description('build a dataset folder (grayscale shards + manifest) from UTKFace .tar.gz, a folder, or synthetic:N')
  .requiredOption('--source <spec>', 'UTKFace.tar.gz, a folder of images, or synthetic:N[:seed]')
  .requiredOption('--out <dir>', 'dataset folder to create')
  .option('--size <px>', 'image side, 16..128', toInt, 64)
  .option('--split <fractions>', 'train,val,test fractions', '0.8,0.1,0.1')
  .option('--no-progress', 'no progress bar')
  .action(async (o: { source: string; out: string; size: number; split: string; progress: boolean }) => {
    if (o.size < 16 || o.size > 128) throw new ConfigInvalidError(`--size ${o.size}: expected 16..128`);
    await runIngest({ ...o, split: parseSplitFractions(o.split), progress: showProgress(o.progress), log: createLogger('ingest') });
  });

withConfigFlags(
  program
    .command('train')
    .description('train on an ingested dataset (single process), writing checkpoints to <out>/checkpoints')
    .requiredOption('--data <dir>', 'ingested dataset folder')
    .requiredOption('--out <dir>', 'run folder')
    .option('--resume', 'continue from the run folder\'s latest checkpoint')
    .option('--metrics-port <n>', 'serve Prometheus /metrics on this port (0: any free port)', toInt)
    .option('--no-progress', 'log lines instead of a progress bar'),
).action(async (o: ConfigFlags & { data: string; out: string; resume?: boolean; metricsPort?: number; progress: boolean }) => {
  await runTrain({ config: configFromFlags(o), data: o.data, out: o.out, resume: o.resume === true, metricsPort: o.metricsPort, progress: showProgress(o.progress) });
});

withConfigFlags(
  program
    .command('coordinator')
    .description('coordinate a data-parallel run: rendezvous, shard plan, liveness, merged checkpoints')
    .requiredOption('--data <dir>', 'ingested dataset folder (served to workers that lack it)')
    .requiredOption('--workers <n>', 'the most workers (ranks) a ring takes; the run starts once this many joined', toInt)
    .option('--min-workers <n>', 'the fewest workers the run trains with after losing some (cluster.minWorkers)', toInt)
    .option('--resume', 'continue the run recorded in --out (run.json and its merged checkpoints) after a coordinator restart; a new run when --out holds none')
    .option('--port <n>', 'control-plane port (0: any free port)', toInt, 7700)
    .option('--bind <host>', 'address to listen on', '0.0.0.0')
    .option('--advertise <host>', 'host name or address workers reach this coordinator at (written in the join file)', hostname())
    .option('--credentials <dir>', 'the run\'s CA, server certificate and token (default <out>/credentials; created when missing, reused on --resume)')
    .option('--tls-cert <pem>', 'your own server certificate instead of the run\'s CA (with --tls-key and --tls-ca)')
    .option('--tls-key <pem>', 'the server certificate\'s key')
    .option('--tls-ca <pem>', 'CA that signs the workers\' client certificates, which are then required (mTLS)')
    .option('--insecure', 'no TLS and no run token (anyone who reaches the port controls the run): only for a trusted, isolated network')
    .option('--out <dir>', 'run folder: merged checkpoints and run.json', 'runs/cluster')
    .option('--metrics-port <n>', 'port of the coordinator\'s Prometheus /metrics (0: any free port)', toInt, DEFAULT_COORDINATOR_METRICS_PORT)
    .option('--exit-when-done', 'exit once the run finished instead of serving pull/status until stopped')
    .option('--failure-linger <seconds>', 'how long a failed run\'s coordinator keeps serving status and /metrics before it exits', toInt, 20)
    .option('--no-progress', 'log lines instead of a progress bar'),
).action(
  async (
    o: ConfigFlags & {
      data: string;
      workers: number;
      port: number;
      bind: string;
      advertise: string;
      credentials?: string;
      tlsCert?: string;
      tlsKey?: string;
      tlsCa?: string;
      insecure?: boolean;
      metricsPort: number;
      out: string;
      resume?: boolean;
      exitWhenDone?: boolean;
      failureLinger: number;
      progress: boolean;
    },
  ) => {
  if (o.workers < 1) throw new ConfigInvalidError(`--workers ${o.workers}: expected at least 1`);
  const view = await runCoordinator({
    config: configFromFlags(o),
    data: o.data,
    workers: o.workers,
    listen: `${o.bind}:${o.port}`,
    advertise: o.advertise,
    security: { insecure: o.insecure, credentials: o.credentials, tlsCert: o.tlsCert, tlsKey: o.tlsKey, tlsCa: o.tlsCa },
    metrics: { host: o.bind, port: o.metricsPort },
    out: o.out,
    resume: o.resume === true,
    exitWhenDone: o.exitWhenDone === true,
    failureLingerSeconds: o.failureLinger,
    progress: showProgress(o.progress),
    log: createLogger('coordinator'),
  });
  if (view.state !== 'finished') {
    console.error(`facefill: run ${view.runId} ${view.state}: ${view.error}`);
    // Not RUN_STOPPED: a coordinator started again with --resume takes the failed run up again.
    process.exitCode = ExitCode.FAILED;
  }
  // Everything is closed; a hung worker (say, SIGSTOPped) may still hold a half-closed socket that
  // would keep this process alive, so it exits shortly whatever is left.
  setTimeout(() => process.exit(), 2_000).unref();
  },
);

program
  .command('credentials')
  .description('create a run\'s credentials ahead of its coordinator (a Kubernetes Secret, a shared folder): CA, server certificate, run token and join.json')
  .requiredOption('--out <dir>', 'credentials folder to create (0700); pass it to the coordinator with --credentials')
  .requiredOption('--address <host:port>', 'the address workers will reach the coordinator at (written in join.json)')
  .option('--san <name>', 'another name or address the server certificate is valid for (repeatable)', (v: string, all: string[]) => [...all, v], [] as string[])
  .action(async (o: { out: string; address: string; san: string[] }) => {
    await runCredentials({ ...o, log: createLogger('credentials') });
  });

withClientSecurity(
  program
    .command('worker')
    .description('join a coordinator\'s run as one rank (one per GPU)'),
)
  .option('--gpu <i>', 'GPU ordinal this worker runs on (-1: CPU); it exits 2 when tfjs-node-gpu cannot use that GPU', toInt, -1)
  .option('--allow-cpu-fallback', 'with --gpu: compute on the CPU, with a warning, when tfjs-node-gpu cannot use the GPU (many times slower) instead of exiting')
  .addOption(backendOption())
  .option('--work-dir <dir>', 'downloaded datasets and rank 0\'s checkpoints', DEFAULT_WORK_DIR)
  .option('--data <dir>', 'a local copy of the dataset (shared filesystem), used when it is the run\'s')
  .option('--host <address>', 'address other workers reach this one at (default: this host\'s address towards the coordinator)')
  .option('--data-port <n>', 'tcp port for all-reduce messages (0: any free port)', toInt, 0)
  .option('--register-timeout <seconds>', 'how long to wait for the coordinator and the other workers', toInt, 900)
  .option('--metrics-port <n>', 'port of this worker\'s Prometheus /metrics (0: any free port)', toInt, DEFAULT_WORKER_METRICS_PORT)
  // Fault injection for the tests and the chaos bench: not for users.
  .addOption(new Option('--inject-nan-steps <steps>', 'make this worker\'s D gradient NaN at these 0-based steps').argParser(toIntList).hideHelp())
  .action(async (o: ClientSecurityFlags & { gpu: number; allowCpuFallback?: boolean; backend: 'auto'; workDir: string; data?: string; host?: string; dataPort: number; registerTimeout: number; metricsPort: number; injectNanSteps?: number[] }) => {
    const log = createLogger('worker');
    const link = await coordinatorLink(o, log);
    await runWorkerCommand({ ...o, link, allowCpuFallback: o.allowCpuFallback === true, registerTimeoutSeconds: o.registerTimeout, nanGradientSteps: o.injectNanSteps ? new Set(o.injectNanSteps) : undefined, log });
  });

withClientSecurity(
  program
    .command('workers')
    .description('start one worker per GPU of this host (or N CPU workers) and supervise them'),
)
  .option('--gpus <list>', 'all, or GPU ordinals such as 0,1,3')
  .option('--cpu <n>', 'number of CPU workers instead of GPUs', toInt)
  .option('--allow-cpu-fallback', 'pass --allow-cpu-fallback to every worker: a GPU worker computes on the CPU rather than exit when its GPU cannot be used')
  .option('--grace <seconds>', 'time a worker gets to stop before it is killed', toInt, DEFAULT_GRACE_MS / 1000)
  .option('--max-restarts <n>', 'restarts of a crashed worker (1 s, 2 s, 4 s … apart) before it is left down', toInt, DEFAULT_MAX_RESTARTS)
  .option('--metrics-port <n>', 'metrics port of the first worker; the others get the next ones', toInt, DEFAULT_WORKER_METRICS_PORT)
  .argument('[worker-flags...]', 'flags passed to every `facefill worker` (after --)')
  .action(async (workerArgs: string[], o: ClientSecurityFlags & { gpus?: string; cpu?: number; allowCpuFallback?: boolean; grace: number; maxRestarts: number; metricsPort: number }) => {
    const log = createLogger('workers');
    // Checked here, once, so that a bad join file is a usage error rather than every worker's crash.
    await coordinatorLink(o, log);
    process.exitCode = await runWorkers({
      security: { join: o.join, coordinator: o.coordinator, insecure: o.insecure, tlsCert: o.tlsCert, tlsKey: o.tlsKey },
      gpus: o.gpus,
      cpu: o.cpu,
      allowCpuFallback: o.allowCpuFallback === true,
      workerArgs,
      graceMs: o.grace * 1000,
      maxRestarts: o.maxRestarts,
      metricsPort: o.metricsPort,
      log,
    });
  });

withClientSecurity(
  program
    .command('pull')
    .description('download the latest merged checkpoint of a run (verified, and its seal checked) for `facefill restore`'),
)
  .requiredOption('--out <dir>', 'checkpoint folder to write')
  .option('--step <n>', 'a given checkpoint step instead of the latest', toInt, 0)
  .option('--timeout <seconds>', 'bound on the whole download', toInt, 600)
  .action(async (o: ClientSecurityFlags & { out: string; step: number; timeout: number }) => {
    const log = createLogger('pull');
    await runPull({ link: await coordinatorLink(o, log), out: o.out, step: o.step, timeoutMs: o.timeout * 1000, log });
  });

withClientSecurity(
  program
    .command('status')
    .description('a run\'s workers, step, losses, throughput and collapse state, from its coordinator'),
)
  .option('--json', 'print the status as JSON')
  .option('--timeout <seconds>', 'how long to wait for the coordinator', toInt, 10)
  .action(async (o: ClientSecurityFlags & { json?: boolean; timeout: number }) => {
    const status = await fetchStatus(await coordinatorLink(o, createLogger('status')), o.timeout * 1000);
    console.log(o.json ? JSON.stringify(status, null, 2) : formatStatus(status));
  });

program
  .command('restore')
  .description('fill the masked region of an image, or of every image in a folder')
  .requiredOption('--checkpoint <dir>', 'checkpoint folder or run folder (its latest checkpoint)')
  .requiredOption('--input <path>', 'image file or folder')
  .requiredOption('--mask <png|kind>', 'mask PNG (white = hole) or a kind: eyes, eyes-unconstrained, left, right, upper, lower, box, strokes')
  .requiredOption('--out <path>', 'output file (for a file) or folder (for a folder)')
  .option('--seed <n>', 'seed for random mask kinds', toInt, 0)
  .option('--batch-size <n>', `images per forward pass, 1..${MAX_RESTORE_BATCH_SIZE}`, toInt, DEFAULT_RESTORE_BATCH_SIZE)
  .option('--join <file>', 'the run\'s join file: verify the checkpoint\'s seal (it is as the run\'s coordinator published it) first')
  .addOption(backendOption())
  .action(async (o: { checkpoint: string; input: string; mask: string; out: string; seed: number; batchSize: number; backend: 'auto'; join?: string }) => {
    const result = await runRestore({ ...o, log: createLogger('restore') });
    if (result.failed.length > 0) process.exitCode = ExitCode.FAILED;
  });

program
  .command('eval')
  .description('score a checkpoint against the mean-fill, mean-face and Telea baselines')
  .requiredOption('--checkpoint <dir>', 'checkpoint folder or run folder')
  .requiredOption('--data <dir>', 'ingested dataset folder')
  .addOption(new Option('--split <name>', 'split to evaluate').choices(SPLITS).default('test'))
  .option('--masks <list>', 'comma-separated mask kinds', 'eyes,lower,right')
  .option('--limit <n>', 'evaluate at most n images', toInt)
  .option('--seed <n>', 'mask seed', toInt, 0)
  .option('--grid <file>', 'write an occluded | restored | original PNG grid')
  .option('--jitter', `also score the faces zoomed, shifted, darkened, flattened and blurred (${JITTERS.map((j) => j.name).join(', ')}); rows with framing 'jitter' are the mean`)
  .option('--json', 'print the report as JSON')
  .addOption(backendOption())
  .action(async (o: { checkpoint: string; data: string; split: Split; masks: string; limit?: number; seed: number; grid?: string; jitter?: boolean; json?: boolean; backend: 'auto' }) => {
    const report = await runEval({ ...o, log: createLogger('eval') });
    console.log(o.json ? JSON.stringify(report, null, 2) : formatEvalTable(report));
  });

program
  .command('doctor')
  .description('check this host for running a worker: Node, each tensor backend, GPUs, CUDA/cuDNN libraries, zeromq and CURVE, free disk, and a timed train step')
  .option('--json', 'print the report as JSON')
  .option('--gpu <i>', 'also judge this GPU (nvidia-smi ordinal) as `facefill workers` would start a worker on it; exit 2 when it cannot run one', toInt)
  .addOption(backendOption())
  .option('--work-dir <dir>', 'the worker\'s work directory, whose free disk is reported', DEFAULT_WORK_DIR)
  .option('--timeout <seconds>', 'bound on each backend probe (its load and the train step); a GPU JIT-compiling PTX at its first start may need far more', toInt, DEFAULT_DOCTOR_TIMEOUT_SECONDS)
  .action(async (o: { json?: boolean; gpu?: number; backend: 'auto' | (typeof BACKENDS)[number]; workDir: string; timeout: number }) => {
    const report = await runDoctor({ preference: o.backend, gpu: o.gpu ?? null, workDir: o.workDir, timeoutSeconds: o.timeout });
    console.log(o.json ? JSON.stringify(report, null, 2) : formatDoctorReport(report));
    const failure = requestedGpuFailure(report);
    if (failure) throw failure;
  });

program
  .command('presets')
  .description('list the configuration presets and their settings')
  .option('--json', 'print the resolved configs as JSON')
  .action((o: { json?: boolean }) => {
    const rows = listPresets();
    console.log(o.json ? JSON.stringify(rows, null, 2) : formatPresetTable(rows));
  });

withConfigFlags(program.command('config').description('print the resolved, validated run config for a preset, file and flags')).action((o: ConfigFlags) => {
  console.log(JSON.stringify(configFromFlags(o), null, 2));
});

program
  .command('demo')
  .description('generate faces, train the default preset on a local coordinator and CPU workers, pull the merged checkpoint, evaluate, write restored samples (npm start)')
  .option('--out <dir>', 'demo folder', 'runs/demo')
  .option('--images <n>', 'generated faces', toInt, 2000)
  // 160 steps scored as 200 did on every mask and keep `npm start` near 4 minutes on 2 cores.
  .option('--steps <n>', 'training steps', toInt, 160)
  .option('--batch-size <n>', 'global batch size, split across the workers', toInt, 16)
  .option('--workers <n>', 'CPU worker processes', toInt, 2)
  .option('--no-progress', 'log lines instead of progress bars')
  .action(async (o: { out: string; images: number; steps: number; batchSize: number; workers: number; progress: boolean }) => {
    await runDemo({ ...o, progress: showProgress(o.progress), log: createLogger('demo') });
  });

if (require.main === module) {
  program.parseAsync(process.argv).catch((err: unknown) => {
    console.error(err instanceof FacefillError ? `facefill: ${err.message}` : err);
    process.exitCode = exitCodeFor(err);
  });
}
