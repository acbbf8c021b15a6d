import test from 'ava';
import { runBounded } from '../../../src/shared/util/bounded-run';

const node = (script: string, timeoutMs = 10_000, maxBytes?: number) => runBounded(process.execPath, ['-e', script], { timeoutMs, maxBytes });

test('a program that exits 0 is ok, with what it printed on each stream', async (t) => {
  const r = await node('process.stdout.write("out"); process.stderr.write("err")');
  t.like(r, { status: 'ok', code: 0, stdout: 'out', stderr: 'err', detail: '' });
});

test('a missing program is absent; a non-zero exit is failed, with its code', async (t) => {
  t.like(await runBounded('facefill-no-such-program', [], { timeoutMs: 1000 }), { status: 'absent', code: null, detail: 'facefill-no-such-program not found' });
  const failed = await node('process.exit(3)');
  t.like(failed, { status: 'failed', code: 3 });
  t.regex(failed.detail, /exited 3$/);
});

test('a program that runs past its bound is killed and reported as timed out, keeping what it printed', async (t) => {
  const started = Date.now();
  // Long enough for a loaded host to start node, far shorter than the program would run.
  const r = await node('console.log("started"); setInterval(() => {}, 1000)', 3000);
  t.true(Date.now() - started < 10_000, 'it did not wait for the program');
  t.like(r, { status: 'timeout', code: null, stdout: 'started\n' });
  t.regex(r.detail, /did not finish within 3 s and was killed/);
});

test('only the last maxBytes of a stream are kept: the end says why a program stopped', async (t) => {
  const r = await node('for (let i = 0; i < 1000; i++) process.stdout.write(String(i % 10)); process.stdout.write("END")', 10_000, 64);
  t.is(r.stdout.length, 64);
  t.true(r.stdout.endsWith('END'));
});
