import { workerLaunch } from '../../src/commands/workers';
import { type DeviceRequest, parseGpuList, planWorkers } from '../../src/worker/launch-plan';
import { type CommandSpec, effectiveValue, type Invocation, type ParsedInvocation } from './_cli-spec';

/** One `facefill worker` process that `facefill workers` starts: its command line and the variables it adds to the environment. */
export interface LaunchedWorker extends Invocation {
  env: Readonly<Record<string, string>>;
}

/**
 * The workers a `facefill workers` command line starts, built by the CLI's own `planWorkers` and
 * `workerLaunch`: one per GPU of `--gpus` (each pinned with CUDA_VISIBLE_DEVICES) or per `--cpu`,
 * worker i with the launcher's `--metrics-port` + i, then the flags after `--`.
 * `detectedGpus` is what `nvidia-smi -L` lists on the host; by default the GPUs asked for. Throws,
 * as the CLI would, when a GPU asked for is not there, and on `--gpus all` without a host.
 */
export function launchedWorkers(inv: ParsedInvocation, specs: ReadonlyMap<string, CommandSpec>, detectedGpus?: readonly number[]): LaunchedWorker[] {
  if (inv.command !== 'workers') throw new Error(`${inv.origin}: not facefill workers`);
  const gpus = inv.values.get('--gpus')?.at(-1);
  const cpu = inv.values.get('--cpu')?.at(-1);
  const request: DeviceRequest = gpus !== undefined ? { gpus: parseGpuList(gpus) } : { cpu: Number(cpu) };
  let detected = detectedGpus;
  if (detected === undefined && 'gpus' in request) {
    if (request.gpus === 'all') throw new Error(`${inv.origin}: --gpus all depends on the host it runs on; name the GPUs`);
    detected = request.gpus;
  }
  // As runWorkers: the launcher's security flags go to every worker.
  const security = {
    join: effectiveValue(inv, specs, '--join'),
    coordinator: effectiveValue(inv, specs, '--coordinator'),
    insecure: inv.values.has('--insecure'),
    tlsCert: effectiveValue(inv, specs, '--tls-cert'),
    tlsKey: effectiveValue(inv, specs, '--tls-key'),
  };
  const base = Number(effectiveValue(inv, specs, '--metrics-port'));
  return planWorkers(request, detected ?? []).map((slot) => {
    // As runWorkers: worker i serves /metrics on the launcher's port + i (0 stays 0, any free port).
    const launch = workerLaunch(slot, security, ['--metrics-port', String(base === 0 ? 0 : base + slot.local), ...inv.passthrough]);
    return { origin: `${inv.origin} (${launch.name})`, argv: launch.args.slice(1), env: launch.env };
  });
}
