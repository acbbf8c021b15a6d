#!/usr/bin/env node
import { Command, Option } from 'commander';
import { type ConfigFlags, configFromFlags, toInt, withConfigFlags } from './commands/config-options';
import { runDemo } from './commands/demo';
import { runEval } from './commands/eval';
import { runIngest } from './commands/ingest';
import { formatPresetTable, listPresets } from './commands/presets';
import { runRestore } from './commands/restore';
import { runTrain } from './commands/train';
import { BACKENDS } from './shared/config';
import { SPLITS, type Split } from './shared/data/api';
import { parseSplitFractions } from './shared/data/split';
import { ConfigInvalidError, FacefillError } from './shared/errors';
import { formatEvalTable } from './shared/eval/evaluate';
import { createLogger } from './shared/log';

// Wiring only: parse flags, call the command modules, turn typed errors into exit codes.
const program = new Command('facefill')
  .description('Face occlusion-restoration GAN: ingest, train, restore, evaluate')
  .showHelpAfterError();

const backendOption = () => new Option('--backend <name>', 'tensor backend').choices(['auto', ...BACKENDS]).default('auto');
const showProgress = (flag: boolean) => flag && process.stderr.isTTY === true;

program
  .command('ingest')
  .description('build a dataset folder (grayscale shards + manifest) from UTKFace .tar.gz, a folder, or synthetic:N')
  .requiredOption('--source <spec>', 'UTKFace.tar.gz, a folder of images, or synthetic:N[:seed]')
  .requiredOption('--out <dir>', 'dataset folder to create')
  .option('--size <px>', 'image side, 16..128', toInt, 64)
  .option('--split <fractions>', 'train,val,test fractions', '0.8,0.1,0.1')
  .option('--no-progress', 'no progress bar')
  .action(async (o: { source: string; out: string; size: number; split: string; progress: boolean }) => {
    if (o.size < 16 || o.size > 128) throw new ConfigInvalidError(`--size ${o.size}: expected 16..128`);
    await runIngest({ ...o, split: parseSplitFractions(o.split), progress: showProgress(o.progress), log: createLogger('ingest') });
  });

withConfigFlags(
  program
    .command('train')
    .description('train on an ingested dataset (single process), writing checkpoints to <out>/checkpoints')
    .requiredOption('--data <dir>', 'ingested dataset folder')
    .requiredOption('--out <dir>', 'run folder')
    .option('--resume', 'continue from the run folder\'s latest checkpoint')
    .option('--no-progress', 'log lines instead of a progress bar'),
).action(async (o: ConfigFlags & { data: string; out: string; resume?: boolean; progress: boolean }) => {
  await runTrain({ config: configFromFlags(o), data: o.data, out: o.out, resume: o.resume === true, progress: showProgress(o.progress) });
});

program
  .command('restore')
  .description('fill the masked region of an image, or of every image in a folder')
  .requiredOption('--checkpoint <dir>', 'checkpoint folder or run folder (its latest checkpoint)')
  .requiredOption('--input <path>', 'image file or folder')
  .requiredOption('--mask <png|kind>', 'mask PNG (white = hole) or a kind: eyes, eyes-unconstrained, left, right, upper, lower, box, strokes')
  .requiredOption('--out <path>', 'output file (for a file) or folder (for a folder)')
  .option('--seed <n>', 'seed for random mask kinds', toInt, 0)
  .addOption(backendOption())
  .action(async (o: { checkpoint: string; input: string; mask: string; out: string; seed: number; backend: 'auto' }) => {
    const result = await runRestore({ ...o, log: createLogger('restore') });
    if (result.failed.length > 0) process.exitCode = 1;
  });

program
  .command('eval')
  .description('score a checkpoint against the mean-fill and mean-face baselines')
  .requiredOption('--checkpoint <dir>', 'checkpoint folder or run folder')
  .requiredOption('--data <dir>', 'ingested dataset folder')
  .addOption(new Option('--split <name>', 'split to evaluate').choices(SPLITS).default('test'))
  .option('--masks <list>', 'comma-separated mask kinds', 'eyes,lower,right')
  .option('--limit <n>', 'evaluate at most n images', toInt)
  .option('--seed <n>', 'mask seed', toInt, 0)
  .option('--grid <file>', 'write an occluded | restored | original PNG grid')
  .option('--json', 'print the report as JSON')
  .addOption(backendOption())
  .action(async (o: { checkpoint: string; data: string; split: Split; masks: string; limit?: number; seed: number; grid?: string; json?: boolean; backend: 'auto' }) => {
    const report = await runEval({ ...o, log: createLogger('eval') });
    console.log(o.json ? JSON.stringify(report, null, 2) : formatEvalTable(report));
  });

program
  .command('presets')
  .description('list the configuration presets and their settings')
  .option('--json', 'print the resolved configs as JSON')
  .action((o: { json?: boolean }) => {
    const rows = listPresets();
    console.log(o.json ? JSON.stringify(rows, null, 2) : formatPresetTable(rows));
  });

withConfigFlags(program.command('config').description('print the resolved, validated run config for a preset, file and flags')).action((o: ConfigFlags) => {
  console.log(JSON.stringify(configFromFlags(o), null, 2));
});

program
  .command('demo')
  .description('generate faces, train the default preset briefly, evaluate, and write restored samples (npm start)')
  .option('--out <dir>', 'demo folder', 'runs/demo')
  .option('--images <n>', 'generated faces', toInt, 2000)
  .option('--steps <n>', 'training steps', toInt, 200)
  .option('--batch-size <n>', 'batch size', toInt, 16)
  .option('--no-progress', 'log lines instead of progress bars')
  .action(async (o: { out: string; images: number; steps: number; batchSize: number; progress: boolean }) => {
    await runDemo({ ...o, progress: showProgress(o.progress), log: createLogger('demo') });
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof FacefillError) {
    console.error(`facefill: ${err.message}`);
    process.exitCode = 2;
  } else {
    console.error(err);
    process.exitCode = 1;
  }
});
