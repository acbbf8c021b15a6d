import test from 'ava';
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';

const CLI = resolve(__dirname, '../src/cli.js');

/** Runs the CLI and resolves with its exit code and stderr, whatever the code. */
function cli(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((done) => {
    const child = execFile(process.execPath, [CLI, ...args], (_err, _stdout, stderr) => done({ code: child.exitCode, stderr }));
  });
}

test('a flag the CLI does not know, or a bad flag value, exits 2 (usage), not 1 (restartable)', async (t) => {
  const unknown = await cli(['worker', '--coordinator', '127.0.0.1:1', '--no-such-flag']);
  t.is(unknown.code, 2, unknown.stderr);
  t.regex(unknown.stderr, /unknown option '--no-such-flag'/);
  const badValue = await cli(['workers', '--coordinator', '127.0.0.1:1', '--cpu', '1', '--max-restarts', 'two']);
  t.is(badValue.code, 2, badValue.stderr);
  t.regex(badValue.stderr, /--max-restarts.*expected a whole number, got 'two'/);
  const missing = await cli(['worker']);
  t.is(missing.code, 2, missing.stderr);
});

test('a value the command refuses exits 2, and help exits 0', async (t) => {
  const negative = await cli(['workers', '--insecure', '--coordinator', '127.0.0.1:1', '--cpu', '1', '--max-restarts', '-1']);
  t.is(negative.code, 2, negative.stderr);
  t.regex(negative.stderr, /--max-restarts -1: expected 0 or more/);
  // A worker with no way to prove it belongs to a run is a usage error (not restarted), named.
  const unjoined = await cli(['worker', '--coordinator', '127.0.0.1:1']);
  t.is(unjoined.code, 2, unjoined.stderr);
  t.regex(unjoined.stderr, /no join file: pass --join <file>/);
  const missingJoin = await cli(['worker', '--join', '/nonexistent/join.json']);
  t.is(missingJoin.code, 2, missingJoin.stderr);
  t.regex(missingJoin.stderr, /cannot open join file \/nonexistent\/join\.json: it does not exist/);
  t.is((await cli(['workers', '--help'])).code, 0);
});
