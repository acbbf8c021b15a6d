import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { freePort } from '../_free-port';
import { installed } from '../_installed';
import { makeRunCredentials } from '../_run-credentials';
import { cli, within } from './_processes';

// This machine has no GPU and no tfjs-node-gpu: a worker started for GPU 0 must say so and exit,
// not train on wasm. No coordinator is needed: the check comes before anything else.

const noGpuPackage = !installed('@tensorflow/tfjs-node-gpu');

async function joinFile(): Promise<string> {
  const out = mkdtempSync(join(tmpdir(), 'facefill-gpu-worker-'));
  // Nothing listens there: a worker that got as far as registering would fail to reach it.
  return (await makeRunCredentials(out, `127.0.0.1:${await freePort()}`)).joinFile;
}

(noGpuPackage ? test : test.skip)('facefill worker --gpu 0 without tfjs-node-gpu exits 2 within seconds, naming GPU 0, the cause and facefill doctor', async (t) => {
  const worker = cli(['worker', '--gpu', '0', '--join', await joinFile()]);
  const { code, ms } = await within(worker, 20_000, 'the GPU worker');
  const output = worker.output();
  t.is(code, 2, output);
  t.true(ms < 20_000);
  t.regex(output, /facefill: GPU 0 cannot be used: tfjs-node-gpu did not load, so this worker would compute on wasm \(the CPU\)/);
  t.regex(output, /likely cause: @tensorflow\/tfjs-node-gpu is not installed/);
  t.regex(output, /`facefill doctor`/);
  t.notRegex(output, /registering with/, 'it never registered');
});

test('facefill worker --gpu 0 --backend wasm is a usage error naming both flags', async (t) => {
  const worker = cli(['worker', '--gpu', '0', '--backend', 'wasm', '--join', await joinFile()]);
  const { code } = await within(worker, 20_000, 'the GPU worker');
  t.is(code, 2, worker.output());
  t.regex(worker.output(), /--gpu 0 starts a GPU worker, but --backend wasm never computes on a GPU/);
});

(noGpuPackage ? test : test.skip)('with --allow-cpu-fallback it warns with the same diagnosis and goes on to register', async (t) => {
  const worker = cli(['worker', '--gpu', '0', '--allow-cpu-fallback', '--join', await joinFile(), '--register-timeout', '1', '--metrics-port', '0']);
  const { code } = await within(worker, 30_000, 'the GPU worker');
  const output = worker.output();
  t.regex(output, /GPU 0 cannot be used: .*\(going on: --allow-cpu-fallback\)/);
  // It went past the check: it is the unreachable coordinator that ends it, a failure of its own (restartable).
  t.is(code, 1, output);
  t.regex(output, /127\.0\.0\.1:\d+/);
});
