import { type Command, InvalidArgumentError, Option } from 'commander';
import { BACKENDS, type ConfigOverlay, type RunConfig, resolveConfig } from '../shared/config';

/** The flags every config-taking command shares, as commander parses them. */
export interface ConfigFlags {
  preset?: string;
  config?: string;
  set?: string[];
  steps?: number;
  batchSize?: number;
  seed?: number;
  backend?: RunConfig['backend'];
  /** `facefill coordinator --min-workers` (cluster.minWorkers). */
  minWorkers?: number;
}

/** Adds the shared run-config flags (preset, file, --set, and the common overrides) to a command. */
export function withConfigFlags(cmd: Command): Command {
  return cmd
    .option('--preset <name>', 'configuration preset (see `facefill presets`)')
    .option('--config <file>', 'JSON config file holding a partial run config')
    .option('--set <section.field=value>', 'override one config field (repeatable)', collect, [])
    .option('--steps <n>', 'training steps (train.steps)', toInt)
    .option('--batch-size <n>', 'global batch size (data.batchSize)', toInt)
    .option('--seed <n>', 'seed for data order, masks and labels (train.seed)', toInt)
    .addOption(new Option('--backend <name>', 'tensor backend').choices(['auto', ...BACKENDS]));
}

/** Resolves the validated run config from the shared flags. */
export function configFromFlags(flags: ConfigFlags): RunConfig {
  const overrides: ConfigOverlay = {};
  if (flags.steps !== undefined || flags.seed !== undefined) overrides.train = { steps: flags.steps, seed: flags.seed };
  if (flags.batchSize !== undefined) overrides.data = { batchSize: flags.batchSize };
  if (flags.backend !== undefined) overrides.backend = flags.backend;
  if (flags.minWorkers !== undefined) overrides.cluster = { minWorkers: flags.minWorkers };
  return resolveConfig({ preset: flags.preset, file: flags.config, set: flags.set, overrides: dropUndefined(overrides) });
}

function dropUndefined(overlay: ConfigOverlay): ConfigOverlay {
  return JSON.parse(JSON.stringify(overlay)) as ConfigOverlay;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** Parses a whole-number flag, rejecting anything else with the flag's value in the message. */
export function toInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n)) throw new InvalidArgumentError(`expected a whole number, got '${value}'`);
  return n;
}

/** Parses a comma-separated list of whole numbers. */
export function toIntList(value: string): number[] {
  return value.split(',').map((part) => toInt(part.trim()));
}
