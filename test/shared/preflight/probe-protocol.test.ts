import test from 'ava';
import { PROBE_EVENT_MARKER, readProbeEvents } from '../../../src/shared/preflight/probe-protocol';
import { events, loaded, stepped } from './_fakes';

test('event lines are read among whatever else a native library printed; malformed or foreign ones are ignored', (t) => {
  const stdout = [
    'some library banner',
    events(loaded('wasm')).trimEnd(),
    `${PROBE_EVENT_MARKER}{not json`,
    `${PROBE_EVENT_MARKER}${JSON.stringify({ load: { name: 'webgpu', loaded: true } })}`,
    `${PROBE_EVENT_MARKER}${JSON.stringify({ load: { name: 'cpu', loaded: true, loadSeconds: 1, usesGpu: false, libtensorflow: null, extra: 1 } })}`,
    events({ stepStarted: 'wasm' }, stepped('wasm')).trimEnd(),
  ].join('\n');
  const r = readProbeEvents(stdout);
  t.deepEqual(r.backends.map((b) => b.name), ['wasm']);
  t.is(r.stepStarted, 'wasm');
  t.true(r.step?.ok);
  t.deepEqual(readProbeEvents(''), { backends: [], stepStarted: null, step: null });
});
