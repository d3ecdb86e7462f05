/**
 * The step semantics of language.md ("One step, on every backend"), reproduced exactly.
 *
 * Three scenarios run on the cpu64 backend (generated JavaScript kernels, float64) and are
 * compared, spike step by spike step, with two float64 computations that share no code with
 * the generated kernels:
 *   - simulateNeuron64 (src/integrate/evaluate-ir.ts), the reference stepper, which evaluates
 *     the derived update and the model's IR directly;
 *   - a loop written here by hand from language.md's step definition and the model's
 *     equations (exp_euler: x + dt * exprel(J dt) * f with J = df/dx, every state from the
 *     start-of-step values; euler: x + dt * f; V held for round(tau_ref/dt) steps after a
 *     spike; the spike test on the new state; the reset).
 * Parameter values come from the compiled IR (internal units: mV, ms, nA, Mohm, uS, nF, um),
 * so that no unit conversion is duplicated here; the update rules are not.
 *
 *   (a) ExpIFRef with V_th = -30 mV and tau_ref = 1.7 ms, V from -65 mV, 10 nA for 300 ms,
 *       with exp_euler and with `method euler` (a local copy of the model);
 *   (b) AdExIFRefLTC under section([0, 22, 0] nA, [100, 300, 100] ms), no noise;
 *   (c) HH under 5 uA/cm^2 for 150 ms, three neurons from seeded random initial V.
 *
 * Besides the exact agreement, each scenario checks its physics.
 */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { buildPlan } from '../src/codegen/module.js';
import { parameterValues, simulateNeuron64 } from '../src/integrate/evaluate-ir.js';
import { constantValue } from '../src/ir/lower-expr.js';
import type { Expr, Network, NeuronModel, Population } from '../src/ir/types.js';
import { compileFiles } from '../src/pipeline.js';
import type { SimulationPlan } from '../src/runtime/backend.js';
import { cpuBackend } from '../src/runtime/select.js';
import { simulate } from '../src/runtime/simulate.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const MODEL_DIR = join(ROOT, 'test', 'models', 'conformance');

interface Scenario {
  readonly network: Network;
  readonly plan: SimulationPlan;
  /** Per population: spike steps of each neuron. */
  readonly spikes: ReadonlyMap<string, number[][]>;
  /** `population.variable` -> per neuron, the post-step values. */
  readonly traces: ReadonlyMap<string, Float64Array[]>;
}

function compileNetwork(file: string): Network {
  const result = compileFiles([join(MODEL_DIR, file)]);
  expect(result.diagnostics.items.map((d) => d.message)).toEqual([]);
  const networks = [...(result.program?.networks.values() ?? [])];
  expect(networks).toHaveLength(1);
  return networks[0]!;
}

/** Runs a network's file on the cpu64 backend. */
async function runCpu64(file: string): Promise<Scenario> {
  const network = compileNetwork(file);
  const steps = Math.round(network.duration / network.dt);
  const plan = buildPlan(network, steps);
  const backend = cpuBackend('f64');
  try {
    await backend.prepare(plan);
    const { chunks } = await simulate(plan, backend);
    const spikes = new Map<string, number[][]>();
    for (const p of plan.spikeRecords)
      spikes.set(
        p,
        Array.from({ length: populationOf(network, p).size }, () => []),
      );
    const traces = new Map<string, Float64Array[]>();
    plan.traces.forEach((t) => {
      const width = t.range.end - t.range.start;
      traces.set(
        `${t.population}.${t.variable}`,
        Array.from({ length: width }, () => new Float64Array(steps)),
      );
    });
    for (const chunk of chunks) {
      for (const [p, s] of chunk.spikes)
        s.steps.forEach((step, k) => spikes.get(p)![s.indices[k]!]!.push(step));
      plan.traces.forEach((t, r) => {
        const width = t.range.end - t.range.start;
        const columns = traces.get(`${t.population}.${t.variable}`)!;
        const values = chunk.traces[r]!;
        for (let s = 0; s < chunk.steps; s++)
          for (let i = 0; i < width; i++) columns[i]![chunk.firstStep + s] = values[s * width + i]!;
      });
    }
    return { network, plan, spikes, traces };
  } finally {
    backend.dispose();
  }
}

function populationOf(network: Network, name: string): Population {
  const p = network.populations.find((q) => q.name === name);
  if (p === undefined) throw new Error(`no population ${name}`);
  return p;
}

function modelOf(network: Network, population: string): NeuronModel {
  const source = populationOf(network, population).source;
  if (source.kind !== 'neuron') throw new Error(`${population} is not made of neurons`);
  return source.model;
}

function constant(e: Expr): number {
  const v = constantValue(e);
  if (v === undefined) throw new Error('expected a constant');
  return v;
}

/** The model's parameters with the population's overrides, in internal units. */
function parametersOf(network: Network, population: string): Record<string, number> {
  const p = populationOf(network, population);
  const overrides = Object.fromEntries(p.parameters.map((o) => [o.name, constant(o.value)]));
  return parameterValues(modelOf(network, population), overrides);
}

/**
 * The external input of a population at step n, internal units: a constant or a
 * section(values, durations), segment k covering steps [round(T_k/dt), round(T_{k+1}/dt)),
 * 0 after the last; several stimuli add.
 */
function inputOf(network: Network, population: string): (step: number) => number {
  const parts = network.stimuli
    .filter((s) => s.population === population)
    .map((s): ((step: number) => number) => {
      const value = s.value;
      if (value.kind !== 'section') {
        const v = constant(value);
        return () => v;
      }
      const levels = value.values.map(constant);
      let end = 0;
      const bounds = value.durations.map((d) => (end += constant(d)) / network.dt).map(Math.round);
      return (step) => {
        const k = bounds.findIndex((b) => step < b);
        return k < 0 ? 0 : levels[k]!;
      };
    });
  return (step) => parts.reduce((sum, f) => sum + f(step), 0);
}

/** (e^z - 1) / z, 1 at z = 0. */
function exprel(z: number): number {
  return z === 0 ? 1 : Math.expm1(z) / z;
}

/** The exponential Euler step of language.md for one state: x + dt * exprel(J dt) * f. */
function expEuler(x: number, f: number, J: number, dt: number): number {
  return x + dt * exprel(J * dt) * f;
}

interface HandRun {
  readonly spikes: number[];
  readonly V: Float64Array;
}

/** Refractory bookkeeping of language.md: steps s+1 ... s+K hold V after a spike at step s. */
class Refractory {
  private remaining = 0;
  constructor(private readonly steps: number) {}
  /** Call once per step, after integrating: true when V must keep its start-of-step value. */
  holds(): boolean {
    if (this.remaining === 0) return false;
    this.remaining -= 1;
    return true;
  }
  spiked(): void {
    this.remaining = this.steps;
  }
}

/** ExpIF(Ref), by hand. */
function handExpIF(
  p: Record<string, number>,
  method: 'exp_euler' | 'euler',
  input: (n: number) => number,
  V0: number,
  dt: number,
  steps: number,
): HandRun {
  const refractory = new Refractory(Math.round((p['tau_ref'] ?? 0) / dt));
  const spikes: number[] = [];
  const trace = new Float64Array(steps);
  let V = V0;
  for (let n = 0; n < steps; n++) {
    const I = input(n);
    const e = Math.exp((V - p['V_T']!) / p['delta_T']!);
    const f = (-(V - p['V_rest']!) + p['delta_T']! * e + p['R']! * I) / p['tau']!;
    const J = (-1 + e) / p['tau']!;
    let next = method === 'euler' ? V + dt * f : expEuler(V, f, J, dt);
    if (refractory.holds()) next = V;
    if (next >= p['V_th']!) {
      spikes.push(n);
      next = p['V_reset']!;
      refractory.spiked();
    }
    V = next;
    trace[n] = V;
  }
  return { spikes, V: trace };
}

/** AdExIF(Ref)(LTC), by hand: V and w from the start-of-step values (Jacobi). */
function handAdEx(
  p: Record<string, number>,
  input: (n: number) => number,
  V0: number,
  w0: number,
  dt: number,
  steps: number,
): HandRun & { w: Float64Array } {
  const refractory = new Refractory(Math.round((p['tau_ref'] ?? 0) / dt));
  const spikes: number[] = [];
  const traceV = new Float64Array(steps);
  const traceW = new Float64Array(steps);
  let V = V0;
  let w = w0;
  for (let n = 0; n < steps; n++) {
    const I = input(n);
    const e = Math.exp((V - p['V_T']!) / p['delta_T']!);
    const fV = (-(V - p['V_rest']!) + p['delta_T']! * e - p['R']! * w + p['R']! * I) / p['tau']!;
    const JV = (-1 + e) / p['tau']!;
    const fw = (p['a']! * (V - p['V_rest']!) - w) / p['tau_w']!;
    const Jw = -1 / p['tau_w']!;
    let nextV = expEuler(V, fV, JV, dt);
    let nextW = expEuler(w, fw, Jw, dt);
    if (refractory.holds()) nextV = V;
    if (nextV >= p['V_th']!) {
      spikes.push(n);
      nextV = p['V_reset']!;
      nextW += p['b']!;
      refractory.spiked();
    }
    V = nextV;
    w = nextW;
    traceV[n] = V;
    traceW[n] = w;
  }
  return { spikes, V: traceV, w: traceW };
}

/** HH rate functions, V in mV, rates in 1/ms (the classical forms, written out). */
function hhRates(V: number): {
  am: number;
  bm: number;
  ah: number;
  bh: number;
  an: number;
  bn: number;
} {
  return {
    am: 1 / exprel(-(V + 40) / 10),
    bm: 4 * Math.exp(-(V + 65) / 18),
    ah: 0.07 * Math.exp(-(V + 65) / 20),
    bh: 1 / (1 + Math.exp(-(V + 35) / 10)),
    an: 0.1 / exprel(-(V + 55) / 10),
    bn: 0.125 * Math.exp(-(V + 65) / 80),
  };
}

/** HH, by hand: every state from the start-of-step values; spike = upward crossing of V_th. */
function handHH(
  p: Record<string, number>,
  I: number,
  V0: number,
  dt: number,
  steps: number,
): HandRun & { m0: number; h0: number; n0: number } {
  const r0 = hhRates(V0);
  const m0 = r0.am / (r0.am + r0.bm);
  const h0 = r0.ah / (r0.ah + r0.bh);
  const n0 = r0.an / (r0.an + r0.bn);
  let [V, m, h, n] = [V0, m0, h0, n0];
  const spikes: number[] = [];
  const trace = new Float64Array(steps);
  for (let k = 0; k < steps; k++) {
    const r = hhRates(V);
    const gNa = p['gNa']! * m ** 3 * h;
    const gK = p['gK']! * n ** 4;
    const fV =
      (-gNa * (V - p['ENa']!) - gK * (V - p['EK']!) - p['gL']! * (V - p['EL']!) + I) / p['C']!;
    const JV = -(gNa + gK + p['gL']!) / p['C']!;
    const nextV = expEuler(V, fV, JV, dt);
    const nextM = expEuler(m, r.am * (1 - m) - r.bm * m, -(r.am + r.bm), dt);
    const nextH = expEuler(h, r.ah * (1 - h) - r.bh * h, -(r.ah + r.bh), dt);
    const nextN = expEuler(n, r.an * (1 - n) - r.bn * n, -(r.an + r.bn), dt);
    if (V < p['V_th']! && nextV >= p['V_th']!) spikes.push(k);
    [V, m, h, n] = [nextV, nextM, nextH, nextN];
    trace[k] = V;
  }
  return { spikes, V: trace, m0, h0, n0 };
}

/** Largest |a - b| / max(|a|, |b|, floor). */
function maxRelative(a: Float64Array, b: Float64Array, floor: number): number {
  let worst = 0;
  for (let k = 0; k < a.length; k++)
    worst = Math.max(
      worst,
      Math.abs(a[k]! - b[k]!) / Math.max(Math.abs(a[k]!), Math.abs(b[k]!), floor),
    );
  return worst;
}

function intervals(spikes: readonly number[]): number[] {
  return spikes.slice(1).map((s, k) => s - spikes[k]!);
}

describe('(a) ExpIFRef, V_th = -30 mV, tau_ref = 1.7 ms, 10 nA for 300 ms', () => {
  let run: Promise<Scenario> | undefined;
  const scenario = (): Promise<Scenario> => (run ??= runCpu64('seed_expif.spk'));

  it.each([
    ['E', 'exp_euler'],
    ['U', 'euler'],
  ] as const)(
    'population %s (%s): cpu64 spike steps equal both independent float64 computations',
    async (population, method) => {
      const { network, spikes, traces } = await scenario();
      const model = modelOf(network, population);
      expect(model.method).toBe(method);
      const p = parametersOf(network, population);
      expect([p['V_th'], p['tau_ref']]).toEqual([-30, 1.7]);
      const dt = network.dt;
      const steps = Math.round(network.duration / dt);
      const input = inputOf(network, population);
      expect(input(0)).toBe(10);
      const cpu64 = spikes.get(population)![0]!;

      const reference = simulateNeuron64(model, p, {
        dt,
        steps,
        input: (t) => input(Math.round(t / dt)),
        initial: { V: -65 },
      });
      expect(reference.refractorySteps).toBe(17);
      const hand = handExpIF(p, method, input, -65, dt, steps);
      console.log(
        `(a) ExpIFRef ${method}: ${cpu64.length} spikes (cpu64), ${reference.spikeSteps.length} (simulateNeuron64), ${hand.spikes.length} (by hand); steps ${cpu64.join(' ')}`,
      );
      expect(cpu64).toEqual(reference.spikeSteps);
      expect(cpu64).toEqual(hand.spikes);
      const V = traces.get(`${population}.V`)![0]!;
      expect(maxRelative(V, reference.traces['V']!, 1e-3)).toBeLessThan(1e-9);
      expect(maxRelative(V, hand.V, 1e-3)).toBeLessThan(1e-9);

      // Physics: regular firing; V held at V_reset for exactly round(1.7/0.1) = 17 steps.
      expect(cpu64.length).toBeGreaterThanOrEqual(10);
      const isi = intervals(cpu64);
      expect(Math.max(...isi) - Math.min(...isi)).toBeLessThanOrEqual(1);
      for (const s of cpu64) {
        if (s + 18 >= steps) continue;
        for (let k = s; k <= s + 17; k++)
          expect(V[k], `V after step ${k} (spike at ${s})`).toBe(p['V_reset']);
        expect(V[s + 18]).toBeGreaterThan(p['V_reset']!);
      }
      expect(Math.min(...isi)).toBeGreaterThan(17);
    },
  );

  it('exp_euler and euler fire at similar, regular rates', async () => {
    const { spikes } = await scenario();
    const e = spikes.get('E')![0]!;
    const u = spikes.get('U')![0]!;
    expect(Math.abs(e.length - u.length)).toBeLessThanOrEqual(2);
    const isiE = intervals(e)[0]!;
    const isiU = intervals(u)[0]!;
    expect(Math.abs(isiE - isiU) / isiE).toBeLessThan(0.1);
  });
});

describe('(b) AdExIFRefLTC under section([0, 22, 0] nA, [100, 300, 100] ms)', () => {
  it('cpu64 spike steps equal both independent float64 computations; adaptation', async () => {
    const { network, spikes, traces } = await runCpu64('seed_adex.spk');
    const model = modelOf(network, 'N');
    expect(model.input?.ltc).toBe(true);
    const p = parametersOf(network, 'N');
    const dt = network.dt;
    const steps = Math.round(network.duration / dt);
    const input = inputOf(network, 'N');
    expect([input(999), input(1000), input(3999), input(4000)]).toEqual([0, 22, 22, 0]);
    const cpu64 = spikes.get('N')![0]!;

    const reference = simulateNeuron64(model, p, {
      dt,
      steps,
      input: (t) => input(Math.round(t / dt)),
    });
    const hand = handAdEx(p, input, p['V_rest']!, 0, dt, steps);
    console.log(
      `(b) AdExIFRefLTC: ${cpu64.length} spikes (cpu64), ${reference.spikeSteps.length} (simulateNeuron64), ${hand.spikes.length} (by hand); steps ${cpu64.join(' ')}`,
    );
    expect(cpu64).toEqual(reference.spikeSteps);
    expect(cpu64).toEqual(hand.spikes);
    expect(maxRelative(traces.get('N.V')![0]!, hand.V, 1e-3)).toBeLessThan(1e-9);
    expect(maxRelative(traces.get('N.w')![0]!, hand.w, 1e-3)).toBeLessThan(1e-9);
    expect(maxRelative(traces.get('N.w')![0]!, reference.traces['w']!, 1e-3)).toBeLessThan(1e-9);

    // Physics: silent without input, fires while the 22 nA last, and adapts (w grows, ISIs lengthen).
    expect(cpu64.length).toBeGreaterThanOrEqual(10);
    expect(cpu64[0]).toBeGreaterThanOrEqual(1000);
    expect(cpu64[cpu64.length - 1]).toBeLessThan(4000);
    const isi = intervals(cpu64);
    expect(isi[isi.length - 1]!).toBeGreaterThan(isi[0]!);
    const w = traces.get('N.w')![0]!;
    expect(w[3999]!).toBeGreaterThan(w[cpu64[0]!]!);
  });
});

describe('(c) HH under 5 uA/cm^2 for 150 ms', () => {
  it('cpu64 spike steps equal both independent float64 computations; repetitive firing', async () => {
    const { network, plan, spikes, traces } = await runCpu64('seed_hh.spk');
    const model = modelOf(network, 'N');
    const p = parametersOf(network, 'N');
    const dt = network.dt;
    const steps = Math.round(network.duration / dt);
    const I = inputOf(network, 'N')(0);
    const initial = plan.initial.get('N')!;
    const counts: number[] = [];
    for (let i = 0; i < 3; i++) {
      const V0 = initial.get('V')![i]!;
      expect(V0).toBeGreaterThanOrEqual(-70);
      expect(V0).toBeLessThan(-60);
      const cpu64 = spikes.get('N')![i]!;
      const reference = simulateNeuron64(model, p, {
        dt,
        steps,
        input: () => I,
        initial: { V: V0 },
      });
      const hand = handHH(p, I, V0, dt, steps);
      // The gates start at their steady state for V0.
      expect(Math.abs(initial.get('m')![i]! - hand.m0)).toBeLessThan(1e-12);
      expect(Math.abs(initial.get('h')![i]! - hand.h0)).toBeLessThan(1e-12);
      expect(Math.abs(initial.get('n')![i]! - hand.n0)).toBeLessThan(1e-12);
      expect(cpu64, `neuron ${i} (V0 = ${V0} mV)`).toEqual(reference.spikeSteps);
      expect(cpu64, `neuron ${i} (V0 = ${V0} mV)`).toEqual(hand.spikes);
      const V = traces.get('N.V')![i]!;
      expect(maxRelative(V, reference.traces['V']!, 1e-2)).toBeLessThan(1e-9);
      expect(maxRelative(V, hand.V, 1e-2)).toBeLessThan(1e-9);

      // Physics: repetitive firing at a steady rate, each spike a full action potential.
      expect(cpu64.length).toBeGreaterThanOrEqual(5);
      const isi = intervals(cpu64).slice(1);
      expect(Math.max(...isi) - Math.min(...isi)).toBeLessThanOrEqual(2);
      for (const s of cpu64) expect(Math.max(...V.subarray(s, s + 20))).toBeGreaterThan(30);
      counts.push(cpu64.length);
    }
    console.log(
      `(c) HH at 5 uA/cm^2: spikes per neuron ${counts.join(', ')} in 150 ms; neuron 0 at steps ${spikes.get('N')![0]!.join(' ')}`,
    );
  });
});
