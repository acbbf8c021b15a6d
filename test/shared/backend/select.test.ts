import * as tf from '@tensorflow/tfjs';
import test from 'ava';
import pino from 'pino';
import { selectBackend } from '../../../src/shared/backend/select';
import { BackendUnavailableError } from '../../../src/shared/errors';
import { installed } from '../../_installed';

// Which backend `auto` can pick depends on the optional native packages installed: on a
// GPU node tfjs-node-gpu is, here it is not. The expectations below follow what is installed.
const noNative = !installed('@tensorflow/tfjs-node-gpu') && !installed('@tensorflow/tfjs-node');

interface LogRecord {
  level: number;
  msg: string;
  backend?: string;
  reason?: string;
}

function memoryLogger(): { log: pino.Logger; records: LogRecord[] } {
  const records: LogRecord[] = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => void records.push(JSON.parse(line) as LogRecord) });
  return { log, records };
}

const INFO = 30;
const DEBUG = 20;

(noNative ? test.serial : test.serial.skip)('auto picks wasm without native tfjs, logs it, and says why the others were skipped', async (t) => {
  const { log, records } = memoryLogger();
  const chosen = await selectBackend('auto', log);
  t.is(chosen.name, 'wasm');
  t.is(chosen.tfjsBackend, 'wasm');
  t.is(tf.getBackend(), 'wasm');
  t.deepEqual(chosen.skipped.map((s) => s.name), ['tensorflow-gpu', 'tensorflow']);
  t.true(chosen.skipped.every((s) => /Cannot find module/.test(s.reason)), JSON.stringify(chosen.skipped));
  t.deepEqual(records.filter((r) => r.level === INFO).map((r) => r.backend), ['wasm']);
  t.deepEqual(records.filter((r) => r.level === DEBUG).map((r) => r.backend), ['tensorflow-gpu', 'tensorflow']);
});

(installed('@tensorflow/tfjs-node-gpu') ? test.serial.skip : test.serial)('an explicitly requested backend that cannot load is a typed error naming it', async (t) => {
  const before = tf.getBackend();
  const err = await t.throwsAsync(selectBackend('tensorflow-gpu'), { instanceOf: BackendUnavailableError });
  t.regex(err.message, /'tensorflow-gpu' is unavailable/);
  t.regex(err.message, /tfjs-node-gpu/);
  t.is(tf.getBackend(), before, 'a failed selection leaves the active backend alone');
});

test.serial('selecting again, the same or another backend, is safe', async (t) => {
  for (const name of ['cpu', 'wasm', 'wasm', 'cpu', 'wasm'] as const) {
    const chosen = await selectBackend(name);
    t.deepEqual([chosen.name, chosen.tfjsBackend, tf.getBackend()], [name, name, name]);
    t.deepEqual(chosen.skipped, []);
    // The backend computes after each switch, including a conv gradient on wasm.
    const grad = tf.tidy(() => tf.grad((w: tf.Tensor) => tf.conv2d(tf.ones([1, 4, 4, 1]) as tf.Tensor4D, w as tf.Tensor4D, 2, 'same').sum())(tf.ones([2, 2, 1, 1])).dataSync());
    t.deepEqual(Array.from(grad), [4, 4, 4, 4]);
  }
});
