import test from 'ava';
import { diskStatus } from '../../../src/shared/preflight/host-probes';

const enoent = (path: string) => Object.assign(new Error(`ENOENT: no such file or directory, statfs '${path}'`), { code: 'ENOENT' });

test('the work directory\'s disk: its nearest existing ancestor before it exists, with the margin a worker keeps', async (t) => {
  const seen: string[] = [];
  const statfs = async (p: string) => {
    seen.push(p);
    if (p !== '/data') throw enoent(p);
    return { bsize: 4096, blocks: 100 * 2 ** 20, bavail: 10 * 2 ** 20 };
  };
  const d = await diskStatus('/data/facefill/work', statfs);
  t.deepEqual(seen, ['/data/facefill/work', '/data/facefill', '/data']);
  t.deepEqual(d, { workDir: '/data/facefill/work', measured: '/data', freeBytes: 40 * 2 ** 30, totalBytes: 400 * 2 ** 30, marginBytes: Math.ceil(400 * 2 ** 30 * 0.01), error: null });
});

test('a file system that cannot be read is reported, not thrown', async (t) => {
  const d = await diskStatus('/x', async () => {
    throw Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
  });
  t.like(d, { measured: null, freeBytes: null, error: 'EACCES: permission denied' });
});
