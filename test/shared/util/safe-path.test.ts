import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { ProtocolViolationError } from '../../../src/shared/errors';
import { MAX_NAME_LENGTH, resolveUnder } from '../../../src/shared/util/safe-path';

const root = mkdtempSync(join(tmpdir(), 'facefill-safe-'));

test('relative names, in subfolders too, resolve under the root', (t) => {
  t.is(resolveUnder(root, 'train-00000.ffs'), join(root, 'train-00000.ffs'));
  t.is(resolveUnder(root, 'generator/model.json'), join(root, 'generator', 'model.json'));
  t.is(resolveUnder(`${root}/`, 'step-000010'), join(root, 'step-000010'), 'a root with a trailing slash');
});

const SEGMENT = /holds an empty, '\.' or '\.\.' segment/;
const hostile: [string, string, RegExp][] = [
  ['a backslash that would climb on Windows', 'x\\..', /backslash/],
  ['a parent', '..', SEGMENT],
  ['a climb inside a path', 'a/../../b', SEGMENT],
  ['a current-folder segment', './x', SEGMENT],
  ['an empty segment', 'a//b', SEGMENT],
  ['an absolute path', '/etc/passwd', /absolute/],
  ['a NUL', 'meta.json\0.png', /NUL/],
  ['nothing', '', /it is empty/],
  ['a very long name', 'a'.repeat(MAX_NAME_LENGTH + 1), new RegExp(`${MAX_NAME_LENGTH + 1} characters long`)],
];
for (const [what, name, why] of hostile) {
  test(`refused by name: ${what}`, (t) => {
    const err = t.throws(() => resolveUnder(root, name), { instanceOf: ProtocolViolationError, message: why });
    t.regex(err?.message ?? '', /^unsafe file name '/);
    t.true((err?.message.length ?? 0) < 300, 'the message quotes a long name only in part');
  });
}
