import { mkdir } from 'node:fs/promises';
import { selectBackend } from '../shared/backend/select';
import { ControlClient } from '../shared/control/client';
import { writeFilePieces } from '../shared/control/file-transfer';
import type { Logger } from '../shared/log';
import { sealKey, verifyCheckpointSeal } from '../shared/security/checkpoint-seal';
import { loadGeneratorForInference } from '../shared/train/checkpoint';
import { ensureFreeSpace } from '../shared/util/disk-space';
import type { CoordinatorLink } from './control-security';

/** What `facefill pull` needs. */
export interface PullOptions {
  link: CoordinatorLink;
  out: string;
  /** 0 for the latest merged checkpoint. */
  step: number;
  timeoutMs: number;
  log: Logger;
}

/**
 * Downloads a merged checkpoint into `out`: every file checked against the sha256 the
 * coordinator sent as it arrives, meta.json last (so an interrupted pull never looks like a
 * checkpoint), its seal checked with the run's key (a file swapped on the coordinator's disk
 * after the merge is found out), then the whole checkpoint verified against meta.json by loading its generator.
 * `facefill restore --checkpoint <out>` uses it as is. Resolves with the checkpoint's step.
 */
export async function runPull(o: PullOptions): Promise<number> {
  // Verifying the checkpoint loads its generator, which needs a tensor backend.
  await selectBackend('auto', o.log.child({}, { level: 'warn' }));
  const { address, security } = o.link;
  const client = new ControlClient(address, security);
  try {
    await mkdir(o.out, { recursive: true });
    // The checkpoint's size is not known before it arrives: at least leave the margin free.
    await ensureFreeSpace(o.out, 0, `the pull into ${o.out}`);
    const files = await writeFilePieces(o.out, client.downloadCheckpoint(o.step, o.timeoutMs));
    if (security.kind === 'tls') await verifyCheckpointSeal(o.out, sealKey(security.token));
    else o.log.warn('--insecure: the checkpoint\'s seal is not checked (there is no run key)');
    const checkpoint = await loadGeneratorForInference(o.out);
    checkpoint.generator.dispose();
    const bytes = files.reduce((n, f) => n + f.bytes, 0);
    o.log.info({ out: o.out, files: files.length, bytes }, `pulled the checkpoint of step ${checkpoint.step} into ${o.out}`);
    return checkpoint.step;
  } finally {
    client.close();
  }
}
