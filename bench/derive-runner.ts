/**
 * (c) The derive benchmark. bench/derive.bench.ts (kept by whoever owns src/integrate) is
 * run as it is, in a fresh node process so that its "cold" number is cold, and its output
 * is kept; the numbers are read from its summary line when it has the expected shape.
 * Without that file, deriving every stdlib neuron and synapse model is measured here.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { deriveUpdate } from '../src/integrate/derive.js';
import type { NeuronModel, SynapseModel } from '../src/ir/types.js';
import { compileFiles } from '../src/pipeline.js';
import { ROOT } from './lif-network.js';

export interface DeriveResult {
  /** What was run: the benchmark file, or this module's own measurement. */
  readonly source: string;
  readonly models: number | undefined;
  readonly coldMs: number | undefined;
  readonly warmMedianMs: number | undefined;
  /** The benchmark's own verdict (its exit code), when it was run. */
  readonly exitCode: number | null | undefined;
  readonly output: string;
  readonly notes: readonly string[];
}

const DERIVE_BENCH = join(ROOT, 'bench', 'derive.bench.ts');

function runDeriveBench(timeoutSeconds: number): DeriveResult {
  const run = spawnSync(process.execPath, ['--import', 'tsx', DERIVE_BENCH], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: timeoutSeconds * 1000,
  });
  const output = `${run.stdout ?? ''}${run.stderr ?? ''}`.trim();
  const notes: string[] = [];
  if (run.error !== undefined)
    notes.push(`bench/derive.bench.ts did not finish: ${run.error.message}`);
  // "derive the stdlib (18 models, exp_euler): cold 61.2 ms, warm median 3.10 ms (target < 100 ms)"
  const summary = /\((\d+) models[^)]*\): cold ([\d.]+) ms, warm median ([\d.]+) ms/.exec(output);
  if (summary === null)
    notes.push('the summary line of bench/derive.bench.ts was not recognized; see output');
  return {
    source: 'bench/derive.bench.ts',
    models: summary === null ? undefined : Number(summary[1]),
    coldMs: summary === null ? undefined : Number(summary[2]),
    warmMedianMs: summary === null ? undefined : Number(summary[3]),
    exitCode: run.status,
    output,
    notes,
  };
}

/** Fallback: every stdlib neuron and synapse model, in this process (cold only if nothing derived before). */
function measureStdlib(): DeriveResult {
  const compiled = compileFiles([
    join(ROOT, 'stdlib', 'neurons.spk'),
    join(ROOT, 'stdlib', 'synapses.spk'),
  ]);
  if (compiled.program === undefined) throw new Error('the stdlib does not compile');
  const models = [...compiled.program.models.values()].filter(
    (m): m is NeuronModel | SynapseModel => m.kind !== 'output',
  );
  const once = (): number => {
    const start = performance.now();
    for (const m of models) {
      const r = deriveUpdate(m);
      if (r.kind === 'error')
        throw new Error(`${m.name}: ${r.diagnostics.map((d) => d.message).join('; ')}`);
    }
    return performance.now() - start;
  };
  const cold = once();
  const warm = Array.from({ length: 20 }, once).sort((a, b) => a - b);
  return {
    source: 'bench/derive-runner.ts (bench/derive.bench.ts not found)',
    models: models.length,
    coldMs: cold,
    warmMedianMs: warm[10],
    exitCode: undefined,
    output: '',
    notes: [
      'measured in the benchmark process: "cold" is only cold when nothing was derived before',
    ],
  };
}

export function deriveBenchmark(timeoutSeconds = 120): DeriveResult {
  return existsSync(DERIVE_BENCH) ? runDeriveBench(timeoutSeconds) : measureStdlib();
}
