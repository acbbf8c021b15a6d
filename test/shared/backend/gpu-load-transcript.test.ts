import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { captureGpuLoad, transcriptOf } from '../../../src/shared/backend/gpu-load-transcript';

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

test('a package that is not installed gives its resolution error', async (t) => {
  t.regex(await captureGpuLoad({ module: '@tensorflow/no-such-package' }), /Cannot find module '@tensorflow\/no-such-package'/);
});

// How a child is stopped at its bound is runBounded's (test/shared/util); here, what the transcript says of it.
test('a child stopped at its bound ends its transcript with a line saying so; TensorFlow\'s log comes first', (t) => {
  t.is(transcriptOf({ status: 'timeout', stdout: '', stderr: 'loading\n' }, 4_000), 'loading\n(stopped after 4 s)');
  t.is(transcriptOf({ status: 'timeout', stdout: 'partial', stderr: 'loading\n' }, 30_000), 'loading\npartial\n(stopped after 30 s)');
  t.is(transcriptOf({ status: 'timeout', stdout: '', stderr: '' }, 4_000), '(stopped after 4 s)');
  t.is(transcriptOf({ status: 'failed', stdout: 'isUsingGpuDevice: false\n', stderr: 'W dso_loader.cc:64] …\n' }, 4_000), 'W dso_loader.cc:64] …\nisUsingGpuDevice: false\n');
});
