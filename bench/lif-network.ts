/**
 * The benchmark network: one LifRef population driven by a constant current, spikes
 * recorded. The text is compiled from memory (as if it were bench/lif-bench.spk), its
 * stdlib import from disk.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Network } from '../src/ir/types.js';
import { compileFiles } from '../src/pipeline.js';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The path the in-memory network text pretends to have (imports resolve beside it, then in the package). */
export const BENCH_FILE = join(ROOT, 'bench', 'lif-bench.spk');
export const BENCH_NETWORK = 'LifBench';
export const BENCH_POPULATION = 'N';

/**
 * 20 nA puts V_inf 20 mV above V_rest (10 mV above threshold): about 100 Hz with
 * tau_ref = 2 ms, so about 1% of the neurons spike in each step. Initial V is spread
 * uniformly between reset and threshold, so the spikes are spread over the steps rather
 * than arriving in synchronous volleys. (b) varies `current` in the last digits so that
 * every repetition's kernel differs (a constant folded into it) and no shader cache answers.
 */
export function lifBenchSpk(neurons: number, seed = 1, current = '20'): string {
  return `import "stdlib/neurons.spk"

network ${BENCH_NETWORK} {
  dt = 0.1 ms
  duration = 100 ms
  seed = ${seed}

  population ${BENCH_POPULATION} = LifRef(${neurons}) {
    tau_ref = 2 ms
    V ~ uniform(-68 mV, -55 mV)
  }
  stimulus ${BENCH_POPULATION}.I = ${current} nA
  record ${BENCH_POPULATION}.spikes
}
`;
}

/** compileFiles on the in-memory text; throws with the diagnostics if it does not compile. */
export function compileBenchNetwork(text: string): Network {
  const result = compileFiles(
    [BENCH_FILE],
    (path) => (path === BENCH_FILE ? text : readFileSync(path, 'utf8')),
    (path) => path === BENCH_FILE || existsSync(path),
  );
  const network = result.program?.networks.get(BENCH_NETWORK);
  if (network === undefined)
    throw new Error(
      `the benchmark network does not compile: ${result.diagnostics.items.map((d) => d.message).join('; ')}`,
    );
  return network;
}
