import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { NeuronModel, SynapseModel } from '../src/ir/types.js';
import { compileFiles } from '../src/pipeline.js';
import { type DerivedUpdate, deriveUpdate } from '../src/integrate/derive.js';
import { compileUpdate64, evaluateUpdate } from '../src/integrate/evaluate-ir.js';

const SEED = 20240611;
const VIRTUAL = '/virtual/integrate-props.spk';

function compileText(text: string): Map<string, NeuronModel | SynapseModel> {
  const result = compileFiles(
    [VIRTUAL],
    (p) => (p === VIRTUAL ? text : readFileSync(p, 'utf8')),
    (p) => p === VIRTUAL || existsSync(p),
  );
  if (result.program === undefined)
    throw new Error(result.diagnostics.items.map((d) => d.message).join('\n'));
  const models = new Map<string, NeuronModel | SynapseModel>();
  for (const [name, m] of result.program.models) if (m.kind !== 'output') models.set(name, m);
  return models;
}

function derived(model: NeuronModel | SynapseModel, method?: 'exact'): DerivedUpdate {
  const r = deriveUpdate(model, method === undefined ? {} : { method });
  if (r.kind === 'error') throw new Error(r.diagnostics.map((d) => d.message).join('\n'));
  return r;
}

const MODELS = compileText(`
import "stdlib/synapses.spk"

neuron Linear {
  parameters { a = -1 /ms   b = 1 /ms }
  state { x = 0 }
  equations { dx/dt = a * x + b }
}

synapse Triangular {
  parameters {
    a11 = -1 /ms   a22 = -2 /ms   a33 = -3 /ms
    a21 = 1 /ms    a31 = 1 /ms    a32 = 1 /ms
    b1 = 0 /ms     b2 = 0 /ms     b3 = 0 /ms
  }
  state { x1 = 0   x2 = 0   x3 = 0 }
  equations {
    dx1/dt = a11 * x1 + b1
    dx2/dt = a21 * x1 + a22 * x2 + b2
    dx3/dt = a31 * x1 + a32 * x2 + a33 * x3 + b3
  }
  method exact
  delivers x1
}
`);
const model = (name: string): NeuronModel | SynapseModel => MODELS.get(name)!;

/** Float64 e^M by scaling and squaring with a degree-24 Taylor polynomial (small matrices). */
function expm(m: number[][]): number[][] {
  const n = m.length;
  const norm = Math.max(...m.map((row) => row.reduce((s, v) => s + Math.abs(v), 0)));
  const squarings = Math.max(0, Math.ceil(Math.log2(norm + 1e-300)) + 2);
  const scale = 2 ** -squarings;
  const a = m.map((row) => row.map((v) => v * scale));
  const mulM = (x: number[][], y: number[][]): number[][] =>
    x.map((row, i) => y[0]!.map((_, j) => row.reduce((s, v, k) => s + v * y[k]![j]!, 0) + 0 * i));
  const identity = (): number[][] =>
    Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? 1 : 0)));
  let result = identity();
  let term = identity();
  for (let k = 1; k <= 24; k++) {
    term = mulM(term, a).map((row) => row.map((v) => v / k));
    result = result.map((row, i) => row.map((v, j) => v + term[i]![j]!));
  }
  for (let s = 0; s < squarings; s++) result = mulM(result, result);
  return result;
}

describe('exp_euler is exact for dx/dt = a x + b (float64)', () => {
  const update = derived(model('Linear'));
  const step = compileUpdate64(update, ['x', 'a', 'b', 't', 'dt']);
  // Subnormal rates are flushed to 0: a*dt has no precision left there, in the reference either.
  const rate = fc
    .oneof(
      fc.double({ min: -5, max: 5, noNaN: true }),
      fc.double({ min: -1e-7, max: 1e-7, noNaN: true }),
      fc.constant(0),
    )
    .map((a) => (Math.abs(a) < 1e-200 ? 0 : a));
  it('matches x0 e^(a dt) + b (e^(a dt) - 1)/a to 1e-12 relative', () => {
    fc.assert(
      fc.property(
        rate,
        fc.double({ min: -10, max: 10, noNaN: true }),
        fc.double({ min: -10, max: 10, noNaN: true }),
        fc.double({ min: 1e-3, max: 2, noNaN: true }),
        (a, b, x0, dt) => {
          const growth = Math.exp(a * dt);
          const integral = a * dt === 0 ? dt : Math.expm1(a * dt) / a;
          const want = x0 * growth + b * integral;
          // (plus a floor: subnormal inputs carry no relative precision)
          const scale = Math.abs(x0 * growth) + Math.abs(b * integral) + 1e-290;
          const slow = evaluateUpdate(update, { x: x0, a, b, dt, t: 0 }).states['x']!;
          const out = new Float64Array(1);
          step.step(Float64Array.from([x0, a, b, 0, dt, ...update.temporaries.map(() => 0)]), out);
          expect(Math.abs(slow - want)).toBeLessThanOrEqual(1e-12 * scale);
          expect(Math.abs(out[0]! - want)).toBeLessThanOrEqual(1e-12 * scale);
        },
      ),
      { seed: SEED, numRuns: 500 },
    );
  });

  it('stays exact over many steps (the error does not grow beyond rounding)', () => {
    fc.assert(
      fc.property(
        fc.double({ min: -2, max: 0.2, noNaN: true }),
        fc.double({ min: -3, max: 3, noNaN: true }),
        (a, b) => {
          const dt = 0.1;
          let x = 1;
          for (let n = 0; n < 200; n++)
            x = evaluateUpdate(update, { x, a, b, dt, t: 0 }).states['x']!;
          const t = 200 * dt;
          const want = Math.exp(a * t) + b * (a === 0 ? t : Math.expm1(a * t) / a);
          const scale = Math.exp(a * t) + Math.abs(b * (a === 0 ? t : Math.expm1(a * t) / a));
          expect(Math.abs(x - want)).toBeLessThanOrEqual(1e-12 * 200 * scale);
        },
      ),
      { seed: SEED, numRuns: 100 },
    );
  });
});

describe('method exact', () => {
  const tau = fc.double({ min: 0.2, max: 50, noNaN: true });
  const state = fc.double({ min: -5, max: 5, noNaN: true });
  const dt = fc.constantFrom(0.01, 0.1, 0.5, 1, 5);

  /** h0 (e^{-t/td} - e^{-t/tr}) / (1/tr - 1/td), computed without cancellation. */
  function dualKernel(t: number, tauDecay: number, tauRise: number): number {
    const delta = 1 / tauRise - 1 / tauDecay;
    const frac = delta === 0 ? t : -Math.expm1(-t * delta) / delta;
    return Math.exp(-t / tauDecay) * frac;
  }

  it('DualExpon matches the closed form, also when tau_rise == tau_decay at run time', () => {
    const update = derived(MODELS.get('DualExpon')!, 'exact');
    fc.assert(
      fc.property(
        tau,
        tau,
        fc.boolean(),
        state,
        state,
        dt,
        (tauDecay, tauRiseRandom, equal, g0, h0, step) => {
          const tauRise = equal ? tauDecay : tauRiseRandom;
          const r = evaluateUpdate(update, {
            g: g0,
            h: h0,
            tau_decay: tauDecay,
            tau_rise: tauRise,
            dt: step,
            t: 0,
          }).states;
          const g = g0 * Math.exp(-step / tauDecay) + h0 * dualKernel(step, tauDecay, tauRise);
          const h = h0 * Math.exp(-step / tauRise);
          const scale = Math.abs(g0) + Math.abs(h0) * step + 1e-300;
          expect(Number.isFinite(r['g']!)).toBe(true);
          expect(Math.abs(r['g']! - g)).toBeLessThanOrEqual(1e-12 * scale);
          expect(Math.abs(r['h']! - h)).toBeLessThanOrEqual(1e-12 * (Math.abs(h0) + 1e-300));
        },
      ),
      { seed: SEED, numRuns: 400 },
    );
  });

  it('DualExpon with tau_rise == tau_decay gives the alpha-function limit h0 t e^(-t/tau)', () => {
    const update = derived(MODELS.get('DualExpon')!, 'exact');
    for (const t of [0.1, 1, 10]) {
      const r = evaluateUpdate(update, {
        g: 0,
        h: 1,
        tau_decay: 5,
        tau_rise: 5,
        dt: t,
        t: 0,
      }).states;
      expect(r['g']).toBeCloseTo(t * Math.exp(-t / 5), 14);
    }
  });

  it('Alpha (equal rates at compile time) matches g0 e^(-t/tau) + h0 (t/tau) e^(-t/tau)', () => {
    const update = derived(MODELS.get('Alpha')!, 'exact');
    fc.assert(
      fc.property(tau, state, state, dt, (tauDecay, g0, h0, step) => {
        const r = evaluateUpdate(update, {
          g: g0,
          h: h0,
          tau_decay: tauDecay,
          dt: step,
          t: 0,
        }).states;
        const decay = Math.exp(-step / tauDecay);
        const g = g0 * decay + h0 * (step / tauDecay) * decay;
        const scale = Math.abs(g0) + Math.abs(h0) + 1e-300;
        expect(Math.abs(r['g']! - g)).toBeLessThanOrEqual(1e-12 * scale);
        expect(Math.abs(r['h']! - h0 * decay)).toBeLessThanOrEqual(1e-12 * (Math.abs(h0) + 1e-300));
      }),
      { seed: SEED, numRuns: 300 },
    );
  });

  it('a triangular 3-state system with inputs matches the matrix exponential, coinciding rates included', () => {
    const update = derived(model('Triangular'));
    // Rates on a grid of 1/16 so that they are either equal or clearly apart.
    const diag = fc.oneof(
      fc.integer({ min: -48, max: 8 }).map((k) => k / 16),
      fc.constantFrom(-1, -0.5, 0),
    );
    const coupling = fc.integer({ min: -32, max: 32 }).map((k) => k / 16);
    fc.assert(
      fc.property(
        fc.tuple(diag, diag, diag),
        fc.tuple(coupling, coupling, coupling),
        fc.tuple(coupling, coupling, coupling),
        fc.tuple(state, state, state),
        fc.constantFrom(0.1, 0.5, 1),
        ([a11, a22, a33], [a21, a31, a32], [b1, b2, b3], [x1, x2, x3], step) => {
          const env = { a11, a22, a33, a21, a31, a32, b1, b2, b3, x1, x2, x3, dt: step, t: 0 };
          const r = evaluateUpdate(update, env).states;
          const m = [
            [a11, 0, 0, b1],
            [a21, a22, 0, b2],
            [a31, a32, a33, b3],
            [0, 0, 0, 0],
          ].map((row) => row.map((v) => v * step));
          const e = expm(m);
          const x = [x1, x2, x3, 1];
          ['x1', 'x2', 'x3'].forEach((name, i) => {
            const want = e[i]!.reduce((s, v, j) => s + v * x[j]!, 0);
            const scale = 1 + e[i]!.reduce((s, v, j) => s + Math.abs(v * x[j]!), 0);
            expect(Number.isFinite(r[name]!)).toBe(true);
            expect(Math.abs(r[name]! - want)).toBeLessThanOrEqual(1e-9 * scale);
          });
        },
      ),
      { seed: SEED, numRuns: 300 },
    );
  });
});
