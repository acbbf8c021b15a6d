import { join } from 'node:path';
import { DEPLOY, readText, readYamlDocuments, record, repoPath, text, yamlFilesIn } from './_deploy-files';
import { composeProcesses, type DeployedProcess, type ImageDefaults, k8sProcesses } from './_deployed';
import { type DockerStage, execForm, instructionsOf, parseDockerfile } from './_dockerfile';

/** Image repository name → the Dockerfile that builds it. */
const IMAGE_FILES: Readonly<Record<string, string>> = { 'facefill-gpu': DEPLOY.dockerGpu, 'facefill-cpu': DEPLOY.dockerCpu };

/** The Kustomization file of deploy/k8s. */
export const K8S_KUSTOMIZATION = join(DEPLOY.k8s, 'kustomization.yaml');

/** Manifests applied on their own, deliberately left out of kustomization.yaml. */
export const K8S_OPTIONAL: readonly string[] = ['ingest-job.yaml', 'status-job.yaml'];

/** Everything read from deploy/: the Dockerfiles' stages, the compose file, the Kubernetes objects, and the facefill containers they run. */
export interface Deployment {
  dockerfiles: ReadonlyMap<string, DockerStage[]>;
  compose: Record<string, unknown>;
  k8sFiles: string[];
  k8sObjects: { file: string; obj: Record<string, unknown> }[];
  composeProcs: DeployedProcess[];
  k8sProcs: DeployedProcess[];
}

let loaded: Deployment | undefined;

/** Reads deploy/ once, when a test first needs it (so a broken file fails that test, naming the file). */
export function deployment(): Deployment {
  loaded ??= load();
  return loaded;
}

function load(): Deployment {
  const dockerfiles = new Map<string, DockerStage[]>([DEPLOY.dockerGpu, DEPLOY.dockerCpu].map((f) => [f, parseDockerfile(readText(f))]));
  const imageOf = (image: string): ImageDefaults | undefined => {
    const file = IMAGE_FILES[image.slice(image.lastIndexOf('/') + 1).split(':')[0]];
    if (!file) return undefined;
    const stage = runtimeStage(dockerfiles, file);
    return { entrypoint: lastExecForm(stage, 'ENTRYPOINT'), cmd: lastExecForm(stage, 'CMD') };
  };
  const compose = record(readYamlDocuments(DEPLOY.compose)[0], repoPath(DEPLOY.compose));
  const k8sFiles = yamlFilesIn(DEPLOY.k8s);
  const manifests = k8sFiles.filter((f) => f !== K8S_KUSTOMIZATION);
  const k8sObjects = manifests.flatMap((file) => readYamlDocuments(file).map((doc, i) => ({ file, obj: record(doc, `${repoPath(file)} document ${i + 1}`) })));
  return {
    dockerfiles,
    compose,
    k8sFiles,
    k8sObjects,
    composeProcs: composeProcesses(DEPLOY.compose, compose, imageOf),
    k8sProcs: manifests.flatMap((file) => k8sProcesses(file, k8sObjects.filter((o) => o.file === file).map((o) => o.obj), imageOf)),
  };
}

/** The last stage of a Dockerfile: the image that runs. */
export function runtimeStage(dockerfiles: ReadonlyMap<string, DockerStage[]>, file: string): DockerStage {
  const stages = dockerfiles.get(file);
  if (!stages || stages.length === 0) throw new Error(`${repoPath(file)}: no stage`);
  return stages[stages.length - 1];
}

/** The words of a stage's last ENTRYPOINT or CMD (exec form), or none. */
export function lastExecForm(stage: DockerStage, keyword: string): string[] {
  const found = instructionsOf(stage, keyword);
  return found.length === 0 ? [] : execForm(found[found.length - 1]);
}

/** The Kubernetes objects of a kind. */
export function objectsOfKind(d: Deployment, kind: string): Record<string, unknown>[] {
  return d.k8sObjects.filter(({ obj }) => obj.kind === kind).map(({ obj }) => obj);
}

/** A Kubernetes object's metadata.name. */
export function nameOf(obj: Record<string, unknown>): string {
  return text(record(obj.metadata, 'metadata').name, 'metadata.name');
}
