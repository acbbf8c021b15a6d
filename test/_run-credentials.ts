import { join } from 'node:path';
import { runCredentials } from '../src/commands/credentials';
import { clientSecurityFromJoin } from '../src/shared/control/channel-security';
import { ControlClient } from '../src/shared/control/client';
import { createLogger } from '../src/shared/log';
import { JOIN_FILE, readJoinFile } from '../src/shared/security/join-file';

/** A run's credentials made ahead of its coordinator, as `facefill credentials` makes them. */
export interface RunCredentials {
  /** The folder: the coordinator finds it at `<out>/credentials` when made there. */
  dir: string;
  /** The workers' join file. */
  joinFile: string;
  /** A client of the coordinator that holds the run token (a user's `status`/`pull`). */
  client: () => Promise<ControlClient>;
}

/** Makes the credentials of a coordinator reached at `address` in `dir` (default: `<out>/credentials`, where the coordinator looks). */
export async function makeRunCredentials(out: string, address: string, dir = join(out, 'credentials')): Promise<RunCredentials> {
  await runCredentials({ out: dir, address, san: [], log: createLogger('test', 'silent') });
  const joinFile = join(dir, JOIN_FILE);
  return {
    dir,
    joinFile,
    client: async () => {
      const info = await readJoinFile(joinFile);
      return new ControlClient(info.address, clientSecurityFromJoin(info));
    },
  };
}
