import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type {
  Expr as IrExpr,
  IntegrationMethod,
  Model,
  NeuronModel,
  Program,
  SynapseModel,
} from '../src/ir/types.js';
import { constantValue } from '../src/ir/lower-expr.js';
import { compileFiles } from '../src/pipeline.js';
import { main } from '../src/cli/main.js';
import {
  type Expr as SymExpr,
  add,
  and,
  call,
  cmp,
  mul,
  not,
  num,
  pow,
  sub,
  sym,
  where,
} from '../src/symbolic/expr.js';
import { freeSymbols } from '../src/symbolic/diff.js';
import { evaluate } from '../src/symbolic/evaluate.js';
import { exprel32, exprel64 } from '../src/symbolic/exprel.js';
import {
  type DerivedUpdate,
  deriveUpdate,
  stateDerivatives,
  updateInputs,
} from '../src/integrate/derive.js';
import {
  WIENER_SYMBOL,
  equationRhs,
  subexpressionValues,
  toSymbolic,
} from '../src/integrate/to-symbolic.js';
import {
  compileUpdate64,
  evaluateIr,
  evaluateUpdate,
  executeStatements,
  initialStateValues,
  modelEnv,
  parameterValues,
  seededNormal,
  simulateNeuron64,
} from '../src/integrate/evaluate-ir.js';
import { ltcInputForPopulation } from '../src/integrate/ltc.js';
import { formatUpdateStage } from '../src/integrate/inspect.js';
import { expDividedDifference } from '../src/integrate/exact.js';

const SEED = 7;
const VIRTUAL = '/virtual/integrate.spk';

function compileText(text: string): Program {
  const result = compileFiles(
    [VIRTUAL],
    (p) => (p === VIRTUAL ? text : readFileSync(p, 'utf8')),
    (p) => p === VIRTUAL || existsSync(p),
  );
  if (result.program === undefined)
    throw new Error(result.diagnostics.items.map((d) => d.message).join('\n'));
  return result.program;
}

const STDLIB = compileFiles(['stdlib/neurons.spk', 'stdlib/synapses.spk']).program!;
const dynamics = (program: Program, name: string): NeuronModel | SynapseModel => {
  const m = program.models.get(name);
  if (m === undefined || m.kind === 'output') throw new Error(`no neuron or synapse '${name}'`);
  return m;
};
const STDLIB_DYNAMICS = [...STDLIB.models.values()].filter(
  (m): m is NeuronModel | SynapseModel => m.kind !== 'output',
);

function ok(r: ReturnType<typeof deriveUpdate>): DerivedUpdate {
  if (r.kind === 'error') throw new Error(r.diagnostics.map((d) => d.message).join('\n'));
  return r;
}

function defaults(model: Model): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of model.parameters) {
    const v = p.value === undefined ? undefined : constantValue(p.value);
    if (v !== undefined) out[p.name] = v;
  }
  return out;
}

describe('toSymbolic', () => {
  const program = compileText(`
neuron N {
  parameters { tau = 10 ms   lo = -70 mV   hi = 0 mV   on = 1 }
  state { V = -65 mV }
  current I : nA
  equations {
    r = clip(V, lo, hi)
    s = where(V > lo and not (V > hi), 2 * r, r ^ 2 / mV)
    dV/dt = (s - V) / tau + I * Mohm / ms
  }
  spike when V >= hi and prev(V) < hi
}
output O { parameters { E = 0 mV }   current = g * (E - post.V) }
`);
  const n = dynamics(program, 'N') as NeuronModel;

  it('maps names to symbols and literals to numbers in internal units', () => {
    const subs = subexpressionValues(n);
    const V = sym('V');
    const r = call('min', call('max', V, sym('lo')), sym('hi'));
    expect(subs.get('r')).toBe(r);
    // where(V > lo and not (V > hi), 2 * r, r ^ 2 / mV): mV is 1 in internal units
    expect(subs.get('s')).toBe(
      where(
        and(cmp('>', V, sym('lo')), not(cmp('>', V, sym('hi')))),
        mul(num(2), r),
        pow(r, num(2)),
      ),
    );
    const rhs = equationRhs(n).get('V')!;
    expect(freeSymbols(rhs)).toEqual(new Set(['V', 'lo', 'hi', 'tau', 'I']));
  });

  it('reads prev(X) as the start-of-step symbol X and post.V as the symbol post.V', () => {
    expect(toSymbolic(n.spike!)).toBe(
      and(cmp('>=', sym('V'), sym('hi')), cmp('<', sym('V'), sym('hi'))),
    );
    const o = program.models.get('O')!;
    expect(o.kind).toBe('output');
    if (o.kind === 'output')
      expect(toSymbolic(o.current)).toBe(mul(sym('g'), sub(sym('E'), sym('post.V'))));
  });

  it('turns wiener() into a marker symbol only when asked', () => {
    const w: IrExpr = { kind: 'wiener', span: n.span };
    expect(() => toSymbolic(w)).toThrow(/wiener/);
    expect(toSymbolic(w, { wiener: sym(WIENER_SYMBOL) })).toBe(sym(WIENER_SYMBOL));
  });
});

/**
 * brainpy-semantics.md §3.4, the exact form of J per state, as functions of the values.
 * Every stdlib neuron and synapse model is listed.
 */
type Env = Record<string, number>;
const TT = (e: Env): number => (e['t']! - e['t_last']! < e['T_dur']! ? e['T']! : 0);
const hh = (e: Env) => {
  const V = e['V']!;
  return {
    m: 1 / exprel64(-(V + 40) / 10) + 4 * Math.exp(-(V + 65) / 18),
    h: 0.07 * Math.exp(-(V + 65) / 20) + 1 / (1 + Math.exp(-(V + 35) / 10)),
    n: 0.1 / exprel64(-(V + 55) / 10) + 0.125 * Math.exp(-(V + 65) / 80),
  };
};
const expIfJ = (e: Env): number =>
  (-1 + Math.exp((e['V']! - e['V_T']!) / e['delta_T']!)) / e['tau']!;
const J_TABLE: Readonly<Record<string, Readonly<Record<string, (e: Env) => number>>>> = {
  Lif: { V: (e) => -1 / e['tau']! },
  LifRef: { V: (e) => -1 / e['tau']! },
  ExpIF: { V: expIfJ },
  ExpIFRef: { V: expIfJ },
  AdExIF: { V: expIfJ, w: (e) => -1 / e['tau_w']! },
  AdExIFRef: { V: expIfJ, w: (e) => -1 / e['tau_w']! },
  AdExIFRefLTC: { V: expIfJ, w: (e) => -1 / e['tau_w']! },
  QuaIF: { V: (e) => (e['c']! * (2 * e['V']! - e['V_rest']! - e['V_c']!)) / e['tau']! },
  Izhikevich: { V: (e) => 2 * e['p1']! * e['V']! + e['p2']!, u: (e) => -e['a']! },
  HH: {
    V: (e) => -(e['gNa']! * e['m']! ** 3 * e['h']! + e['gK']! * e['n']! ** 4 + e['gL']!) / e['C']!,
    m: (e) => -hh(e).m,
    h: (e) => -hh(e).h,
    n: (e) => -hh(e).n,
  },
  Expon: { g: (e) => -1 / e['tau']! },
  DualExpon: { g: (e) => -1 / e['tau_decay']!, h: (e) => -1 / e['tau_rise']! },
  Alpha: { g: (e) => -1 / e['tau_decay']!, h: (e) => -1 / e['tau_decay']! },
  NMDA: { g: (e) => -1 / e['tau_decay']! - e['a']! * e['x']!, x: (e) => -1 / e['tau_rise']! },
  AMPA: { g: (e) => -(e['alpha']! * TT(e) + e['beta']!) },
  GABAa: { g: (e) => -(e['alpha']! * TT(e) + e['beta']!) },
  STD: { x: (e) => -1 / e['tau']! },
  STP: { u: (e) => -1 / e['tau_f']!, x: (e) => -1 / e['tau_d']! },
  // Not BrainPy models (docs/stdlib.md): Delta and Gap have no state; STDP three decays.
  Delta: {},
  Gap: {},
  STDP: {
    g: (e) => -1 / e['tau']!,
    apre: (e) => -1 / e['tau_pre']!,
    apost: (e) => -1 / e['tau_post']!,
  },
};

/** Plausible random values for every symbol a model's update reads. */
function randomEnvArb(model: NeuronModel | SynapseModel): fc.Arbitrary<Env> {
  const base = defaults(model);
  const names = [...model.parameters.map((p) => p.name)];
  const stateRanges: Record<string, [number, number]> = {
    V: [-75, -55],
    w: [-2, 2],
    u: model.name === 'Izhikevich' ? [-20, 0] : [0, 1],
    m: [0, 1],
    h: [0, model.kind === 'synapse' ? 2 : 1],
    n: [0, 1],
    g: [0, 2],
    x: [0, 1],
    t_last: [-5, 5],
  };
  const entries: Record<string, fc.Arbitrary<number>> = {};
  for (const p of names)
    entries[p] = fc.double({ min: 0.8, max: 1.25, noNaN: true }).map((f) => (base[p] ?? 1) * f);
  for (const s of model.states) {
    const [lo, hi] = stateRanges[s.name] ?? [-1, 1];
    entries[s.name] = fc.double({ min: lo, max: hi, noNaN: true });
  }
  if (model.kind === 'neuron' && model.input !== undefined)
    entries[model.input.name] = fc.double({ min: -2, max: 2, noNaN: true });
  entries['t'] = fc.double({ min: 0, max: 5, noNaN: true });
  entries['dt'] = fc.constantFrom(0.01, 0.1, 0.5);
  return fc.record(entries) as fc.Arbitrary<Env>;
}

describe('J per state equals brainpy-semantics.md §3.4 for every stdlib model', () => {
  it('the table covers every stdlib neuron and synapse model and state with an equation', () => {
    expect(new Set(Object.keys(J_TABLE))).toEqual(new Set(STDLIB_DYNAMICS.map((m) => m.name)));
    for (const m of STDLIB_DYNAMICS)
      expect(new Set(Object.keys(J_TABLE[m.name]!))).toEqual(
        new Set(m.equations.map((e) => e.state)),
      );
  });

  for (const model of STDLIB_DYNAMICS) {
    it(`${model.name}: J and the exp_euler update at random states`, () => {
      const derivatives = stateDerivatives(model);
      const update = ok(deriveUpdate(model));
      fc.assert(
        fc.property(randomEnvArb(model), (env) => {
          const next = evaluateUpdate(update, env).states;
          for (const { state, f, J } of derivatives) {
            const want = J_TABLE[model.name]![state]!(env);
            const got = evaluate(J, env);
            expect(Math.abs(got - want)).toBeLessThanOrEqual(1e-12 * (Math.abs(want) + 1e-9));
            // The update is x + dt * exprel(J dt) * f with this J.
            const fv = evaluate(f, env);
            const x1 = env[state]! + env['dt']! * exprel64(want * env['dt']!) * fv;
            expect(Math.abs(next[state]! - x1)).toBeLessThanOrEqual(
              1e-10 * (Math.abs(x1) + Math.abs(env['dt']! * fv) + 1e-9),
            );
          }
        }),
        { seed: SEED, numRuns: 60 },
      );
    });
  }

  it('J agrees with a central finite difference of f (an independent check of diff)', () => {
    for (const model of STDLIB_DYNAMICS) {
      const derivatives = stateDerivatives(model);
      fc.assert(
        fc.property(randomEnvArb(model), (env) => {
          for (const { state, f, J } of derivatives) {
            const h = 1e-6 * Math.max(1, Math.abs(env[state]!));
            const fd =
              (evaluate(f, { ...env, [state]: env[state]! + h }) -
                evaluate(f, { ...env, [state]: env[state]! - h })) /
              (2 * h);
            const j = evaluate(J, env);
            expect(Math.abs(j - fd)).toBeLessThanOrEqual(1e-5 * (Math.abs(j) + 1));
          }
        }),
        { seed: SEED, numRuns: 20 },
      );
    }
  });
});

describe('current I (ltc)', () => {
  const ltc = dynamics(STDLIB, 'AdExIFRefLTC');
  it('puts the V-derivative of the synaptic current into J (COBA)', () => {
    const ltcInput = add(sym('I.ext'), mul(sym('gE'), sub(sym('E'), sym('post.V'))));
    const dv = stateDerivatives(ltc, { ltcInput }).find((d) => d.state === 'V')!;
    fc.assert(
      fc.property(
        randomEnvArb(ltc),
        fc.double({ min: 0, max: 2, noNaN: true }),
        fc.double({ min: -80, max: 0, noNaN: true }),
        fc.double({ min: -1, max: 1, noNaN: true }),
        (env, gE, E, ext) => {
          const e = { ...env, gE, E, 'I.ext': ext };
          const want =
            (-1 + Math.exp((e['V']! - e['V_T']!) / e['delta_T']!) - e['R']! * gE) / e['tau']!;
          expect(evaluate(dv.J, e)).toBeCloseTo(want, 10);
          // f itself is the non-ltc f with I = ext + gE (E - V_n).
          const I = ext + gE * (E - e['V']!);
          const nonLtc = stateDerivatives(ltc).find((d) => d.state === 'V')!;
          expect(evaluate(dv.f, e)).toBeCloseTo(evaluate(nonLtc.f, { ...e, I }), 10);
        },
      ),
      { seed: SEED, numRuns: 50 },
    );
    // w is unchanged.
    expect(stateDerivatives(ltc, { ltcInput }).find((d) => d.state === 'w')!.J).toBe(
      stateDerivatives(ltc).find((d) => d.state === 'w')!.J,
    );
  });

  it('is ignored by a neuron without (ltc)', () => {
    const plain = dynamics(STDLIB, 'AdExIFRef');
    const ltcInput = mul(sym('gE'), sub(sym('E'), sym('post.V')));
    expect(stateDerivatives(plain, { ltcInput })[0]!.J).toBe(stateDerivatives(plain)[0]!.J);
  });

  it('builds the summed current of a population from its projections (MgBlock enters J)', () => {
    const program = compileText(`
import "stdlib/neurons.spk"
import "stdlib/synapses.spk"
network Net {
  dt = 0.1 ms
  duration = 10 ms
  seed = 1
  population P = AdExIFRefLTC(10)
  projection E = P -> P {
    connect all_to_all
    weight 1 uS
    synapse Expon(tau = 5 ms)
    output COBA(E = 0 mV)
  }
  projection M = P -> P {
    connect all_to_all
    weight 1 uS
    synapse NMDA
    output MgBlock
  }
}
`);
    const net = program.networks.get('Net')!;
    const ltcIn = ltcInputForPopulation(net, 'P')!;
    expect(freeSymbols(ltcIn.input)).toEqual(new Set(['I.ext', 'E.g', 'M.g', 'V']));
    const model = dynamics(program, 'AdExIFRefLTC');
    const dv = stateDerivatives(model, { ltcInput: ltcIn.input }).find((d) => d.state === 'V')!;
    const env = {
      ...defaults(model),
      V: -60,
      w: 0,
      'I.ext': 0.5,
      'E.g': 0.3,
      'M.g': 0.2,
      t: 0,
      dt: 0.1,
    };
    const h = 1e-5;
    const fd =
      (evaluate(dv.f, { ...env, V: env.V + h }) - evaluate(dv.f, { ...env, V: env.V - h })) /
      (2 * h);
    expect(evaluate(dv.J, env)).toBeCloseTo(fd, 7);
    const withoutMg =
      -(1 - Math.exp((env.V - env['V_T']!) / env['delta_T']!) + env['R']! * 0.3) / env['tau']!;
    expect(Math.abs(evaluate(dv.J, env) - withoutMg)).toBeGreaterThan(1e-4); // the Mg block's own V-dependence
    // inspect shows it
    const text = formatUpdateStage(program, 'Net')!;
    expect(text).toContain('I = I.ext');
    expect(text).toContain('E.g');
  });
});

async function runCli(
  args: readonly string[],
): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(args, { out: (t) => (out += `${t}\n`), err: (t) => (err += `${t}\n`) });
  return { code, out, err };
}

describe('inspect --stage update of a synapse without state', () => {
  it('says there is nothing to integrate (stdlib Gap and Delta)', () => {
    const program = compileText('import "stdlib/synapses.spk"');
    for (const name of ['Gap', 'Delta'])
      expect(formatUpdateStage(program, name)).toBe(
        `synapse ${name}: one step, method exp_euler\n  no state to integrate`,
      );
  });
});

describe('method exact: refused with a diagnostic', () => {
  const program = compileText(`
import "stdlib/synapses.spk"
synapse NMDAExact {
  parameters { tau_decay = 100 ms   tau_rise = 2 ms   a = 0.5 /ms }
  state { g = 0   x = 0 }
  equations {
    dg/dt = -g / tau_decay + a * x * (1 - g)
    dx/dt = -x / tau_rise
  }
  method exact
  on_pre { x += 1 }
  delivers w * g
}
synapse ExpExact {
  parameters { tau = 10 ms   s = 1 mV }
  state { v = 0 mV }
  equations { dv/dt = (-v + s * exp(v / s)) / tau }
  method exact
  delivers v
}
synapse Ring {
  parameters { k = 1 /ms }
  state { x = 1   y = 0 }
  equations {
    dx/dt = -k * y
    dy/dt = k * x
  }
  method exact
  delivers x
}
`);
  it('names the non-linear term (a product of two states) and points at its equation', () => {
    const r = deriveUpdate(dynamics(program, 'NMDAExact'));
    expect(r.kind).toBe('error');
    if (r.kind !== 'error') return;
    const [d] = r.diagnostics;
    expect(d!.message).toBe(
      'method exact needs linear equations with constant coefficients, but dg/dt has the non-linear term -a*g*x',
    );
    expect(d!.label).toBe('a product of g and x');
    expect(d!.span.file.text.slice(d!.span.start, d!.span.end)).toMatch(/^dg\/dt/);
    const term = d!.secondary[0]!.span;
    expect(term.file.text.slice(term.start, term.end)).toBe('a * x * (1 - g)');
  });

  it('names a non-linear function of the state', () => {
    const r = deriveUpdate(dynamics(program, 'ExpExact'));
    expect(r.kind).toBe('error');
    if (r.kind === 'error') {
      expect(r.diagnostics[0]!.message).toContain('has the non-linear term exp(v/s)');
      expect(r.diagnostics[0]!.label).toBe('not linear in v');
      const term = r.diagnostics[0]!.secondary[0]!.span;
      expect(term.file.text.slice(term.start, term.end)).toBe('exp(v / s)');
    }
  });

  it('refuses couplings in a circle (complex eigenvalues)', () => {
    const r = deriveUpdate(dynamics(program, 'Ring'));
    expect(r.kind).toBe('error');
    if (r.kind === 'error') expect(r.diagnostics[0]!.message).toContain('x -> y -> x');
  });

  it('is accepted for every linear stdlib model, which then matches exp_euler where that is exact too', () => {
    for (const name of ['Expon', 'DualExpon', 'Alpha', 'STD', 'STP', 'Lif', 'LifRef']) {
      const model = dynamics(STDLIB, name);
      const exact = ok(deriveUpdate(model, { method: 'exact' }));
      expect(exact.states.every((s) => s.method === 'exact')).toBe(true);
      if (name === 'DualExpon' || name === 'Alpha') continue; // exp_euler freezes h over the step
      const expEuler = ok(deriveUpdate(model));
      const env = {
        ...defaults(model),
        V: -60,
        I: 3,
        g: 0.7,
        h: 0.2,
        x: 0.4,
        u: 0.3,
        t: 0,
        dt: 0.1,
      };
      const a = evaluateUpdate(exact, env).states;
      const b = evaluateUpdate(expEuler, env).states;
      for (const s of exact.states) expect(a[s.state]).toBeCloseTo(b[s.state]!, 12);
    }
  });
});

describe('the exact divided differences', () => {
  it('use exprel for two rates, with the right limit when they coincide at run time', () => {
    const dd = expDividedDifference([sym('a'), sym('b')], sym('h'));
    const v = (a: number, b: number, h: number) => evaluate(dd, { a, b, h });
    expect(v(-1, -1, 0.5)).toBeCloseTo(0.5 * Math.exp(-0.5), 15);
    expect(v(-1, -1 - 1e-12, 0.5)).toBeCloseTo(0.5 * Math.exp(-0.5), 12);
    expect(v(-1, -3, 0.5)).toBeCloseTo((Math.exp(-0.5) - Math.exp(-1.5)) / 2, 14);
    expect(v(-3, -1, 0.5)).toBeCloseTo((Math.exp(-0.5) - Math.exp(-1.5)) / 2, 14);
    // Far apart: no overflow of exprel (float32 would overflow at exp(89)).
    expect(v(-0.01, -1000, 1)).toBeCloseTo((Math.exp(-0.01) - Math.exp(-1000)) / 999.99, 14);
  });
  it('are confluent for equal nodes at compile time', () => {
    expect(expDividedDifference([sym('a'), sym('a'), sym('a')], sym('h'))).toBe(
      mul(num(0.5), pow(sym('h'), num(2)), call('exp', mul(sym('a'), sym('h')))),
    );
  });
});

describe('noise (Euler-Maruyama, sqrt(dt) scaling)', () => {
  const program = compileText(`
neuron OU {
  parameters { tau = 10 ms   D = 0.5 /ms }
  state { x = 0 }
  equations {
    sigma = sqrt(2 * D)
    dx/dt = -x / tau + sigma * wiener()
  }
}
neuron Bad {
  parameters { tau = 10 ms   s = 1 }
  state { x = 0 }
  equations { dx/dt = -x / tau + s * wiener() * wiener() }
}
`);
  const ou = dynamics(program, 'OU') as NeuronModel;

  it('splits the noise term off: amplitude = the coefficient of wiener()', () => {
    const u = ok(deriveUpdate(ou));
    expect(u.noise).toHaveLength(1);
    expect(u.noise[0]!.state).toBe('x');
    expect(evaluateUpdate(u, { x: 0, tau: 10, D: 0.5, t: 0, dt: 0.1 }).noise['x']).toBeCloseTo(
      1,
      15,
    );
    expect(u.states[0]!.reason).toContain('Euler-Maruyama');
    // the deterministic part has no trace of the noise
    for (const s of u.states) expect(freeSymbols(s.value).has(WIENER_SYMBOL)).toBe(false);
  });

  it('refuses wiener() that does not enter additively', () => {
    const r = deriveUpdate(dynamics(program, 'Bad'));
    expect(r.kind).toBe('error');
    if (r.kind === 'error')
      expect(r.diagnostics[0]!.message).toMatch(/wiener\(\) must enter dx\/dt additively/);
  });

  it('gives an Ornstein-Uhlenbeck process the variance sigma^2 dt (1 - a^(2n)) / (1 - a^2), a = e^(-dt/tau)', () => {
    const u = ok(deriveUpdate(ou));
    const inputs = ['x', 'tau', 'D', 't', 'dt'];
    const compiled = compileUpdate64(u, inputs);
    const tau = 10;
    const D = 0.5;
    const dt = 0.1;
    const steps = 300;
    const count = 10000;
    const normal = seededNormal(SEED);
    const slots = new Float64Array(inputs.length + u.temporaries.length);
    slots.set([0, tau, D, 0, dt]);
    const out = new Float64Array(1);
    const amp = new Float64Array(1);
    let sum = 0;
    let sum2 = 0;
    for (let i = 0; i < count; i++) {
      let x = 0;
      for (let n = 0; n < steps; n++) {
        slots[0] = x;
        compiled.step(slots, out);
        compiled.noise(slots, amp);
        x = out[0]! + amp[0]! * Math.sqrt(dt) * normal();
      }
      sum += x;
      sum2 += x * x;
    }
    const mean = sum / count;
    const variance = sum2 / count - mean * mean;
    const a = Math.exp(-dt / tau);
    const sigma2 = 2 * D;
    const want = (sigma2 * dt * (1 - a ** (2 * steps))) / (1 - a * a);
    // 10000 samples: the relative standard error of a variance is sqrt(2/N) ~ 1.4%.
    expect(Math.abs(variance / want - 1)).toBeLessThan(0.05);
    expect(Math.abs(mean)).toBeLessThan(4 * Math.sqrt(want / count));
    // and the continuous-time stationary variance sigma^2 tau / 2 = D tau, to O(dt/tau)
    expect(
      Math.abs(variance / (D * tau * (1 - Math.exp((-2 * steps * dt) / tau))) - 1),
    ).toBeLessThan(0.06);
  });

  it('is applied by the reference stepper (time-averaged variance of one long path)', () => {
    const sim = simulateNeuron64(ou, {}, { dt: 0.1, steps: 100000, seed: 3 });
    const xs = sim.traces['x']!.subarray(1000);
    let s = 0;
    let s2 = 0;
    for (const x of xs) {
      s += x;
      s2 += x * x;
    }
    const variance = s2 / xs.length - (s / xs.length) ** 2;
    expect(variance).toBeGreaterThan(5 * 0.8);
    expect(variance).toBeLessThan(5 * 1.25);
  });
});

describe('the derived update: temporaries, Jacobi form, cheap forms', () => {
  const METHODS: readonly IntegrationMethod[] = ['exp_euler', 'euler', 'rk2', 'rk4'];
  it('orders temporaries so that each uses only earlier ones, and reads only start-of-step symbols', () => {
    for (const model of STDLIB_DYNAMICS) {
      for (const method of METHODS) {
        const u = ok(deriveUpdate(model, { method }));
        const allowed = new Set<string>([
          ...model.parameters.map((p) => p.name),
          ...model.states.map((s) => s.name),
          ...(model.kind === 'neuron' && model.input !== undefined ? [model.input.name] : []),
          't',
          'dt',
        ]);
        u.temporaries.forEach((t, i) => {
          expect(t.name).toBe(`_t${i}`);
          for (const s of freeSymbols(t.value))
            expect(allowed.has(s), `${model.name}/${method}: ${t.name} reads ${s}`).toBe(true);
          allowed.add(t.name);
        });
        for (const s of u.states)
          for (const name of freeSymbols(s.value)) expect(allowed.has(name)).toBe(true);
        expect(u.states.map((s) => s.state)).toEqual(model.equations.map((e) => e.state));
        for (const name of updateInputs(u)) expect(name.startsWith('_t')).toBe(false);
      }
    }
  });

  it('gives the same numbers optimised and unoptimised, and compiled and interpreted', () => {
    for (const model of STDLIB_DYNAMICS) {
      for (const method of METHODS) {
        const fast = ok(deriveUpdate(model, { method }));
        const plain = ok(deriveUpdate(model, { method, optimize: false }));
        expect(plain.temporaries).toEqual([]);
        fc.assert(
          fc.property(randomEnvArb(model), (env) => {
            const a = evaluateUpdate(fast, env).states;
            const b = evaluateUpdate(plain, env).states;
            const inputs = Object.keys(env);
            const c = compileUpdate64(fast, inputs);
            const slots = Float64Array.from([
              ...inputs.map((k) => env[k]!),
              ...fast.temporaries.map(() => 0),
            ]);
            const out = new Float64Array(fast.states.length);
            c.step(slots, out);
            fast.states.forEach((s, i) => {
              if (!Number.isFinite(b[s.state]!)) {
                // Far above threshold an explicit method can overflow; both forms must agree on that.
                expect(a[s.state]).toBe(b[s.state]);
                return;
              }
              const scale = Math.abs(b[s.state]!) + 1e-9;
              expect(Math.abs(a[s.state]! - b[s.state]!)).toBeLessThanOrEqual(1e-11 * scale);
              expect(Math.abs(out[i]! - a[s.state]!)).toBeLessThanOrEqual(1e-14 * scale);
            });
          }),
          { seed: SEED, numRuns: 10 },
        );
      }
    }
  });

  it('chooses products for small integer powers and shares one exp between related arguments', () => {
    const hh = ok(deriveUpdate(dynamics(STDLIB, 'HH')));
    const all = [...hh.temporaries.map((t) => t.value), ...hh.states.map((s) => s.value)];
    const hasPow = (e: SymExpr): boolean =>
      e.kind === 'pow'
        ? !(e.exp.kind === 'num' && e.exp.value === -1) || hasPow(e.base)
        : 'args' in e
          ? e.args.some(hasPow)
          : false;
    expect(all.some(hasPow)).toBe(false);
    // exp(-(V+65)/20) is exp(-(V+65)/80)^4: three exps for five rates
    const exps = new Set<SymExpr>();
    const collect = (e: SymExpr): void => {
      if (e.kind === 'call' && e.fn === 'exp') exps.add(e);
      if ('args' in e) e.args.forEach(collect);
      if (e.kind === 'pow') {
        collect(e.base);
        collect(e.exp);
      }
      if (e.kind === 'where') {
        collect(e.cond);
        collect(e.then);
        collect(e.else);
      }
    };
    all.forEach(collect);
    expect(exps.size).toBe(3);
    // exp((V - V_T)/delta_T) appears in f and J of ExpIF: computed once
    const expif = ok(deriveUpdate(dynamics(STDLIB, 'ExpIF')));
    expect(
      expif.temporaries.filter((t) => t.value.kind === 'call' && t.value.fn === 'exp'),
    ).toHaveLength(1);
  });

  it('keeps the exp_euler factor accurate for tiny |J dt| in float32 and float64', () => {
    // dx/dt = -x/tau with tau = 1e6 ms, dt = 0.1: z = -1e-7, where exp(z) - 1 cancels.
    for (const z of [-1e-7, 1e-9, -3e-5, 2e-4]) {
      const series = 1 + z / 2 + (z * z) / 6 + (z * z * z) / 24;
      expect(Math.abs(exprel64(z) - series)).toBeLessThanOrEqual(2 * Number.EPSILON);
      expect(Math.abs(exprel32(z) - series)).toBeLessThanOrEqual(2 ** -23);
    }
  });
});

describe('inspect --stage update', () => {
  it('prints the method and reason per state, then the temporaries and updates', async () => {
    const { code, out } = await runCli([
      'inspect',
      'stdlib/neurons.spk',
      '--model',
      'LifRef',
      '--stage',
      'update',
    ]);
    expect(code).toBe(0);
    expect(out).toContain(
      'V: exp_euler (J = -1/tau depends on V? no -> exact for this linear equation)',
    );
    expect(out).toMatch(/_t0 = 1\/tau/);
    expect(out).toMatch(/V <- V \+ .*exprel\(/);
  });

  it('says why a non-linear equation is only linearised', async () => {
    const { out } = await runCli([
      'inspect',
      'stdlib/neurons.spk',
      '--model',
      'ExpIF',
      '--stage',
      'update',
    ]);
    expect(out).toContain('depends on V? yes -> linearised at the start of the step (first order)');
  });

  it('prints a network: populations and projections, with the ltc current written out', async () => {
    const { code, out } = await runCli([
      'inspect',
      'test/models/language/network_einet.spk',
      '--model',
      'EINet',
      '--stage',
      'update',
    ]);
    expect(code).toBe(0);
    expect(out).toContain('neuron LifRef');
    expect(out).toContain('projection E');
    const missing = await runCli([
      'inspect',
      'stdlib/neurons.spk',
      '--model',
      'Nope',
      '--stage',
      'update',
    ]);
    expect(missing.code).toBe(2);
  });
});

describe('evaluateIr and event statements', () => {
  const program = compileText(`
synapse S {
  parameters { U = 0.15 }
  state { u = 0.15   x = 1 }
  equations {
    dx/dt = (1 - x) / (200 ms)
  }
  on_pre {
    u += U * (1 - u)
    x -= u * x
    if prev(x) > 0.5 { u *= 2 } else { u = 0 }
  }
  delivers w * u * x
}
`);
  const s = dynamics(program, 'S') as SynapseModel;
  it('runs statements in order, each seeing the earlier ones; prev() reads the start-of-step value', () => {
    const vars: Record<string, number> = { u: 0.15, x: 1, U: 0.15, w: 2 };
    const start = { ...vars };
    const env = modelEnv(s, (n) => vars[n], { prev: (n) => start[n]! });
    executeStatements(s.onPre, vars, env);
    const u1 = 0.15 + 0.15 * 0.85;
    expect(vars['x']).toBeCloseTo(1 - u1, 15);
    expect(vars['u']).toBeCloseTo(2 * u1, 15);
    expect(evaluateIr(s.delivers, env)).toBeCloseTo(2 * 2 * u1 * (1 - u1), 15);
  });

  it('evaluates section(), clip() and random draws', () => {
    const stim = compileText(`
import "stdlib/neurons.spk"
network Net {
  dt = 0.1 ms
  duration = 10 ms
  seed = 1
  population P = LifRef(2) { V ~ normal(-60 mV, 1 mV) }
  stimulus P.I = section([1 nA, 2 nA], [5 ms, 3 ms]) + clip(3 nA, 0 nA, 1 nA)
}
`).networks.get('Net')!;
    const e = stim.stimuli[0]!.value;
    const at = (t: number) => evaluateIr(e, { get: (n) => (n === 't' ? t : NaN) });
    expect(at(0)).toBe(2);
    expect(at(4.9)).toBe(2);
    expect(at(5)).toBe(3);
    expect(at(7.99)).toBe(3);
    expect(at(8)).toBe(1);
    const v = stim.populations[0]!.states[0]!.value;
    expect(
      evaluateIr(v, { get: () => NaN, random: (d, a, b) => (d === 'normal' ? a + b : NaN) }),
    ).toBe(-59);
    expect(() => evaluateIr(v, { get: () => NaN })).toThrow(/random/);
  });

  it('computes parameters and initial states (from parameters, other states, subexpressions)', () => {
    const izh = dynamics(STDLIB, 'Izhikevich');
    const p = parameterValues(izh, { b: 0.25 });
    expect(initialStateValues(izh, p, { dt: 0.1 })).toEqual({ V: -70, u: -17.5 });
    expect(initialStateValues(izh, p, { dt: 0.1, overrides: { V: -60 } })).toEqual({
      V: -60,
      u: -15,
    });
    const hh = dynamics(STDLIB, 'HH');
    expect(() => initialStateValues(hh, parameterValues(hh), { dt: 0.1 })).toThrow(
      /random initial value/,
    );
    const init = initialStateValues(hh, parameterValues(hh), { dt: 0.1, overrides: { V: -65 } });
    expect(init['m']).toBeCloseTo(0.0529324852, 8);
    expect(() => parameterValues(izh, { nope: 1 })).toThrow(/no parameter 'nope'/);
  });
});

describe('simulateNeuron64 (the float64 reference stepper)', () => {
  it('integrates a LIF exactly below threshold', () => {
    const lif = dynamics(STDLIB, 'Lif') as NeuronModel;
    const sim = simulateNeuron64(lif, {}, { dt: 0.1, steps: 500, input: () => 15 });
    expect(sim.spikeSteps).toEqual([]);
    for (const n of [0, 10, 499]) {
      const t = (n + 1) * 0.1;
      expect(sim.traces['V']![n]).toBeCloseTo(15 * (1 - Math.exp(-t / 10)), 12);
    }
  });

  it('holds V for round(tau_ref/dt) steps after a spike, and resets', () => {
    const model = dynamics(STDLIB, 'LifRef') as NeuronModel;
    const sim = simulateNeuron64(model, { tau_ref: 2 }, { dt: 0.1, steps: 400, input: () => 20 });
    expect(sim.refractorySteps).toBe(20);
    expect(sim.spikeSteps.length).toBeGreaterThan(2);
    const V = sim.traces['V']!;
    const s = sim.spikeSteps[0]!;
    expect(V[s]).toBe(-68);
    for (let k = 1; k <= 20; k++) expect(V[s + k]).toBe(-68);
    expect(V[s + 21]).toBeGreaterThan(-68);
    // spikes are at least 21 steps apart
    for (let i = 1; i < sim.spikeSteps.length; i++)
      expect(sim.spikeSteps[i]! - sim.spikeSteps[i - 1]!).toBeGreaterThan(20);
    // the first spike comes when the closed-form trajectory crosses V_th
    const crossing = Math.ceil((-10 * Math.log(1 - 10 / 20)) / 0.1 - 1e-9) - 1;
    expect(Math.abs(s - crossing)).toBeLessThanOrEqual(1);
  });

  it('resets every state as written (AdEx: V = V_reset, w += b) and keeps integrating w while V is held', () => {
    const model = dynamics(STDLIB, 'AdExIFRef') as NeuronModel;
    const sim = simulateNeuron64(model, { tau_ref: 1 }, { dt: 0.1, steps: 300, input: () => 30 });
    const s = sim.spikeSteps[0]!;
    const w = sim.traces['w']!;
    expect(sim.traces['V']![s]).toBe(-68);
    expect(w[s]! - w[s - 1]!).toBeGreaterThan(0.9); // the jump b = 1 nA
    expect(w[s + 1]).not.toBe(w[s]); // w integrates during the refractory steps
    expect(sim.traces['V']![s + 1]).toBe(-68);
  });

  it('detects HH spikes as upward crossings (no reset), and reads the input at t_n', () => {
    const model = dynamics(STDLIB, 'HH') as NeuronModel;
    const seen: number[] = [];
    const sim = simulateNeuron64(
      model,
      {},
      {
        dt: 0.01,
        steps: 3000,
        initial: { V: -65 },
        input: (t) => {
          seen.push(t);
          return t >= 1 ? 10e-5 : 0;
        },
      },
    );
    expect(seen.slice(0, 3)).toEqual([0, 0.01, 0.02]);
    expect(sim.spikeSteps.length).toBeGreaterThanOrEqual(2);
    const V = sim.traces['V']!;
    for (const s of sim.spikeSteps) {
      expect(V[s]).toBeGreaterThanOrEqual(20);
      expect(V[s - 1]).toBeLessThan(20);
    }
  });

  it('uses the method asked for', () => {
    const lif = dynamics(STDLIB, 'Lif') as NeuronModel;
    const sim = simulateNeuron64(lif, {}, { dt: 0.5, steps: 1, input: () => 10, method: 'euler' });
    expect(sim.final['V']).toBeCloseTo((0.5 * 10) / 10, 14);
    expect(sim.update.states[0]!.method).toBe('euler');
  });
});

describe('deriving the whole stdlib', () => {
  it('is fast (the benchmark, bench/derive.bench.ts, measures it precisely)', () => {
    const program = compileFiles(['stdlib/neurons.spk', 'stdlib/synapses.spk']).program!;
    const start = performance.now();
    for (const m of program.models.values()) if (m.kind !== 'output') ok(deriveUpdate(m));
    const ms = performance.now() - start;
    expect(ms).toBeLessThan(1000); // generous: CI machines vary; the benchmark target is 100 ms
  });
});
