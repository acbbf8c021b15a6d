import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import test from 'ava';
import type { DoctorReport } from '../../src/shared/preflight/report';

const CLI = resolve(__dirname, '../../src/cli.js');

/** Runs the CLI to its end and resolves with its exit code and output, whatever the code. */
function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = execFile(process.execPath, [CLI, ...args], { timeout: 120_000 }, (_err, stdout, stderr) => done({ code: child.exitCode, stdout, stderr }));
  });
}

// This host (and CI's) has no GPU, no NVIDIA driver and neither native tfjs package.
test('facefill doctor --json on a host without a GPU: wasm chosen and its step timed, no GPU, zeromq with CURVE, exit 0', async (t) => {
  const r = await cli(['doctor', '--json', '--work-dir', '/nonexistent/facefill-work']);
  t.is(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout) as DoctorReport;
  t.is(report.chosenBackend, 'wasm');
  t.like(report.trainStep, { backend: 'wasm', ok: true });
  t.deepEqual(report.gpus.devices, []);
  t.is(report.gpus.nvidiaSmi, 'absent');
  t.is(report.requestedGpu, null);
  t.deepEqual(report.backends.map((b) => b.name), ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu']);
  t.like(report.zeromq, { curve: true, error: null });
  t.is(report.disk.measured, '/');
  t.true(report.node.ok);
});

test('facefill doctor --gpu 0 on a host without a GPU exits 2 (as a worker on it would) and names GPU 0 and why; a negative GPU is a usage error', async (t) => {
  const r = await cli(['doctor', '--gpu', '0']);
  t.is(r.code, 2, r.stderr);
  t.regex(r.stderr, /^facefill: GPU 0 is unusable: nvidia-smi not found/m);
  t.regex(r.stdout, /^GPU 0 {7}UNUSABLE$/m);
  t.regex(r.stdout, /^backends {4}tensorflow-gpu/m);
  const negative = await cli(['doctor', '--gpu', '-1']);
  t.is(negative.code, 2, negative.stderr);
  t.regex(negative.stderr, /--gpu -1: expected a GPU ordinal/);
});
