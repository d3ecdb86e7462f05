/**
 * Benchmark: how the front end (`spikeforge check`: parse, lower, check units, instantiate,
 * and the routing checks after them) scales with the size of a file. Generated files of
 * 10k to 100k declarations of one kind each:
 *
 *   parameters   neuron Big { parameters { p0 = 1 mV ... } } and a population of it
 *   states       a state and its equation per declaration
 *   overrides    parameters without defaults, each given in the population's block
 *   recordings   a population, a projection and two record lines per declaration
 *
 *     npx tsx bench/check-scaling.bench.ts [--sizes 10000,20000,50000,100000]
 *
 * Prints milliseconds per size and microseconds per declaration, which stay about the same
 * when the front end is linear (they grew with the size before lookups by name went through
 * maps: 100k parameters took 31 s). Target: at the largest size, at most 2.5 times the time
 * per declaration of the smallest, and 100k parameters under 10 s.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { planProblems } from '../src/codegen/module.js';
import { PACKAGE_ROOT } from '../src/package-root.js';
import { compileFiles } from '../src/pipeline.js';

const SHAPES: Readonly<Record<string, (n: number) => string>> = {
  parameters: (n) => `neuron Big {
  parameters {
${lines(n, (i) => `p${i} = 1 mV`)}
  }
  state { V = 0 mV }
  equations { dV/dt = -V / (10 ms) }
}
network Net { dt = 0.1 ms  duration = 1 ms  population P = Big(10)  record P.V }`,
  states: (n) => `neuron Big {
  parameters { tau = 10 ms }
  state {
${lines(n, (i) => `s${i} = 1 mV`)}
  }
  equations {
${lines(n, (i) => `ds${i}/dt = -s${i} / tau`)}
  }
}
network Net { dt = 0.1 ms  duration = 1 ms  population P = Big(1) }`,
  overrides: (n) => `neuron Big {
  parameters {
${lines(n, (i) => `p${i} : mV`)}
  }
  state { V = 0 mV }
  equations { dV/dt = -V / (10 ms) }
}
network Net {
  dt = 0.1 ms  duration = 1 ms
  population P = Big(1) {
${lines(n, (i) => `p${i} = 2 mV`)}
  }
}`,
  recordings: (n) => `import "stdlib/synapses.spk"
neuron Big {
  state { V = 0 mV }
  equations { dV/dt = -V / (10 ms) }
  spike when V > 1 mV
  reset { V = 0 mV }
}
network Net {
  dt = 0.1 ms  duration = 1 ms
${lines(n, (i) => `population P${i} = Big(1)   record P${i}.V   record P${i}.spikes\n  projection C${i} = P${i} -> P${i} { connect one_to_one  weight 1 mV  synapse Delta }`)}
}`,
};

const GENERATED = join(PACKAGE_ROOT, 'generated.spk');

function lines(n: number, line: (i: number) => string): string {
  return Array.from({ length: n }, (_, i) => `  ${line(i)}`).join('\n');
}

/** Milliseconds for `check` of `text`, which must have no errors. */
function check(text: string): number {
  const start = performance.now();
  // The generated file is not on disk; its imports (the stdlib) are.
  const result = compileFiles(
    [GENERATED],
    (path) => (path === GENERATED ? text : readFileSync(path, 'utf8')),
    existsSync,
  );
  if (result.program === undefined)
    throw new Error(result.diagnostics.items.map((d) => d.message).join('\n'));
  const problems = planProblems(result.program);
  if (problems.length > 0) throw new Error(problems.map((d) => d.message).join('\n'));
  return performance.now() - start;
}

const sizesArg = process.argv.indexOf('--sizes');
const sizes =
  sizesArg >= 0
    ? (process.argv[sizesArg + 1] ?? '').split(',').map(Number)
    : [10_000, 20_000, 50_000, 100_000];

let ok = true;
for (const [shape, generate] of Object.entries(SHAPES)) {
  const perDeclaration: number[] = [];
  const row: string[] = [];
  for (const n of sizes) {
    const ms = check(generate(n));
    perDeclaration.push((ms * 1000) / n);
    row.push(`${n}: ${ms.toFixed(0)} ms (${((ms * 1000) / n).toFixed(1)} us each)`);
    if (shape === 'parameters' && n === 100_000 && ms > 10_000) ok = false;
  }
  const growth = perDeclaration[perDeclaration.length - 1]! / perDeclaration[0]!;
  if (growth > 2.5) ok = false;
  console.log(`${shape.padEnd(10)} ${row.join('   ')}   growth x${growth.toFixed(2)}`);
}
process.exitCode = ok ? 0 : 1;
