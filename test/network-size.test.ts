/**
 * Networks too large to plan are refused before anything is allocated (src/codegen/network-size.ts):
 * the size counted from the network's text, the machine's memory against it, and allocation
 * failures that still happen rendered as errors, not as bugs.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { memoryShortage } from '../src/cli/main.js';
import { buildPlan } from '../src/codegen/module.js';
import { networkSize, networkSizeProblems } from '../src/codegen/network-size.js';
import { DiagnosticError } from '../src/diagnostics/diagnostic.js';
import type { Network } from '../src/ir/types.js';
import { compileFiles } from '../src/pipeline.js';

const ROOT = join(import.meta.dirname, '..');

function network(body: string): Network {
  const entry = join(ROOT, 'test', 'network-size.spk');
  const text = `import "stdlib/neurons.spk"\nimport "stdlib/synapses.spk"\n${body}`;
  const result = compileFiles([entry], (p) => (p === entry ? text : readFileSync(p, 'utf8')));
  expect(result.diagnostics.items.map((d) => d.message)).toEqual([]);
  return [...result.program!.networks.values()][0]!;
}

const TWO_POPULATIONS = network(`
network Pair {
  population E = HH(1000000)
  population P = Poisson(5000, rate = 5 Hz)
  projection S = P -> E {
    connect fixed_in_degree(100)
    weight 0.1 uA/cm^2
    synapse Expon(tau = 5 ms)
    output CUBA
  }
}`);

describe('networkSize', () => {
  it('counts each neuron state in float64 and float32 and each stored synapse three times', () => {
    const size = networkSize(TWO_POPULATIONS);
    expect(size.stateWords).toBe(4_000_000);
    // 10^6 x 4 states x 12 bytes, then 10^8 synapses x 12 bytes; Poisson sources have no state.
    expect(size.hostBytes).toBe(48e6 + 1.2e9);
    expect(size.parts()).toEqual([
      'S: 100,000,000 stored synapses',
      'E: 1,000,000 neurons x 4 state variables',
    ]);
  });
});

describe('networkSize of refractory neurons', () => {
  it('counts the refractory counter as a state (2e9 LifRef neurons ran out of memory unrefused)', () => {
    const size = networkSize(network('network Ref {\n  population N = LifRef(1000)\n}'));
    expect(size.stateWords).toBe(2000);
    expect(size.hostBytes).toBe(2000 * 12);
    expect(size.parts()).toEqual(['N: 1,000 neurons x 2 state variables']);
  });
});

describe('networkSizeProblems', () => {
  it('refuses a network that needs more memory than the machine has, naming the largest parts', () => {
    const [problem, ...others] = networkSizeProblems(TWO_POPULATIONS, 2 ** 30);
    expect(others).toEqual([]);
    expect(problem!.message).toBe(
      "network Pair needs at least 1.2 GiB of memory, more than this machine's 1.0 GiB",
    );
    expect(problem!.notes).toEqual([
      'the largest parts: S: 100,000,000 stored synapses; E: 1,000,000 neurons x 4 state variables',
    ]);
    expect(networkSizeProblems(TWO_POPULATIONS, 2 ** 31)).toEqual([]);
    // Without a machine (`check`) memory is not asked about.
    expect(networkSizeProblems(TWO_POPULATIONS)).toEqual([]);
  });

  it('buildPlan refuses a state buffer past 32-bit indices before allocating it', () => {
    const huge = network('network Huge {\n  population N = HH(2147483647)\n}');
    expect(networkSize(huge).stateWords).toBe(4 * 2147483647);
    // 8.6e9 words: buildPlan would need 100 GB for the initial values; it throws at once.
    expect(() => buildPlan(huge, 1)).toThrow(DiagnosticError);
    expect(() => buildPlan(huge, 1)).toThrow(/state would need at least 8,589,934,588 words/);
  });
});

describe('memoryShortage', () => {
  it('reads a failed allocation and an array past 2^32 elements as a network too large for the machine', () => {
    const failure = (make: () => unknown): unknown => {
      try {
        make();
      } catch (error) {
        return error;
      }
      throw new Error('expected the allocation to fail');
    };
    expect(memoryShortage(failure(() => new ArrayBuffer(2 ** 50)))).toBe(
      'the network is too large for the memory of this machine (Array buffer allocation failed)',
    );
    expect(memoryShortage(failure(() => new Float64Array(2 ** 33)))).toMatch(
      /too large for the memory of this machine \(Invalid typed array length: 8589934592\)/,
    );
    // A negative length is a bug, not a shortage.
    expect(memoryShortage(failure(() => new Float64Array(-1)))).toBeUndefined();
    expect(memoryShortage(new Error('Array buffer allocation failed'))).toBeUndefined();
  });
});
