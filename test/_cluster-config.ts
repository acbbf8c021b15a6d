import { writeFileSync } from 'node:fs';
import type { ConfigOverlay } from '../src/shared/config';

/**
 * Writes the run config of a small, fast cluster test to `file`: 16x16 faces, tiny networks on
 * wasm, a global batch of 8, and short heartbeat bounds so failures show within seconds;
 * `over` gives other sections, or fields of the networks' and the cluster's. Returns `file`.
 */
export function writeClusterConfig(file: string, over: Omit<ConfigOverlay, 'data'>): string {
  const config: ConfigOverlay = {
    backend: 'wasm',
    data: { imageSize: 16, batchSize: 8 },
    ...over,
    generator: { layers: 4, baseFilters: 4, maxFilters: 8, kernelSize: 3, ...over.generator },
    discriminator: { layers: 2, baseFilters: 4, maxFilters: 8, kernelSize: 3, minibatchKernels: 4, minibatchDims: 2, ...over.discriminator },
    cluster: { heartbeatSeconds: 0.5, heartbeatTimeoutSeconds: 4, collectiveTimeoutSeconds: 60, rendezvousTimeoutSeconds: 120, ...over.cluster },
  };
  writeFileSync(file, JSON.stringify(config));
  return file;
}
