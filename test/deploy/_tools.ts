import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import test, { type ExecutionContext } from 'ava';

/** The path of executable `name` on PATH (or in /usr/bin, where Debian's prometheus package puts it), or null. */
export function which(name: string): string | null {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), '/usr/bin'];
  for (const dir of dirs) {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // not here
    }
  }
  return null;
}

/** Whether the tests run in CI (CI=true), where a missing tool is a failure rather than a skip. */
export const IN_CI = process.env.CI === 'true';

/**
 * Registers a test that needs the executable `tool`: it runs with the tool's path when the tool
 * is installed; otherwise it is skipped with the reason in its title, except in CI, where it
 * fails (.ci/run installs Debian's prometheus package, which brings prometheus and promtool).
 */
export function testWithTool(tool: string, title: string, run: (t: ExecutionContext, path: string) => Promise<void>, serial = false): void {
  const path = which(tool);
  const register = serial ? test.serial : test;
  if (path) {
    register(title, (t) => run(t, path));
  } else if (IN_CI) {
    register(title, (t) => t.fail(`${tool} is not installed (CI=true): apt-get install prometheus`));
  } else {
    register.skip(`${title} [skipped: ${tool} is not installed; apt-get install prometheus]`, () => undefined);
  }
}

/** What a finished command printed. */
export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end (no shell), collecting its output. */
export function run(command: string, args: string[], cwd?: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * Registers a test that uses the executable `tool` when it is installed, and is skipped (in CI
 * too) when it is not: for tools that no setup step installs, such as kubectl.
 */
export function testIfTool(tool: string, title: string, run: (t: ExecutionContext, path: string) => Promise<void>): void {
  const path = which(tool);
  if (path) test(title, (t) => run(t, path));
  else test.skip(`${title} [skipped: ${tool} is not installed]`, () => undefined);
}
