import { list, optionalRecord, record, text } from './_deploy-files';

/** A file as a container sees it: owner, group and permission bits. */
export interface FileOwnership {
  uid: number;
  gid: number;
  mode: number;
}

/** Who a container's process runs as: its user and every group it has. */
export interface ProcessIdentity {
  uid: number;
  gids: readonly number[];
}

/** The kubelet's default mode for Secret and ConfigMap files (0644). */
const DEFAULT_MODE = 0o644;

/**
 * The keys a Secret volume shows, as file paths in the volume → the Secret key behind each:
 * every key ('*' → '*') without `items`, else only the listed ones.
 */
export function projectedKeys(volume: Record<string, unknown>, where: string): Map<string, string> {
  const secret = record(volume.secret, `${where} secret`);
  if (secret.items === undefined) return new Map([['*', '*']]);
  return new Map(list(secret.items, `${where} items`).map((i) => {
    const item = record(i, `${where} item`);
    return [text(item.path, `${where} item path`), text(item.key, `${where} item key`)];
  }));
}

/**
 * A file of a Secret volume as the kubelet lays it out: owned by root, with the item's `mode`
 * or the volume's `defaultMode` (0644 by default); with a pod `fsGroup`, its group is fsGroup and
 * the kubelet adds group read to every file of a read-only volume (SetVolumeOwnership's 0440
 * mask, pkg/volume/volume_linux.go), so a 0400 file becomes 0440 root:fsGroup.
 */
export function secretFile(volume: Record<string, unknown>, path: string, podSecurityContext: Record<string, unknown> | undefined, where: string): FileOwnership {
  const secret = record(volume.secret, `${where} secret`);
  const item = list(secret.items, `${where} items`).map((i) => record(i, `${where} item`)).find((i) => i.path === path);
  const mode = Number(item?.mode ?? secret.defaultMode ?? DEFAULT_MODE);
  const fsGroup = podSecurityContext?.fsGroup;
  if (fsGroup === undefined) return { uid: 0, gid: 0, mode };
  return { uid: 0, gid: Number(fsGroup), mode: mode | 0o440 };
}

/**
 * The user and groups a container runs as: its securityContext's, else the pod's, with fsGroup
 * and supplementalGroups added. Throws without a runAsUser: the image names its user, which
 * runAsNonRoot cannot check and this cannot know.
 */
export function processIdentity(podSpec: Record<string, unknown>, container: Record<string, unknown>, where: string): ProcessIdentity {
  const podContext = optionalRecord(podSpec.securityContext, `${where} pod securityContext`) ?? {};
  const own = optionalRecord(container.securityContext, `${where} securityContext`) ?? {};
  if (own.runAsUser === undefined && podContext.runAsUser === undefined) throw new Error(`${where}: no runAsUser`);
  const uid = Number(own.runAsUser ?? podContext.runAsUser);
  const gid = own.runAsGroup ?? podContext.runAsGroup;
  const gids = [gid, podContext.fsGroup, ...list(podContext.supplementalGroups, `${where} supplementalGroups`)].filter((g) => g !== undefined).map(Number);
  return { uid, gids };
}

/** Whether a process may read a file, by the owner, group and other bits (root reads anything). */
export function canRead(file: FileOwnership, who: ProcessIdentity): boolean {
  if (who.uid === 0) return true;
  if (who.uid === file.uid) return (file.mode & 0o400) !== 0;
  if (who.gids.includes(file.gid)) return (file.mode & 0o040) !== 0;
  return (file.mode & 0o004) !== 0;
}
