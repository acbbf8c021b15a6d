import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import test from 'ava';
import {
  type DurableFs,
  ensureDirectory,
  installDirectory,
  isTemporaryName,
  removeDirectory,
  setAsideOriginal,
  temporarySibling,
  writeFileAtomic,
} from '../../../src/shared/util/atomic-write';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'facefill-atomic-'));

/**
 * The real file system, recording each fsync and rename as `sync <path>` / `rename <from> <to>`
 * with paths relative to `root` (`.` for root itself), and with `override` in place of some calls.
 */
function recording(root: string, events: string[], override: Partial<DurableFs> = {}): DurableFs {
  const rel = (p: unknown) => (String(p) === root ? '.' : String(p).slice(root.length + 1));
  return {
    ...fsp,
    open: async (path, flags, mode) => {
      const handle = await fsp.open(path, flags, mode);
      const sync = handle.sync.bind(handle);
      handle.sync = async () => {
        events.push(`sync ${rel(path)}`);
        await sync();
      };
      return handle;
    },
    rename: async (from, to) => {
      events.push(`rename ${rel(from)} ${rel(to)}`);
      await fsp.rename(from, to);
    },
    ...override,
  };
}

test('writeFileAtomic replaces a file and leaves no temporary name behind', async (t) => {
  const dir = tmp();
  writeFileSync(join(dir, 'run.json'), 'old');
  await writeFileAtomic(join(dir, 'run.json'), 'new');
  t.is(readFileSync(join(dir, 'run.json'), 'utf8'), 'new');
  t.deepEqual(readdirSync(dir), ['run.json']);
});

test('writeFileAtomic fsyncs the temporary file before the rename and the folder after it', async (t) => {
  const dir = tmp();
  const events: string[] = [];
  await writeFileAtomic(join(dir, 'latest'), 'x', recording(dir, events));
  t.is(events.length, 3);
  const [syncFile, rename, syncDir] = events;
  const temporary = syncFile.replace(/^sync /, '');
  t.true(isTemporaryName(temporary), `${temporary} is a temporary name`);
  t.is(rename, `rename ${temporary} latest`);
  t.is(syncDir, 'sync .');
});

test('a write that fails midway, or a rename that fails, leaves the old content and no temporary file', async (t) => {
  const failures: Record<string, Partial<DurableFs>> = {
    'write fails after some bytes': {
      open: async (path, flags, mode) => {
        const handle = await fsp.open(path, flags, mode);
        handle.writeFile = async () => {
          await handle.write('ne');
          throw new Error('ENOSPC: no space left on device');
        };
        return handle;
      },
    },
    'rename fails': {
      rename: async () => {
        throw new Error('EIO: i/o error');
      },
    },
  };
  for (const [what, override] of Object.entries(failures)) {
    const dir = tmp();
    writeFileSync(join(dir, 'run.json'), 'old');
    await t.throwsAsync(writeFileAtomic(join(dir, 'run.json'), 'new', { ...fsp, ...override }), { message: /ENOSPC|EIO/ }, what);
    t.is(readFileSync(join(dir, 'run.json'), 'utf8'), 'old', what);
    t.deepEqual(readdirSync(dir), ['run.json'], what);
  }
});

test('ensureDirectory fsyncs the parent of every folder it creates, and nothing when they exist', async (t) => {
  const dir = tmp();
  const events: string[] = [];
  await ensureDirectory(join(dir, 'a', 'b', 'c'), recording(dir, events));
  t.deepEqual(events.sort(), ['sync .', 'sync a', 'sync a/b']);
  events.length = 0;
  await ensureDirectory(join(dir, 'a', 'b'), recording(dir, events));
  t.deepEqual(events, []);
});

test('installDirectory fsyncs every file and folder before the rename and the parent after it', async (t) => {
  const dir = tmp();
  mkdirSync(join(dir, '.new', 'generator'), { recursive: true });
  writeFileSync(join(dir, '.new', 'meta.json'), 'm');
  writeFileSync(join(dir, '.new', 'generator', 'weights.bin'), 'w');
  const events: string[] = [];
  await installDirectory(join(dir, '.new'), join(dir, 'step-000002'), recording(dir, events));
  const rename = events.indexOf('rename .new step-000002');
  t.deepEqual(events.slice(0, rename).sort(), ['sync .new', 'sync .new/generator', 'sync .new/generator/weights.bin', 'sync .new/meta.json']);
  t.is(events.indexOf('sync .new'), rename - 1, 'the folder is synced after what it holds');
  t.deepEqual(events.slice(rename + 1), ['sync .']);
  t.is(readFileSync(join(dir, 'step-000002', 'generator', 'weights.bin'), 'utf8'), 'w');
});

test('installDirectory replaces an existing folder whole, and puts it back when the move fails', async (t) => {
  const dir = tmp();
  for (const [name, content] of [['old', 'old'], ['new', 'new']]) {
    mkdirSync(join(dir, name));
    writeFileSync(join(dir, name, 'state.json'), content);
  }
  const failing: DurableFs = {
    ...fsp,
    rename: async (from, to) => {
      if (String(from).endsWith('new')) throw new Error('EXDEV');
      await fsp.rename(from, to);
    },
  };
  await t.throwsAsync(installDirectory(join(dir, 'new'), join(dir, 'old'), failing), { message: 'EXDEV' });
  t.is(readFileSync(join(dir, 'old', 'state.json'), 'utf8'), 'old');
  t.deepEqual(readdirSync(dir).sort(), ['new', 'old']);
  await installDirectory(join(dir, 'new'), join(dir, 'old'));
  t.is(readFileSync(join(dir, 'old', 'state.json'), 'utf8'), 'new');
  t.deepEqual(readdirSync(dir), ['old']);
});

test('removeDirectory moves the folder to a temporary name, makes that durable, then deletes it', async (t) => {
  const dir = tmp();
  mkdirSync(join(dir, 'step-000001'));
  writeFileSync(join(dir, 'step-000001', 'meta.json'), '{}');
  const events: string[] = [];
  await removeDirectory(join(dir, 'step-000001'), recording(dir, events));
  t.is(events.length, 2);
  const aside = events[0].split(' ')[2];
  t.is(events[0], `rename step-000001 ${aside}`);
  t.true(isTemporaryName(aside));
  t.is(events[1], 'sync .');
  t.deepEqual(readdirSync(dir), []);
});

test('the names of writes in progress are recognised, and no checkpoint or pointer name is', (t) => {
  t.true(isTemporaryName(basename(temporarySibling('/run/checkpoints/step-000500'))));
  t.true(isTemporaryName(basename(temporarySibling('/run/checkpoints/latest'))));
  for (const name of ['step-000500', 'latest', 'run.json', '.hidden', 'a.tmp-1-zz']) t.false(isTemporaryName(name), name);
  t.is(setAsideOriginal('.replaced-step-000500-0a1b2c3d'), 'step-000500');
  t.is(setAsideOriginal('step-000500'), null);
});
