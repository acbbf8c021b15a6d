import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import test from 'ava';
import { logFormat } from '../../src/shared/log';

const CLI = resolve(__dirname, '../../src/cli.js');

test('logs are readable text on a terminal and JSON lines elsewhere, unless FACEFILL_LOG_FORMAT says which', (t) => {
  t.is(logFormat({}, true), 'pretty');
  t.is(logFormat({}, false), 'json');
  t.is(logFormat({ FACEFILL_LOG_FORMAT: 'json' }, true), 'json');
  t.is(logFormat({ FACEFILL_LOG_FORMAT: 'pretty' }, false), 'pretty');
  t.is(logFormat({ FACEFILL_LOG_FORMAT: 'yaml' }, false), 'json', 'an unknown value is ignored');
});

test('--log-format chooses the format of a command\'s log lines; an unknown one is a usage error', (t) => {
  // A command that logs one info line: making a run's credentials.
  const run = (format: string) =>
    spawnSync(process.execPath, [CLI, '--log-format', format, 'credentials', '--out', join(mkdtempSync(join(tmpdir(), 'facefill-log-')), 'c'), '--address', 'h:1'], {
      encoding: 'utf8',
      env: { ...process.env, FACEFILL_LOG_LEVEL: 'info' },
      timeout: 60_000,
    });
  const pretty = run('pretty');
  t.is(pretty.status, 0, pretty.stderr);
  t.regex(pretty.stderr, /INFO \(credentials\): wrote the run's credentials/);
  const json = run('json');
  t.is(json.status, 0, json.stderr);
  t.regex((JSON.parse(json.stderr.trim().split('\n')[0]) as { msg: string }).msg, /^wrote the run's credentials/);
  t.is(run('yaml').status, 2);
});
