import { PRESETS, type RunConfig, resolveConfig } from '../shared/config';

/** One row of `facefill presets`: a preset's name, description and the settings it differs in. */
export interface PresetRow {
  name: string;
  description: string;
  config: RunConfig;
}

/** Resolves every preset into its full configuration. */
export function listPresets(): PresetRow[] {
  return Object.entries(PRESETS).map(([name, p]) => ({ name, description: p.description, config: resolveConfig({ preset: name }) }));
}

/** Formats the presets as a fixed-width table of the settings the research compared. */
export function formatPresetTable(rows: readonly PresetRow[]): string {
  const header = ['preset', 'lr G', 'lr D', 'G/D layers', 'bneck', 'skip', 'loss', 'G loss', 'soft', 'noisy', 'isolated', 'minibatch', 'px', 'batch', 'images', 'occlusion', 'steps'];
  const body = rows.map(({ name, config: c }) => [
    name,
    String(c.optimizer.lrG),
    String(c.optimizer.lrD),
    `${c.generator.layers}/${c.discriminator.layers}`,
    c.generator.bottleneck ? String(c.generator.bottleneck) : '-',
    yesNo(c.generator.skip),
    c.loss.mode,
    c.loss.generatorLoss,
    yesNo(c.loss.softLabels),
    yesNo(c.loss.noisyLabels),
    yesNo(c.loss.isolatedMinibatches),
    c.discriminator.minibatch,
    String(c.data.imageSize),
    String(c.data.batchSize),
    c.data.maxImages ? String(c.data.maxImages) : 'all',
    Object.keys(c.data.occlusion).join('+'),
    String(c.train.steps),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((cell, i) => cell.padEnd(widths[i])).join('  ').trimEnd();
  const notes = rows.map((r) => `  ${r.name.padEnd(widths[0])}  ${r.description}`);
  return [line(header), ...body.map(line), '', ...notes].join('\n');
}

const yesNo = (b: boolean): string => (b ? 'yes' : 'no');
