import { describe, expect, it } from 'vitest';
import type { IntegrationMethod, NeuronModel } from '../src/ir/types.js';
import { compileFiles } from '../src/pipeline.js';
import { simulateNeuron64 } from '../src/integrate/evaluate-ir.js';

/**
 * Convergence orders measured by halving dt on smooth problems. With x(dt) the state at a
 * fixed time T, the order is log2(|x(dt) - x(dt/2)| / |x(dt/2) - x(dt/4)|), which needs no
 * reference solution. The input current is constant: a current that changes within a step
 * is frozen at t_n (language.md "One step"), which would cap every method at order 1.
 */

const program = compileFiles(['stdlib/neurons.spk']).program!;
const neuron = (name: string): NeuronModel => program.models.get(name) as NeuronModel;

/** HH rates in mV and ms (brainpy-semantics.md §5.7), for gates at their steady state. */
function hhSteadyGates(V: number): { m: number; h: number; n: number } {
  const am = (0.1 * (V + 40)) / (1 - Math.exp(-(V + 40) / 10));
  const bm = 4 * Math.exp(-(V + 65) / 18);
  const ah = 0.07 * Math.exp(-(V + 65) / 20);
  const bh = 1 / (1 + Math.exp(-(V + 35) / 10));
  const an = (0.01 * (V + 55)) / (1 - Math.exp(-(V + 55) / 10));
  const bn = 0.125 * Math.exp(-(V + 65) / 80);
  return { m: am / (am + bm), h: ah / (ah + bh), n: an / (an + bn) };
}

interface Problem {
  readonly model: NeuronModel;
  readonly duration: number;
  /** Internal units: HH's uA/cm^2 is 1e-5 nA/um^2; the IF models' nA is 1. */
  readonly current: number;
  readonly initial: Readonly<Record<string, number>>;
}

const PROBLEMS: Readonly<Record<string, Problem>> = {
  // HH released from V = -68 mV with the gates at rest (-65 mV), 1 uA/cm^2: no spike.
  HH: {
    model: neuron('HH'),
    duration: 5,
    current: 1e-5,
    initial: { V: -68, ...hhSteadyGates(-65) },
  },
  // ExpIF from rest towards its sub-threshold fixed point (about -63.07 mV at 1 nA).
  ExpIF: { model: neuron('ExpIF'), duration: 20, current: 1, initial: { V: -65 } },
  // AdEx, the same with adaptation: a coupled system below threshold.
  AdExIF: { model: neuron('AdExIF'), duration: 20, current: 1, initial: { V: -65, w: 0 } },
};

function measuredOrders(
  problem: Problem,
  method: IntegrationMethod,
  dts: readonly number[],
): number[] {
  const finals = dts.map((dt) => {
    const sim = simulateNeuron64(
      problem.model,
      {},
      {
        dt,
        steps: Math.round(problem.duration / dt),
        method,
        input: () => problem.current,
        initial: problem.initial,
      },
    );
    expect(sim.spikeSteps).toEqual([]);
    return sim.final['V']!;
  });
  const orders: number[] = [];
  for (let i = 0; i + 2 < finals.length; i++) {
    orders.push(
      Math.log2(Math.abs(finals[i]! - finals[i + 1]!) / Math.abs(finals[i + 1]! - finals[i + 2]!)),
    );
  }
  return orders;
}

const FIRST = [0.04, 0.02, 0.01, 0.005];
const IF_FIRST = [0.2, 0.1, 0.05, 0.025];

describe('convergence orders by halving dt', () => {
  const cases: readonly [string, IntegrationMethod, readonly number[], number][] = [
    ['HH', 'euler', FIRST, 1],
    ['HH', 'exp_euler', FIRST, 1],
    ['HH', 'rk2', FIRST, 2],
    ['HH', 'rk4', [0.1, 0.05, 0.025, 0.0125], 4],
    ['ExpIF', 'euler', IF_FIRST, 1],
    // exp_euler on a scalar autonomous equation is the exponential Rosenbrock-Euler method
    // (J is the exact Jacobian at x_n), which is second order; on systems (HH, AdEx) the
    // frozen couplings make it first order.
    ['ExpIF', 'exp_euler', IF_FIRST, 2],
    ['ExpIF', 'rk2', IF_FIRST, 2],
    ['ExpIF', 'rk4', [0.8, 0.4, 0.2, 0.1], 4],
    ['AdExIF', 'euler', IF_FIRST, 1],
    ['AdExIF', 'exp_euler', IF_FIRST, 1],
    ['AdExIF', 'rk2', IF_FIRST, 2],
    ['AdExIF', 'rk4', [0.8, 0.4, 0.2, 0.1], 4],
  ];
  for (const [name, method, dts, order] of cases) {
    it(`${name} with ${method}: order ${order}`, () => {
      const orders = measuredOrders(PROBLEMS[name]!, method, dts);
      for (const p of orders) {
        expect(p).toBeGreaterThan(order - 0.25);
        expect(p).toBeLessThan(order + 0.35);
      }
    });
  }
});
