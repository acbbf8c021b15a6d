import { isAbsolute, resolve, sep } from 'node:path';
import { ProtocolViolationError } from '../errors';

/** The longest relative name a peer or a file may give (a path component is at most 255 bytes on Linux). */
export const MAX_NAME_LENGTH = 1024;

/**
 * Resolves `name`, a relative file name that came from outside (a peer's message, a manifest,
 * a pointer file), to a path under `root`, refusing anything that could reach elsewhere or
 * mean something else on another system: an empty or over-long name, NUL, a backslash, an
 * absolute path, and any `.` or `..` segment. The one check every reader and writer of such
 * names goes through.
 */
export function resolveUnder(root: string, name: string): string {
  const refuse = (why: string): never => {
    throw new ProtocolViolationError(`unsafe file name '${name.slice(0, 80)}${name.length > 80 ? '…' : ''}': ${why}; expected a relative path inside its folder`);
  };
  if (name.length === 0) refuse('it is empty');
  if (name.length > MAX_NAME_LENGTH) refuse(`it is ${name.length} characters long (at most ${MAX_NAME_LENGTH})`);
  if (name.includes('\0')) refuse('it holds a NUL');
  if (name.includes('\\')) refuse('it holds a backslash');
  if (isAbsolute(name)) refuse('it is absolute');
  if (name.split('/').some((segment) => segment === '' || segment === '.' || segment === '..')) refuse("it holds an empty, '.' or '..' segment");
  const base = resolve(root);
  const path = resolve(base, name);
  // Belt and braces: whatever the rules above missed, the result must lie inside the root.
  if (!path.startsWith(base + sep)) refuse('it resolves outside its folder');
  return path;
}
