import { posix } from 'node:path';
import { type Invocation, rawFlagValues } from './_cli-spec';
import { type DeployedProcess, containerScript, type Mount } from './_deployed';
import { documentedInvocations, documentedSecrets } from './_documented';
import { projectedKeys } from './_secret-volume';
import { shellWords } from './_shell-words';

/** The mount a container path is on (the deepest one), or undefined. */
export function mountOf(p: DeployedProcess, path: string): Mount | undefined {
  return p.mounts
    .filter((m) => path === m.target || path.startsWith(`${m.target.replace(/\/$/, '')}/`))
    .sort((a, b) => b.target.length - a.target.length)[0];
}

/** Where a container path lives outside the container: its volume and the path within it (`volume:join:join.json`), or undefined when on no volume. */
export function volumeLocation(p: DeployedProcess, path: string): string | undefined {
  const mount = mountOf(p, posix.normalize(path));
  return mount && `${mount.source}:${posix.relative(mount.target, posix.normalize(path))}`;
}

/** The `cp SOURCE DEST` commands of a container's shell script, as [source, dest]. */
export function scriptCopies(p: DeployedProcess): [string, string][] {
  const script = containerScript(p.words);
  if (script === undefined) return [];
  const words = shellWords(script);
  const copies: [string, string][] = [];
  for (let i = 0; i < words.length; i++) {
    if (words[i] !== 'cp' || (i > 0 && ![';', '&&', '||'].includes(words[i - 1]))) continue;
    const args: string[] = [];
    for (let j = i + 1; j < words.length && ![';', '&&', '||', '|', '&'].includes(words[j]); j++) if (!words[j].startsWith('-')) args.push(words[j]);
    if (args.length === 2) copies.push([args[0], args[1]]);
  }
  return copies;
}

/**
 * The `facefill credentials` command line that made the join file a compose service reads at
 * `joinPath`: that of a service whose --out folder holds the file, or which copies its
 * `<--out>/join.json` there in its script (`cp`).
 */
export function composeJoinOrigin(procs: readonly DeployedProcess[], reader: DeployedProcess, joinPath: string): DeployedProcess | undefined {
  const wanted = volumeLocation(reader, joinPath);
  if (wanted === undefined) return undefined;
  return procs.find((c) => {
    if (c.argv[0] !== 'credentials') return false;
    const out = rawFlagValues(c.argv, '--out').at(-1);
    if (out === undefined) return false;
    const made = volumeLocation(c, posix.join(out, 'join.json'));
    if (made === wanted) return true;
    return scriptCopies(c).some(([from, to]) => volumeLocation(c, from) === made && volumeLocation(c, to) === wanted);
  });
}

/**
 * The documented `facefill credentials` command line (a shell block of `readme`) that made the
 * join file a Kubernetes container reads at `joinPath`: the file is the `join.json` key of a
 * Secret, which the README creates with `kubectl create secret generic <name>
 * --from-file=<that command's --out>/`.
 */
export function k8sJoinOrigin(readme: string, reader: DeployedProcess, joinPath: string): Invocation | undefined {
  const mount = mountOf(reader, joinPath);
  const secretName = /^secret:(.+)$/.exec(mount?.source ?? '')?.[1];
  if (!mount?.volume || secretName === undefined) return undefined;
  const key = projectedKeys(mount.volume, reader.origin).get(posix.relative(mount.target, joinPath));
  if (key !== 'join.json' && key !== '*') return undefined;
  const folders = documentedSecrets(readme)
    .filter((s) => s.name === secretName)
    .flatMap((s) => s.fromFiles.map((f) => posix.normalize(f).replace(/\/$/, '')));
  return documentedInvocations(readme, 'deploy/README.md').find(
    (inv) => inv.argv[0] === 'credentials' && rawFlagValues(inv.argv, '--out').some((out) => folders.includes(posix.normalize(out).replace(/\/$/, ''))),
  );
}
