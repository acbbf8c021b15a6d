import test from 'ava';
import { formatDoctorReport } from '../../../src/shared/preflight/format-report';
import { runPreflight } from '../../../src/shared/preflight/preflight';
import { fakeHost, fakeProber, portableChild } from './_fakes';

test('the table: a label column, each backend with why it does not load and the chosen one marked, the step, and the GPU verdict with its problems', async (t) => {
  const r = await runPreflight({ preference: 'auto', gpu: 0, workDir: '/work' }, fakeHost(), fakeProber([], portableChild));
  const text = formatDoctorReport(r);
  const lines = text.split('\n');
  t.regex(lines[0], /^node {8}20\.20\.2 \(ok: facefill needs >= 20\.8\), linux x64$/);
  t.true(lines.includes('backends    tensorflow-gpu  no  @tensorflow/tfjs-node-gpu is not installed'), text);
  t.true(lines.some((l) => /^ {12}wasm {12}loads in 0\.50 s {2}<- chosen$/.test(l)), text);
  t.true(lines.some((l) => /^train step  wasm \(32x32, batch 4\): first step 0\.50 s, then 0\.20 s a step/.test(l)), text);
  t.true(lines.includes('GPUs        none found: nvidia-smi not found'), text);
  t.true(lines.includes('GPU 0       UNUSABLE'), text);
  t.true(lines.some((l) => /^ {12}- nvidia-smi not found/.test(l)), text);
  t.true(lines.includes('zeromq      libzmq 4.3.5, CURVE yes'), text);
});
