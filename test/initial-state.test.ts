/**
 * Initial values that use other states: an expression (`W = 2 * V`) or a distribution whose
 * arguments do (`W ~ normal(V, 1 mV)`, as Brian2 assigns `G.w = 'v + ...'`), element by
 * element, after the states they use. (Cycles are refused when a model is checked.)
 */
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildPlan } from '../src/codegen/module.js';
import { compileFiles } from '../src/pipeline.js';
import { initialStates } from '../src/runtime/initial-state.js';

function network(states: string, extra = '') {
  const source = `import "stdlib/synapses.spk"
neuron A {
  parameters { tau = 10 ms }
  state { ${states} }
  current I : nA
  equations { dV/dt = (-V + 1 Mohm * I) / tau   dW/dt = -W / tau }
}
synapse Plastic {
  parameters { tau = 5 ms }
  state { g : weight = 0   x = 0.5   s ~ uniform(0, x) }
  equations { dg/dt = -g / tau }
  on_pre { g += w * s   x = clip(x + 0.1, 0, 1) }
  delivers g
}
network Net {
  dt = 0.1 ms
  duration = 1 ms
  seed = 3
  population N = A(500)
  ${extra}
}`;
  const compiled = compileFiles(
    ['init.spk'],
    (p) => (p.endsWith('init.spk') ? source : readFileSync(p, 'utf8')),
    (p) => p.endsWith('init.spk') || existsSync(p),
  );
  expect(compiled.diagnostics.items.map((d) => d.message)).toEqual([]);
  return compiled.program!.networks.get('Net')!;
}

describe('initial values that use other states', () => {
  it('a distribution with a state in its arguments is drawn element by element', () => {
    const net = network('V ~ uniform(-70 mV, -60 mV)   W ~ normal(V, 0 mV)');
    const values = initialStates(net, net.populations[0]!, { states: ['V', 'W'] });
    const v = values.get('V')!;
    expect(new Set(v).size).toBe(500);
    expect(Array.from(values.get('W')!)).toEqual(Array.from(v));

    const spread = network('V ~ uniform(-70 mV, -60 mV)   W ~ uniform(V, V + 2 mV)');
    const s = initialStates(spread, spread.populations[0]!, { states: ['V', 'W'] });
    const d = Array.from(s.get('W')!, (w, i) => w - s.get('V')![i]!);
    expect(Math.min(...d)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...d)).toBeLessThan(2);
    expect(Math.max(...d) - Math.min(...d)).toBeGreaterThan(1.9);
  });

  it('a state declared after the one that uses it is drawn first', () => {
    const net = network('W = 2 * V   V ~ uniform(-70 mV, -60 mV)');
    const values = initialStates(net, net.populations[0]!, { states: ['V', 'W'] });
    expect(Array.from(values.get('W')!)).toEqual(Array.from(values.get('V')!, (v) => 2 * v));
  });

  it('i in a population initial value is the neuron index, as in Brian2', () => {
    const net = network(
      'V = 0 mV   W = 0 mV',
      'population Q = A(6) { V = -70 mV + i * 2 mV   W ~ normal(-60 mV + i * 3 mV, 0 mV) }',
    );
    const values = initialStates(net, net.populations[1]!, { states: ['V', 'W'] });
    expect(Array.from(values.get('V')!)).toEqual([-70, -68, -66, -64, -62, -60]);
    expect(Array.from(values.get('W')!)).toEqual([-60, -57, -54, -51, -48, -45]);
  });

  it('a population value may hold draws (Brian2 v = E_L + rand() * mV): the k-th draw is purpose k of the stream of ~', () => {
    const values = (overrides: string): Map<string, Float64Array> => {
      const net = network('V = 0 mV   W = 0 mV', `population Q = A(2000) { ${overrides} }`);
      return initialStates(net, net.populations[1]!, { states: ['V', 'W'] });
    };
    // One draw alone, written with = or with ~: the same numbers.
    const tilde = values('V ~ normal(-60 mV, 2 mV)   W ~ uniform(0 mV, 5 mV)');
    const equals = values('V = normal(-60 mV, 2 mV)   W = uniform(0 mV, 5 mV)');
    expect(Array.from(equals.get('V')!)).toEqual(Array.from(tilde.get('V')!));
    expect(Array.from(equals.get('W')!)).toEqual(Array.from(tilde.get('W')!));
    // An expression around a draw: the draw of W ~ uniform(0 mV, 5 mV), shifted per neuron.
    const shifted = values('W = -70 mV + i * 0.001 mV + uniform(0 mV, 5 mV)').get('W')!;
    const u = tilde.get('W')!;
    shifted.forEach((w, i) => expect(w).toBeCloseTo(-70 + i * 0.001 + u[i]!, 12));
    // Two draws in one value are independent (purposes 0 and 1): the variance adds up.
    const sum = values('V = normal(0 mV, 1 mV) + normal(0 mV, 1 mV)').get('V')!;
    const mean = sum.reduce((a, b) => a + b, 0) / sum.length;
    const variance = sum.reduce((a, b) => a + (b - mean) ** 2, 0) / (sum.length - 1);
    // 2000 samples: the sample variance of N(0, 2) has sd 2 * sqrt(2 / 1999), about 0.063.
    expect(Math.abs(variance - 2)).toBeLessThan(0.32);
    expect(Math.abs(mean)).toBeLessThan(5 * Math.sqrt(2 / 2000));
  });

  it('a synapse state drawn from a distribution of another synapse state (a fuzz find)', () => {
    const net = network(
      'V = 0 mV   W = 0 mV',
      `population X = Poisson(10, rate = 10 Hz)
  projection P = X -> N {
    connect all_to_all
    weight 1 nA
    synapse Plastic
    output CUBA
  }`,
    );
    expect(() => buildPlan(net, 1)).not.toThrow();
  });
});
