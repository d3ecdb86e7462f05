/**
 * Benchmark: deriving the one-step update (src/integrate/derive.ts) of every neuron and
 * synapse model of the standard library. Target: under 100 ms.
 *
 *     npx tsx bench/derive.bench.ts
 *
 * "cold" is the first derivation in a fresh process (the symbolic engine's intern table and
 * simplification caches start empty); "warm" is the median of later repetitions, which
 * reuse those caches. Compiling the .spk files is not counted.
 */

import { compileFiles } from '../src/pipeline.js';
import { deriveUpdate } from '../src/integrate/derive.js';
import type { NeuronModel, SynapseModel } from '../src/ir/types.js';

const compiled = compileFiles(['stdlib/neurons.spk', 'stdlib/synapses.spk']);
if (compiled.program === undefined) throw new Error('the stdlib does not compile');
const models = [...compiled.program.models.values()].filter(
  (m): m is NeuronModel | SynapseModel => m.kind !== 'output',
);

function deriveAll(): number {
  const start = performance.now();
  for (const m of models) {
    const r = deriveUpdate(m);
    if (r.kind === 'error')
      throw new Error(`${m.name}: ${r.diagnostics.map((d) => d.message).join('; ')}`);
  }
  return performance.now() - start;
}

const cold = deriveAll();
const warm: number[] = [];
for (let i = 0; i < 20; i++) warm.push(deriveAll());
warm.sort((a, b) => a - b);
const median = warm[Math.floor(warm.length / 2)]!;
console.log(
  `derive the stdlib (${models.length} models, exp_euler): cold ${cold.toFixed(1)} ms, warm median ${median.toFixed(2)} ms (target < 100 ms)`,
);

// The other methods, for comparison (cold for each method's own expressions).
for (const method of ['euler', 'rk2', 'rk4'] as const) {
  const start = performance.now();
  for (const m of models) deriveUpdate(m, { method });
  console.log(`  method ${method}: ${(performance.now() - start).toFixed(1)} ms`);
}
process.exitCode = cold < 100 ? 0 : 1;
