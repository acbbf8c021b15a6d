import test from 'ava';
import type { RunStatus__Output } from '../../src/generated/facefill/v1/RunStatus';
import { formatStatus } from '../../src/commands/status';

const worker = (rank: number, gpu: number, backend: string, device: string) => ({ rank, host: `h${rank}`, gpu, backend, device, state: 'running', step: 7, heartbeatAgeSeconds: 1.25 });

test('facefill status prints each worker\'s GPU, backend and the device it computes on', (t) => {
  const status = {
    runId: 'run-1',
    state: 'running',
    step: 7,
    steps: 10,
    generation: 0,
    imagesPerSecond: 3,
    ringEncryption: 'curve',
    lastReport: null,
    lastReportStep: 0,
    collapse: null,
    probe: null,
    latestCheckpoint: '',
    error: '',
    recoveries: [],
    workers: [worker(0, 0, 'tensorflow-gpu', 'gpu'), worker(1, 1, 'tensorflow-gpu', 'cpu'), worker(2, -1, 'wasm', 'cpu')],
  } as unknown as RunStatus__Output;
  const table = formatStatus(status).split('\n').slice(-4);
  t.deepEqual(table, [
    'rank  host  gpu  backend         device  state    step  heartbeat age',
    '0     h0    0    tensorflow-gpu  gpu     running  7     1.3 s',
    '1     h1    1    tensorflow-gpu  cpu     running  7     1.3 s',
    '2     h2    -    wasm            cpu     running  7     1.3 s',
  ]);
});
