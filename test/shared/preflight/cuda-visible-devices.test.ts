import test from 'ava';
import { isGpuVisible, parseVisibleDevices } from '../../../src/shared/preflight/cuda-visible-devices';

const gpu = (index: number, uuid: string | null = null) => ({ index, uuid });

test('unset shows every GPU; empty shows none', (t) => {
  t.true(isGpuVisible(gpu(3), parseVisibleDevices(undefined)));
  t.deepEqual(parseVisibleDevices(''), { all: false, entries: [] });
  t.false(isGpuVisible(gpu(0), parseVisibleDevices('')));
});

test('ordinals and UUID prefixes are read up to the first invalid entry, as the CUDA runtime does (0,2,-1,1 shows 0 and 2)', (t) => {
  const v = parseVisibleDevices('0, 2,-1,1');
  t.deepEqual(v, { all: false, entries: ['0', '2'] });
  t.true(isGpuVisible(gpu(2), v));
  t.false(isGpuVisible(gpu(1), v));
  t.deepEqual(parseVisibleDevices('-1'), { all: false, entries: [] });
  const byUuid = parseVisibleDevices('GPU-8932f937');
  t.true(isGpuVisible(gpu(5, 'GPU-8932f937-d72c-4106-c12f-20bd9faed9f6'), byUuid));
  t.false(isGpuVisible(gpu(5, 'GPU-0000'), byUuid));
  t.false(isGpuVisible(gpu(5), byUuid), 'a GPU whose UUID is unknown does not match a UUID');
});
