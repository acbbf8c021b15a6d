import { dirname, resolve } from 'node:path';
import { list, optionalRecord, record, repoPath, text, texts } from './_deploy-files';
import { findShellInvocations, isCliEntry, shellWords } from './_shell-words';

/** A volume mounted into a container: where, whether read-only, and what backs it (`volume:runs`, `file:/abs/path`, `pvc:facefill-data`, `secret:facefill-credentials`, ...). */
export interface Mount {
  target: string;
  readOnly: boolean;
  source: string;
  /** Kubernetes only: the pod's volume, as written (its secret items and modes). */
  volume?: Record<string, unknown>;
}

/** One facefill container of a compose file or a Kubernetes workload, with what the file declares around it. */
export interface DeployedProcess {
  platform: 'compose' | 'k8s';
  /** For messages: the file and the service or `Kind/name container`. */
  origin: string;
  /** Compose service name, or the Kubernetes workload's name. */
  name: string;
  /** Names other containers reach it by (compose service name and hostname). */
  hostnames: string[];
  image: string;
  /** The facefill words after the CLI entry (image ENTRYPOINT/CMD applied; in a `sh -c` script, its facefill command line). */
  argv: string[];
  /** Every word the container runs (image ENTRYPOINT/CMD applied), the shell and its script included. */
  words: string[];
  /** Ports declared for it: compose `ports` (container side) and `expose`; Kubernetes containerPorts. */
  declaredPorts: number[];
  mounts: Mount[];
  /** The compose service, or the Kubernetes container. */
  container: Record<string, unknown>;
  /** Kubernetes only: the pod template's metadata and spec, and the workload object. */
  pod?: { metadata: Record<string, unknown>; spec: Record<string, unknown>; owner: Record<string, unknown> };
}

/** ENTRYPOINT and CMD of an image built from the repository's Dockerfiles. */
export interface ImageDefaults {
  entrypoint: readonly string[];
  cmd: readonly string[];
}

/** The argv after the CLI entry, or undefined when the words do not run facefill. */
export function facefillArgv(words: readonly string[]): string[] | undefined {
  const at = words.findIndex(isCliEntry);
  return at < 0 ? undefined : words.slice(at + 1);
}

/**
 * The facefill argv of a container's command: after the CLI entry, or, for a shell script
 * (`sh -c '...'`), of the one facefill command line in it. Undefined when it runs no facefill.
 */
export function containerFacefillArgv(words: readonly string[], where: string): string[] | undefined {
  const script = containerScript(words);
  if (script !== undefined) {
    const found = findShellInvocations(script, where);
    if (found.length > 1) throw new Error(`${where}: its script runs facefill ${found.length} times; one container, one facefill process`);
    return found[0] ? [...found[0].argv] : undefined;
  }
  return facefillArgv(words);
}

/** The script a container runs with `sh -c` (or bash), or undefined. */
export function containerScript(words: readonly string[]): string | undefined {
  return words.length === 3 && /(^|\/)(ba)?sh$/.test(words[0]) && words[1] === '-c' ? words[2] : undefined;
}

function words(value: unknown, where: string): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  return typeof value === 'string' ? shellWords(value).filter((w) => w !== ';') : texts(value, where);
}

/**
 * The facefill services of a compose file: those whose image is built from one of the
 * repository's Dockerfiles (`imageOf` maps an image name to its ENTRYPOINT and CMD).
 */
export function composeProcesses(file: string, doc: unknown, imageOf: (image: string) => ImageDefaults | undefined): DeployedProcess[] {
  const services = record(record(doc, repoPath(file)).services, `${repoPath(file)} services`);
  const out: DeployedProcess[] = [];
  for (const [name, value] of Object.entries(services)) {
    const where = `${repoPath(file)} service ${name}`;
    const service = record(value, where);
    const image = text(service.image, `${where} image`);
    const defaults = imageOf(image);
    if (!defaults) continue;
    const entry = words(service.entrypoint, `${where} entrypoint`);
    const all = entry ? [...entry, ...(words(service.command, `${where} command`) ?? [])] : [...defaults.entrypoint, ...(words(service.command, `${where} command`) ?? defaults.cmd)];
    const argv = containerFacefillArgv(all, where);
    if (!argv) throw new Error(`${where}: runs ${all.join(' ')}, not facefill`);
    const ports = list(service.ports, `${where} ports`).map((p, i) => composeContainerPort(p, `${where} ports[${i}]`));
    const expose = texts(service.expose, `${where} expose`).map((p) => Number(p.split('/')[0]));
    const hostname = typeof service.hostname === 'string' ? [service.hostname] : [];
    out.push({
      platform: 'compose',
      origin: where,
      name,
      hostnames: [name, ...hostname],
      image,
      argv,
      words: all,
      declaredPorts: [...new Set([...ports, ...expose])],
      mounts: list(service.volumes, `${where} volumes`).map((v, i) => composeMount(file, v, `${where} volumes[${i}]`)),
      container: service,
    });
  }
  return out;
}

function composeContainerPort(value: unknown, where: string): number {
  if (typeof value === 'object' && value !== null) return Number(text(record(value, where).target, `${where} target`));
  const spec = text(value, where).split('/')[0];
  return Number(spec.slice(spec.lastIndexOf(':') + 1));
}

/** A compose volume entry (short or long syntax); bind sources are resolved against the compose file's folder. */
export function composeMount(file: string, value: unknown, where: string): Mount {
  if (typeof value === 'string') {
    const [source, target, mode = ''] = value.split(':');
    if (target === undefined) return { target: source, readOnly: false, source: 'anonymous' };
    const bind = source.startsWith('.') || source.startsWith('/') || source.startsWith('~');
    return { target, readOnly: mode.split(',').includes('ro'), source: bind ? `file:${resolve(dirname(file), source)}` : `volume:${source}` };
  }
  const v = record(value, where);
  const source = text(v.source, `${where} source`);
  return {
    target: text(v.target, `${where} target`),
    readOnly: v.read_only === true,
    source: v.type === 'bind' ? `file:${resolve(dirname(file), source)}` : `volume:${source}`,
  };
}

/** The pod template of a Kubernetes workload object, or undefined for kinds without pods. */
export function podTemplate(obj: Record<string, unknown>, where: string): { metadata: Record<string, unknown>; spec: Record<string, unknown> } | undefined {
  const kind = obj.kind;
  let template: unknown;
  if (kind === 'Pod') template = obj;
  else if (kind === 'CronJob') template = record(record(record(obj.spec, where).jobTemplate, where).spec, where).template;
  else if (kind === 'Deployment' || kind === 'StatefulSet' || kind === 'DaemonSet' || kind === 'Job' || kind === 'ReplicaSet') template = record(obj.spec, `${where} spec`).template;
  else return undefined;
  const t = record(template, `${where} pod template`);
  return { metadata: optionalRecord(t.metadata, `${where} pod metadata`) ?? {}, spec: record(t.spec, `${where} pod spec`) };
}

/** The facefill containers of Kubernetes objects (images mapped by `imageOf`). */
export function k8sProcesses(file: string, objects: readonly Record<string, unknown>[], imageOf: (image: string) => ImageDefaults | undefined): DeployedProcess[] {
  const out: DeployedProcess[] = [];
  for (const obj of objects) {
    const meta = record(obj.metadata, `${repoPath(file)} metadata`);
    const workload = `${text(obj.kind, 'kind')}/${text(meta.name, 'metadata.name')}`;
    const pod = podTemplate(obj, `${repoPath(file)} ${workload}`);
    if (!pod) continue;
    const volumes = new Map<string, Record<string, unknown>>();
    for (const [i, v] of list(pod.spec.volumes, `${workload} volumes`).entries()) {
      const vol = record(v, `${workload} volumes[${i}]`);
      volumes.set(text(vol.name, `${workload} volumes[${i}].name`), vol);
    }
    for (const [i, c] of list(pod.spec.containers, `${workload} containers`).entries()) {
      const container = record(c, `${workload} containers[${i}]`);
      const where = `${repoPath(file)} ${workload} container ${text(container.name, 'container name')}`;
      const image = text(container.image, `${where} image`);
      const defaults = imageOf(image);
      if (!defaults) continue;
      const command = words(container.command, `${where} command`);
      const args = words(container.args, `${where} args`);
      const all = command ? [...command, ...(args ?? [])] : [...defaults.entrypoint, ...(args ?? defaults.cmd)];
      const argv = containerFacefillArgv(all, where);
      if (!argv) throw new Error(`${where}: runs ${all.join(' ')}, not facefill`);
      out.push({
        platform: 'k8s',
        origin: where,
        name: text(meta.name, 'metadata.name'),
        hostnames: [],
        image,
        argv,
        words: all,
        declaredPorts: list(container.ports, `${where} ports`).map((p, j) => Number(text(record(p, `${where} ports[${j}]`).containerPort, `${where} ports[${j}].containerPort`))),
        mounts: list(container.volumeMounts, `${where} volumeMounts`).map((m, j) => {
          const mount = record(m, `${where} volumeMounts[${j}]`);
          const name = text(mount.name, `${where} volumeMounts[${j}].name`);
          const volume = volumes.get(name);
          if (volume === undefined) throw new Error(`${where}: volumeMount ${name} names no volume of the pod`);
          return { target: text(mount.mountPath, `${where} mountPath`), readOnly: mount.readOnly === true, source: k8sVolumeSource(volume), volume };
        }),
        container,
        pod: { ...pod, owner: obj },
      });
    }
  }
  return out;
}

function k8sVolumeSource(vol: Record<string, unknown>): string {
  if (vol.persistentVolumeClaim) return `pvc:${text(record(vol.persistentVolumeClaim, 'pvc').claimName, 'claimName')}`;
  if (vol.configMap) return `configMap:${text(record(vol.configMap, 'configMap').name, 'configMap name')}`;
  if (vol.secret) return `secret:${text(record(vol.secret, 'secret').secretName, 'secretName')}`;
  if (vol.emptyDir) return 'emptyDir';
  return `other:${Object.keys(vol).filter((k) => k !== 'name').join(',')}`;
}
