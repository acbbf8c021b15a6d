import { allreduceBench } from './allreduce.bench';
import { type Bench, formatTable } from './_table';
import { orchestratedBench } from './orchestrated.bench';
import { trainStepBench } from './train-step.bench';
import { wasmKernelsBench } from './wasm-kernels.bench';

const BENCHES: Bench[] = [wasmKernelsBench, trainStepBench, allreduceBench, orchestratedBench];

// `npm run bench [name...]`: runs all benchmarks, or those named, printing a table each.
async function main(): Promise<void> {
  const wanted = process.argv.slice(2);
  const unknown = wanted.filter((w) => !BENCHES.some((b) => b.name === w));
  if (unknown.length) throw new Error(`unknown benchmark ${unknown.join(', ')}; have ${BENCHES.map((b) => b.name).join(', ')}`);
  for (const bench of BENCHES.filter((b) => wanted.length === 0 || wanted.includes(b.name))) {
    console.log(`${formatTable(await bench.run())}\n`);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
