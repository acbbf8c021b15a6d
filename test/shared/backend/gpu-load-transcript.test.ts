import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { captureGpuLoad } from '../../../src/shared/backend/gpu-load-transcript';

// A stand-in for tfjs-node-gpu: libtensorflow's log goes to the process's stderr as it loads.
const FAKE_PACKAGE = `
process.stderr.write("W tensorflow/stream_executor/platform/default/dso_loader.cc:64] Could not load dynamic library 'libcudart.so.11.0'; dlerror: libcudart.so.11.0: cannot open shared object file: No such file or directory\\n");
process.stderr.write('TF_CPP_MIN_LOG_LEVEL=' + process.env.TF_CPP_MIN_LOG_LEVEL + '\\n');
let active = null;
module.exports = {
  setBackend: async (name) => { active = name; return true; },
  ready: async () => undefined,
  backend: () => ({ isUsingGpuDevice: false, name: active }),
};
`;

test('the child prints what TensorFlow printed while loading, with its log fully on, and what it found', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'facefill-gpu-load-'));
  const pkg = join(dir, 'fake-tfjs-node-gpu.js');
  writeFileSync(pkg, FAKE_PACKAGE);
  const text = await captureGpuLoad({ module: pkg });
  t.regex(text, /Could not load dynamic library 'libcudart\.so\.11\.0'/);
  t.regex(text, /TF_CPP_MIN_LOG_LEVEL=0/);
  t.regex(text, /isUsingGpuDevice: false/);
});

test('a package that is not installed gives its resolution error; a child that hangs is stopped', async (t) => {
  t.regex(await captureGpuLoad({ module: '@tensorflow/no-such-package' }), /Cannot find module '@tensorflow\/no-such-package'/);
  const dir = mkdtempSync(join(tmpdir(), 'facefill-gpu-load-'));
  const hangs = join(dir, 'hangs.js');
  // It loads, then never finds its devices (a hung driver call).
  writeFileSync(hangs, "process.stderr.write('loading\\n'); setInterval(() => undefined, 1000); module.exports = { setBackend: () => new Promise(() => undefined) };");
  const started = Date.now();
  // Long enough for a loaded machine to start node and print, short enough for a test.
  const text = await captureGpuLoad({ module: hangs, timeoutMs: 4_000 });
  t.true(Date.now() - started < 15_000);
  t.regex(text, /loading\n\(stopped after 4 s\)$/);
});
