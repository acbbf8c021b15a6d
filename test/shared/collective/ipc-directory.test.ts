import { execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { Pull, Push } from 'zeromq';
import { IpcDirectory } from '../../../src/shared/collective/ipc-directory';
import { ConfigInvalidError } from '../../../src/shared/errors';

test('an ipc directory is private (0700) under the temp dir, its endpoints carry sockets, and close removes it with them', async (t) => {
  const dir = IpcDirectory.create();
  t.true(dir.path.startsWith(join(tmpdir(), 'facefill-ring-')));
  t.is(statSync(dir.path).mode & 0o777, 0o700);
  const endpoint = dir.endpoint('rank-0');
  t.is(endpoint, `ipc://${join(dir.path, 'rank-0')}`);
  const pull = new Pull({ linger: 0, receiveTimeout: 5000 });
  const push = new Push({ linger: 0 });
  await pull.bind(endpoint);
  push.connect(endpoint);
  await push.send('through the private directory');
  t.is((await pull.receive())[0].toString(), 'through the private directory');
  push.close();
  pull.close();
  dir.close();
  dir.close();
  t.false(existsSync(dir.path));
  t.throws(() => dir.endpoint('rank-1'), { message: /is closed/ });
});

test('an endpoint name must be a plain file name, and the path must fit a Unix socket', (t) => {
  const dir = IpcDirectory.create();
  try {
    for (const bad of ['', '..', '.', 'a/b', '../escape', 'sp ace', 'x'.repeat(65)]) {
      t.throws(() => dir.endpoint(bad), { instanceOf: ConfigInvalidError, message: /ipc socket name/ }, bad);
    }
    const longPrefix = IpcDirectory.create(`ff-${'p'.repeat(60)}-`);
    try {
      t.throws(() => longPrefix.endpoint('r'.repeat(60)), { instanceOf: ConfigInvalidError, message: /bytes; a Unix socket path holds at most 107/ });
    } finally {
      longPrefix.close();
    }
  } finally {
    dir.close();
  }
});

test('a directory not closed is removed when the process exits', (t) => {
  const script = `const { IpcDirectory } = require(${JSON.stringify(require.resolve('../../../src/shared/collective/ipc-directory'))});
    const a = IpcDirectory.create(); const b = IpcDirectory.create(); b.close();
    process.stdout.write(a.path);`;
  const path = execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' });
  t.regex(path, /facefill-ring-/);
  t.false(existsSync(path));
});
