import test from 'ava';
import { childProber } from '../../../src/shared/preflight/host-probes';
import { parseProbeArgs } from '../../../src/shared/preflight/probe-child';
import { readProbeEvents } from '../../../src/shared/preflight/probe-protocol';

test('the probe child\'s arguments: a list of backends and what to step on; anything else is refused', (t) => {
  t.deepEqual(parseProbeArgs(['--backends', 'wasm,cpu', '--step', 'auto']), { backends: ['wasm', 'cpu'], step: 'auto' });
  t.deepEqual(parseProbeArgs(['--backends', 'tensorflow-gpu']), { backends: ['tensorflow-gpu'], step: 'none' });
  t.throws(() => parseProbeArgs(['--backends', 'webgpu']), { message: /--backends 'webgpu'/ });
  t.throws(() => parseProbeArgs([]), { message: /--backends ''/ });
  t.throws(() => parseProbeArgs(['--backends', 'cpu', '--step', 'fast']), { message: /--step 'fast'/ });
});

test('a real probe child: a native package that is not there fails to load with the loader\'s reason; wasm loads and steps; it exits 0', async (t) => {
  const prober = childProber(process.env, 60_000);
  t.false(prober.isInstalled('@tensorflow/facefill-no-such-package'));
  t.true(prober.isInstalled('@tensorflow/tfjs'));
  const run = await prober.probe({ backends: ['tensorflow', 'wasm'], step: 'auto' });
  t.is(run.status, 'ok', run.stderr);
  const report = readProbeEvents(run.stdout);
  t.deepEqual(report.backends.map((b) => [b.name, b.loaded]), [
    ['tensorflow', false],
    ['wasm', true],
  ]);
  t.regex(report.backends[0].reason ?? '', /^Cannot find module '@tensorflow\/tfjs-node'/);
  t.is(report.stepStarted, 'wasm');
  t.like(report.step, { backend: 'wasm', ok: true });
});
