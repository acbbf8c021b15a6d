import test from 'ava';
import pino from 'pino';
import { ProgressTracker } from '../../src/coordinator/progress-tracker';
import { DEFAULT_CONFIG } from '../../src/shared/config';
import type { StepResult } from '../../src/shared/train/api';

const result = (step: number): StepResult => ({
  step,
  dLossReal: 0.6,
  dLossFake: 0.7,
  gAdversarialLoss: 1,
  gL2Loss: 0.1,
  gLoss: 11,
  dScoreReal: 0.6,
  dScoreFake: 0.4,
  gGradNorm: 1,
  dGradNorm: 1,
  skipped: null,
  seconds: { data: 0, dCompute: 0.1, dReduce: 0.02, gCompute: 0.1, gReduce: 0.03, apply: 0, total: 0.25 },
});

test('rank 0\'s report of every step is logged, at info every logEvery steps and at debug between', (t) => {
  const lines: { level: number; msg: string; reduceSeconds: number }[] = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as (typeof lines)[number]) });
  const tracker = new ProgressTracker({ ...DEFAULT_CONFIG, train: { ...DEFAULT_CONFIG.train, logEvery: 3 } }, log);
  for (let step = 0; step < 6; step++) tracker.follow(result(step), 4, null, 2, 6);
  t.deepEqual(
    lines.map((l) => [l.msg, l.level === 30 ? 'info' : 'debug']),
    [1, 2, 3, 4, 5, 6].map((done) => [`step ${done}/6`, done % 3 === 0 ? 'info' : 'debug']),
  );
  t.true(lines.every((l) => Math.abs(l.reduceSeconds - 0.05) < 1e-12));
});
