import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';

/** The repository root (tests run from dist/test/deploy; the deployment files are read from the sources). */
export const REPO_ROOT = resolve(__dirname, '../../..');

/** Where the deployment files live. */
export const DEPLOY = {
  dockerGpu: join(REPO_ROOT, 'deploy/docker/Dockerfile.gpu'),
  dockerCpu: join(REPO_ROOT, 'deploy/docker/Dockerfile.cpu'),
  compose: join(REPO_ROOT, 'deploy/compose/docker-compose.yml'),
  k8s: join(REPO_ROOT, 'deploy/k8s'),
  sbatch: join(REPO_ROOT, 'deploy/slurm/facefill.sbatch'),
} as const;

/** A path relative to the repository root, for messages. */
export function repoPath(file: string): string {
  return relative(REPO_ROOT, file);
}

/** A file's text. */
export function readText(file: string): string {
  return readFileSync(file, 'utf8');
}

/** Every `.yml`/`.yaml` file in a folder, sorted. */
export function yamlFilesIn(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
    .map((f) => join(dir, f));
}

/**
 * Every document of a YAML file as plain data; throws naming the file on any syntax error or
 * warning. Merge keys (`<<: *anchor`) are resolved, as Docker Compose does.
 */
export function readYamlDocuments(file: string): unknown[] {
  return parseYamlDocuments(readText(file), repoPath(file));
}

/** Every document of a YAML text as plain data; throws naming `source` on any syntax error or warning. */
export function parseYamlDocuments(yaml: string, source: string): unknown[] {
  const docs = parseAllDocuments(yaml, { merge: true, prettyErrors: true });
  const out: unknown[] = [];
  for (const doc of docs) {
    const issues = [...doc.errors, ...doc.warnings];
    if (issues.length > 0) throw new Error(`${source}: ${issues.map((e) => e.message).join('; ')}`);
    const value: unknown = doc.toJS();
    out.push(value);
  }
  return out;
}

/** A plain object, or an error naming where it was expected. */
export function record(value: unknown, where: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error(`${where}: expected a mapping, got ${JSON.stringify(value)}`);
  return value as Record<string, unknown>;
}

/** A plain object or undefined when absent. */
export function optionalRecord(value: unknown, where: string): Record<string, unknown> | undefined {
  return value === undefined ? undefined : record(value, where);
}

/** A list (an absent one is empty), or an error naming where it was expected. */
export function list(value: unknown, where: string): unknown[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new Error(`${where}: expected a list, got ${JSON.stringify(value)}`);
  return value;
}

/** A string (numbers in YAML such as ports count as their text), or an error naming where. */
export function text(value: unknown, where: string): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return String(value);
  throw new Error(`${where}: expected a string, got ${JSON.stringify(value)}`);
}

/** A list of strings, or an error naming where. */
export function texts(value: unknown, where: string): string[] {
  return list(value, where).map((v, i) => text(v, `${where}[${i}]`));
}

/** A port number from text such as "7700", or an error naming where. */
export function port(value: string, where: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`${where}: '${value}' is not a port`);
  return n;
}
