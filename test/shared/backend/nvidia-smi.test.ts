import test from 'ava';
import { compareVersions, mergeGpuQuery, parseGpuQuery, parseNvidiaSmiList } from '../../../src/shared/backend/nvidia-smi';

// As nvidia-smi -L prints it on a host with a MIG-partitioned A100 and a T4 (MIG lines are not GPUs).
const LIST = `GPU 0: NVIDIA A100-SXM4-40GB (UUID: GPU-5e1f2b9c-8a3d-4b7e-9f21-0c6d2a1b3e4f)
  MIG 1g.5gb      Device  0: (UUID: MIG-8e2c4a10-1b2d-5e6f-9a8b-7c6d5e4f3a2b)
GPU 1: Tesla T4 (UUID: GPU-0a1b2c3d-4e5f-6789-abcd-ef0123456789)
GPU 2: NVIDIA H100 80GB HBM3
`;

// nvidia-smi --query-gpu=index,uuid,name,compute_cap,driver_version,memory.total --format=csv,noheader,nounits
const QUERY = `0, GPU-5e1f2b9c-8a3d-4b7e-9f21-0c6d2a1b3e4f, NVIDIA A100-SXM4-40GB, 8.0, 535.104.05, 40960
1, GPU-0a1b2c3d-4e5f-6789-abcd-ef0123456789, Tesla T4, 7.5, 535.104.05, [N/A]
2, GPU-99999999-0000-1111-2222-333333333333, NVIDIA H100 80GB HBM3, 9.0, 535.104.05, 81559
`;

test('nvidia-smi -L: one GPU per GPU line with its ordinal (gaps kept), name and UUID; MIG lines and blank lines are skipped', (t) => {
  t.deepEqual(parseNvidiaSmiList(LIST), [
    { index: 0, name: 'NVIDIA A100-SXM4-40GB', uuid: 'GPU-5e1f2b9c-8a3d-4b7e-9f21-0c6d2a1b3e4f', computeCapability: null, memoryMiB: null },
    { index: 1, name: 'Tesla T4', uuid: 'GPU-0a1b2c3d-4e5f-6789-abcd-ef0123456789', computeCapability: null, memoryMiB: null },
    { index: 2, name: 'NVIDIA H100 80GB HBM3', uuid: null, computeCapability: null, memoryMiB: null },
  ]);
  // A GPU taken out (by the driver, or a host with a card removed) leaves a gap in the ordinals.
  t.deepEqual(parseNvidiaSmiList('GPU 0: NVIDIA A100-SXM4-40GB (UUID: GPU-6a1b)\nGPU 3: NVIDIA A100-SXM4-40GB (UUID: GPU-93d4)\n').map((g) => g.index), [0, 3]);
  t.deepEqual(parseNvidiaSmiList(''), []);
  t.deepEqual(parseNvidiaSmiList('No devices were found\n'), []);
  t.deepEqual(parseNvidiaSmiList('NVIDIA-SMI has failed because it couldn\'t communicate with the NVIDIA driver.\n'), []);
});

test('the GPU query CSV: compute capability, memory and the driver version; [N/A] is null; other lines are skipped', (t) => {
  const q = parseGpuQuery(`${QUERY}Field "compute_cap" is not a valid field to query.\n`);
  t.is(q.driverVersion, '535.104.05');
  t.deepEqual(
    q.devices.map((d) => [d.index, d.computeCapability, d.memoryMiB]),
    [
      [0, 8, 40960],
      [1, 7.5, null],
      [2, 9, 81559],
    ],
  );
  t.deepEqual(parseGpuQuery('Field "compute_cap" is not a valid field to query.\n'), { devices: [], driverVersion: null });
});

test('the query completes the -L list, which stays the list of record', (t) => {
  const merged = mergeGpuQuery(parseNvidiaSmiList(LIST), parseGpuQuery(QUERY.split('\n').slice(0, 2).join('\n')));
  t.deepEqual(
    merged.map((d) => [d.index, d.uuid, d.computeCapability]),
    [
      [0, 'GPU-5e1f2b9c-8a3d-4b7e-9f21-0c6d2a1b3e4f', 8],
      [1, 'GPU-0a1b2c3d-4e5f-6789-abcd-ef0123456789', 7.5],
      [2, null, null],
    ],
  );
  t.deepEqual(mergeGpuQuery(parseNvidiaSmiList(LIST), null), parseNvidiaSmiList(LIST));
});

test('driver and Node versions compare part by part as numbers', (t) => {
  t.true(compareVersions('450.80.02', '450.80.02') === 0);
  t.true(compareVersions('450.51.06', '450.80.02') < 0);
  t.true(compareVersions('535.104.05', '450.80.02') > 0);
  t.true(compareVersions('460.9', '460.27.03') < 0, '9 < 27, not "9" > "27"');
  t.true(compareVersions('20.20.2', '20.8') > 0);
  t.true(compareVersions('v18.19.0', '20.8') < 0);
});
