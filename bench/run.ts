import { allreduceBench } from './allreduce.bench';
import { type Bench, type BenchOptions, formatTable } from './_table';
import { chaosBench } from './chaos.bench';
import { orchestratedBench } from './orchestrated.bench';
import { restoreBench } from './restore.bench';
import { scalingBench } from './scaling.bench';
import { trainStepBench } from './train-step.bench';
import { wasmKernelsBench } from './wasm-kernels.bench';

const BENCHES: Bench[] = [wasmKernelsBench, trainStepBench, restoreBench, allreduceBench, orchestratedBench, chaosBench, scalingBench];

/** The options' flags, each taking a whole number. */
const FLAGS = new Map<string, keyof BenchOptions>([
  ['--seed', 'seed'],
  ['--trial', 'trial'],
  ['--link-mbit', 'linkMbit'],
]);

// The options' flags among the arguments; the rest name benchmarks.
function parseArgs(argv: string[]): { wanted: string[]; options: BenchOptions } {
  const wanted: string[] = [];
  const options: BenchOptions = {};
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const key = FLAGS.get(flag);
    if (key === undefined) {
      wanted.push(flag);
      continue;
    }
    const value = Number(argv[++i]);
    if (!Number.isSafeInteger(value) || value < 0) throw new Error(`${flag} needs a whole number >= 0, got '${argv[i] ?? ''}'`);
    options[key] = value;
  }
  return { wanted, options };
}

// `npm run bench [name...] [--seed n] [--trial n] [--link-mbit n]`: runs all benchmarks (but those run only when named), or those named, printing a table each.
async function main(): Promise<void> {
  const { wanted, options } = parseArgs(process.argv.slice(2));
  const unknown = wanted.filter((w) => !BENCHES.some((b) => b.name === w));
  if (unknown.length) throw new Error(`unknown benchmark ${unknown.join(', ')}; have ${BENCHES.map((b) => b.name).join(', ')}`);
  for (const bench of BENCHES.filter((b) => (wanted.length === 0 ? !b.onlyWhenNamed : wanted.includes(b.name)))) {
    console.log(`${formatTable(await bench.run(options))}\n`);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
