import test from 'ava';
import { ConfigInvalidError } from '../../src/shared/errors';
import { parseGpuList, planWorkers } from '../../src/worker/launch-plan';

test('one worker per GPU, each seeing only its own device with memory growth on', (t) => {
  const slots = planWorkers({ gpus: 'all' }, [0, 1, 3]);
  t.deepEqual(slots.map((s) => [s.local, s.gpu, s.env.CUDA_VISIBLE_DEVICES, s.env.TF_FORCE_GPU_ALLOW_GROWTH]), [
    [0, 0, '0', 'true'],
    [1, 1, '1', 'true'],
    [2, 3, '3', 'true'],
  ]);
  t.deepEqual(planWorkers({ gpus: parseGpuList('3,0') }, [0, 1, 3]).map((s) => s.gpu), [3, 0]);
});

test('CPU workers see no GPU', (t) => {
  const slots = planWorkers({ cpu: 2 }, [0]);
  t.deepEqual(slots.map((s) => [s.gpu, s.env.CUDA_VISIBLE_DEVICES]), [[-1, ''], [-1, '']]);
});

test('impossible requests name what is wrong', (t) => {
  t.throws(() => planWorkers({ gpus: 'all' }, []), { instanceOf: ConfigInvalidError, message: /no GPU was detected.*--cpu/ });
  t.throws(() => planWorkers({ gpus: [2] }, [0, 1, 3]), { message: /GPU 2 not found; this host has 0, 1, 3/ });
  t.throws(() => planWorkers({ gpus: [1, 1] }, [0, 1]), { message: /listed twice/ });
  t.throws(() => planWorkers({ cpu: 0 }, []), { message: /--cpu 0/ });
  t.throws(() => parseGpuList('0,x'), { message: /'0,x'/ });
});
