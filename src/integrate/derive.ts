/**
 * Deriving the one-step update of a neuron or synapse model: for every state with an
 * equation, x_{n+1} as an expression of the start-of-step values (Jacobi: never of another
 * state's new value), plus the Euler–Maruyama noise terms.
 *
 * Methods (language.md "Integration", brainpy-semantics.md §3):
 * - `exp_euler` (default, BrainPy's exp_auto): J = df/dx, the derivative of the state's own
 *   right-hand side with respect to itself, and x + dt * exprel(J dt) * f, every other state,
 *   the input and t frozen at their start-of-step values. Exact when f is linear in x.
 * - `exact`: the exact propagator of a linear system with constant coefficients (exact.ts).
 * - `euler`: x + dt * f.
 * - `rk2`: the explicit midpoint rule, k1 = F(X_n, t_n), k2 = F(X_n + dt/2 k1, t_n + dt/2),
 *   X_{n+1} = X_n + dt k2 (the states integrated together, as one system).
 * - `rk4`: the classical fourth-order Runge–Kutta method on the whole system.
 *   The RK stages advance `t` (t_n + c dt) but keep a non-ltc input current frozen.
 *
 * Noise: an equation `dx/dt = f + sigma * wiener()` (sigma may depend on states) is
 * integrated by Euler–Maruyama after the deterministic step:
 *
 *     x_{n+1} = deterministic(x_n) + sigma(x_n) * sqrt(dt) * xi,   xi ~ N(0, 1),
 *
 * i.e. wiener() is white noise of unit intensity (unit 1/sqrt(time)), whose integral over a
 * step is a Wiener increment of variance dt. `wiener()` must enter additively (linearly with a
 * coefficient that does not itself contain wiener()).
 *
 * `current I (ltc)`: with `options.ltcInput` (the summed current as an expression of the
 * neuron's states and other symbols), `I` is replaced by it in f before J is taken, so the
 * V-dependence of synaptic currents enters J (brainpy-semantics.md §4.2). Without it, I is
 * a frozen symbol as for a non-ltc neuron.
 */

import { type Diagnostic, Diagnostics } from '../diagnostics/diagnostic.js';
import type { IntegrationMethod, NeuronModel, SynapseModel } from '../ir/types.js';
import { type Expr as SymExpr, add, call, isNum, mul, num, sym } from '../symbolic/expr.js';
import { dependsOn, diff, freeSymbols, substitute } from '../symbolic/diff.js';
import { linearIn } from '../symbolic/linear.js';
import { formatMath } from '../symbolic/print.js';
import { simplify } from '../symbolic/simplify.js';
import { optimize } from './cse.js';
import { exactPropagator } from './exact.js';
import { WIENER_SYMBOL, equationRhs, subexpressionValues, toSymbolic } from './to-symbolic.js';
import { nodes as irNodes } from '../ir/walk.js';
import type { Span } from '../diagnostics/source.js';

export type { IntegrationMethod } from '../ir/types.js';

/** One state's update. */
export interface DerivedState {
  readonly state: string;
  /** x_{n+1}, in terms of start-of-step symbols and temporaries. */
  readonly value: SymExpr;
  readonly method: IntegrationMethod;
  /** Why the update has this form, for `inspect --stage update`. */
  readonly reason: string;
}

/** x_{n+1} += amplitude * sqrt(dt) * xi, xi ~ N(0, 1), after the deterministic update. */
export interface DerivedNoise {
  readonly state: string;
  /** In terms of start-of-step symbols and temporaries. */
  readonly amplitude: SymExpr;
}

export interface DerivedUpdate {
  readonly kind: 'update';
  /** `_t0, _t1, ...`, each using only earlier ones and start-of-step symbols. */
  readonly temporaries: readonly { name: string; value: SymExpr }[];
  /** In equation order; states without an equation are not here (they keep their value). */
  readonly states: readonly DerivedState[];
  readonly noise: readonly DerivedNoise[];
}

export interface DeriveError {
  readonly kind: 'error';
  readonly diagnostics: readonly Diagnostic[];
}

export interface DeriveOptions {
  /** For `current I (ltc)`: the summed current in terms of states and other symbols (`post.X` is read as the state X). */
  readonly ltcInput?: SymExpr;
  /** Integrate with this method instead of the model's. */
  readonly method?: IntegrationMethod;
  /** Hoist common subexpressions and choose cheap forms (default true). */
  readonly optimize?: boolean;
}

/** Per state: the deterministic right-hand side f, the noise amplitude, and J = df/dx. */
export interface StateDerivative {
  readonly state: string;
  /** dx/dt without the noise term, with subexpressions (and an ltc input) inlined; simplified. */
  readonly f: SymExpr;
  /** The coefficient of wiener(); 0 when there is none. */
  readonly noise: SymExpr;
  /** df/dx, simplified. */
  readonly J: SymExpr;
}

const DT = sym('dt');
const T = sym('t');

/**
 * f, the noise amplitude and J = df/dx for every state with an equation, in equation order.
 * Throws (with a message naming the term) when wiener() does not enter additively; use
 * {@link deriveUpdate} for a diagnostic instead.
 */
export function stateDerivatives(
  model: NeuronModel | SynapseModel,
  options: Pick<DeriveOptions, 'ltcInput'> = {},
): StateDerivative[] {
  const result = splitEquations(model, options);
  if ('message' in result) throw new Error(result.message);
  return result.map(({ state, f, noise }) => ({ state, f, noise, J: diff(f, state) }));
}

type Split = { state: string; f: SymExpr; noise: SymExpr }[] | { state: string; message: string };

/** `I -> the ltc input` (with post.X read as the state X), when the model and options call for it. */
function ltcSubstitution(
  model: NeuronModel | SynapseModel,
  options: Pick<DeriveOptions, 'ltcInput'>,
): ReadonlyMap<string, SymExpr> | undefined {
  if (model.kind !== 'neuron' || model.input?.ltc !== true || options.ltcInput === undefined) {
    return undefined;
  }
  // Output currents read the neuron's own states as post.X.
  const own = new Map(model.states.map((s) => [`post.${s.name}`, sym(s.name)]));
  return new Map([[model.input.name, substitute(options.ltcInput, own)]]);
}

function splitEquations(
  model: NeuronModel | SynapseModel,
  options: Pick<DeriveOptions, 'ltcInput'>,
): Split {
  const rhs = equationRhs(model);
  const ltc = ltcSubstitution(model, options);
  const out: { state: string; f: SymExpr; noise: SymExpr }[] = [];
  for (const [state, r] of rhs) {
    const full = ltc === undefined ? r : substitute(r, ltc);
    let f = full;
    let noise: SymExpr = num(0);
    if (dependsOn(full, WIENER_SYMBOL)) {
      const split = linearIn(full, WIENER_SYMBOL);
      if (split.kind === 'nonlinear') {
        return {
          state,
          message: `wiener() must enter d${state}/dt additively (as sigma * wiener()), but it appears in ${formatMath(split.term).replaceAll(WIENER_SYMBOL, 'wiener()')}`,
        };
      }
      f = split.rest;
      noise = split.coeff;
    }
    out.push({ state, f: simplify(f), noise: simplify(noise) });
  }
  return out;
}

const METHOD_REASONS: Readonly<Record<'euler' | 'rk2' | 'rk4', string>> = {
  euler: 'forward Euler, x + dt*f (first order)',
  rk2: 'explicit midpoint Runge-Kutta on the whole system (second order)',
  rk4: 'classical Runge-Kutta on the whole system (fourth order)',
};

/** One explicit Runge–Kutta step of the whole system, from its Butcher tableau. */
function rungeKutta(
  fs: ReadonlyMap<string, SymExpr>,
  a: readonly (readonly number[])[],
  b: readonly number[],
  c: readonly number[],
): Map<string, SymExpr> {
  const states = [...fs.keys()];
  const stages: Map<string, SymExpr>[] = [];
  for (let s = 0; s < b.length; s++) {
    const at = new Map<string, SymExpr>();
    for (const x of states) {
      const increments = stages.map((k, j) => mul(num(a[s]?.[j] ?? 0), DT, k.get(x)!));
      at.set(x, add(sym(x), ...increments));
    }
    at.set('t', add(T, mul(num(c[s] ?? 0), DT)));
    stages.push(new Map(states.map((x) => [x, substitute(fs.get(x)!, at)])));
  }
  return new Map(
    states.map((x) => [x, add(sym(x), ...stages.map((k, s) => mul(num(b[s]!), DT, k.get(x)!)))]),
  );
}

const RK2 = { a: [[], [0.5]], b: [0, 1], c: [0, 0.5] };
const RK4 = {
  a: [[], [0.5], [0, 0.5], [0, 0, 1]],
  b: [1 / 6, 1 / 3, 1 / 3, 1 / 6],
  c: [0, 0.5, 0.5, 1],
};

/** The exp_euler update of one state and why it has that form. */
function expEuler(state: string, f: SymExpr, J: SymExpr): { value: SymExpr; reason: string } {
  const x = sym(state);
  if (isNum(J, 0)) {
    return {
      value: simplify(add(x, mul(DT, f))),
      reason: `J = 0 (f does not depend on ${state}) -> x + dt*f, exact while the other states are frozen`,
    };
  }
  const value = add(x, mul(DT, call('exprel', mul(J, DT)), f));
  const selfDependent = dependsOn(J, state);
  const reason = selfDependent
    ? `J = ${formatMath(J)} depends on ${state}? yes -> linearised at the start of the step (first order)`
    : `J = ${formatMath(J)} depends on ${state}? no -> exact for this linear equation`;
  return { value, reason };
}

/** Is `e` of the form sum_j a_j x_j + b with a_j, b free of every state in `states`? */
function linearInStates(e: SymExpr, states: readonly string[]): boolean {
  let rest = e;
  for (const x of states) {
    const r = linearIn(rest, x);
    if (r.kind === 'nonlinear') return false;
    if (states.some((s) => dependsOn(r.coeff, s))) return false;
    rest = r.rest;
  }
  return true;
}

/**
 * The span of the smallest part of `state`'s equation, as written, that is not linear in the
 * states (`a * x * (1 - g)`, `exp(v / s)`, the name of a subexpression), for the diagnostic.
 */
function nonlinearSubterm(
  model: NeuronModel | SynapseModel,
  options: Pick<DeriveOptions, 'ltcInput'>,
  state: string,
  states: readonly string[],
): Span | undefined {
  const equation = model.equations.find((e) => e.state === state);
  if (equation === undefined) return undefined;
  const subexpressions = subexpressionValues(model);
  const ltc = ltcSubstitution(model, options);
  let best: Span | undefined;
  for (const node of irNodes(equation.rhs)) {
    const length = node.span.end - node.span.start;
    if (best !== undefined && length >= best.end - best.start) continue;
    let e = toSymbolic(node, { subexpressions, wiener: num(0) });
    if (ltc !== undefined) e = substitute(e, ltc);
    if (!linearInStates(e, states)) best = node.span;
  }
  return best;
}

/**
 * Derives the update of `model` (see the module comment), or the diagnostics that say why
 * there is none (`exact` on a non-linear or cyclic system, wiener() not additive).
 */
export function deriveUpdate(
  model: NeuronModel | SynapseModel,
  options: DeriveOptions = {},
): DerivedUpdate | DeriveError {
  const diagnostics = new Diagnostics();
  const spanOf = (state: string) =>
    model.equations.find((e) => e.state === state)?.span ?? model.span;
  const split = splitEquations(model, options);
  if ('message' in split) {
    diagnostics.error(spanOf(split.state), split.message, {
      notes: [
        'the noise is integrated by Euler-Maruyama: x += sigma * sqrt(dt) * N(0, 1) after the deterministic step',
      ],
    });
    return { kind: 'error', diagnostics: diagnostics.items };
  }
  const method = options.method ?? model.method;
  const fs = new Map(split.map((s) => [s.state, s.f]));
  const values = new Map<string, SymExpr>();
  const reasons = new Map<string, string>();

  switch (method) {
    case 'exp_euler':
      for (const [state, f] of fs) {
        const { value, reason } = expEuler(state, f, diff(f, state));
        values.set(state, value);
        reasons.set(state, reason);
      }
      break;
    case 'exact': {
      const states = [...fs.keys()];
      const result = exactPropagator(fs, states);
      if (result.kind === 'nonlinear') {
        const others = [...freeSymbols(result.term)].filter((s) => fs.has(s) && s !== result.wrt);
        const what =
          others.length > 0
            ? `a product of ${result.wrt} and ${others.join(', ')}`
            : `not linear in ${result.wrt}`;
        const where = nonlinearSubterm(model, options, result.state, [...fs.keys()]);
        diagnostics.error(
          spanOf(result.state),
          `method exact needs linear equations with constant coefficients, but d${result.state}/dt has the non-linear term ${formatMath(result.term)}`,
          {
            label: what,
            ...(where === undefined
              ? {}
              : { secondary: [{ span: where, message: 'this term is not linear' }] }),
            notes: ['use method exp_euler (the default), rk2 or rk4 for a non-linear system'],
          },
        );
        return { kind: 'error', diagnostics: diagnostics.items };
      }
      if (result.kind === 'cycle') {
        const loop = [...result.cycle, result.cycle[0]!].join(' -> ');
        diagnostics.error(
          spanOf(result.cycle[0]!),
          `method exact supports linear systems whose states do not drive each other in a circle, but here ${loop} (each depends on the next)`,
          {
            notes: [
              'the exact propagator is derived for triangular systems (e.g. g driven by h, h on its own); use method exp_euler, rk2 or rk4 here',
            ],
          },
        );
        return { kind: 'error', diagnostics: diagnostics.items };
      }
      for (const [state, value] of result.values) values.set(state, value);
      for (const [state, reason] of result.reasons) reasons.set(state, reason);
      break;
    }
    case 'euler':
      for (const [state, f] of fs) {
        values.set(state, add(sym(state), mul(DT, f)));
        reasons.set(state, METHOD_REASONS.euler);
      }
      break;
    case 'rk2':
    case 'rk4': {
      const tableau = method === 'rk2' ? RK2 : RK4;
      for (const [state, value] of rungeKutta(fs, tableau.a, tableau.b, tableau.c)) {
        values.set(state, value);
        reasons.set(state, METHOD_REASONS[method]);
      }
      break;
    }
  }

  const noisy = split.filter((s) => !isNum(s.noise, 0));
  if (noisy.length > 0) {
    for (const s of noisy) {
      reasons.set(
        s.state,
        `${reasons.get(s.state)!}; noise ${formatMath(s.noise)} * wiener(): Euler-Maruyama, + amplitude*sqrt(dt)*N(0,1) after the step`,
      );
    }
  }
  const roots = [...fs.keys()].map((s) => values.get(s)!);
  const amplitudes = noisy.map((s) => s.noise);
  let temporaries: { name: string; value: SymExpr }[] = [];
  let finalRoots = [...roots, ...amplitudes];
  if (options.optimize !== false) {
    const optimized = optimize(finalRoots);
    temporaries = [...optimized.temporaries];
    finalRoots = [...optimized.roots];
  }
  const states = [...fs.keys()].map((state, i) => ({
    state,
    value: finalRoots[i]!,
    method,
    reason: reasons.get(state)!,
  }));
  const noise = noisy.map((s, i) => ({ state: s.state, amplitude: finalRoots[roots.length + i]! }));
  return { kind: 'update', temporaries, states, noise };
}

/** Narrows the result of {@link deriveUpdate}. */
export function isDeriveError(r: DerivedUpdate | DeriveError): r is DeriveError {
  return r.kind === 'error';
}

/** Every symbol an update reads (start-of-step states, parameters, inputs, t, dt...), temporaries excluded. */
export function updateInputs(update: DerivedUpdate): Set<string> {
  const temps = new Set(update.temporaries.map((t) => t.name));
  const names = new Set<string>();
  const roots = [
    ...update.temporaries.map((t) => t.value),
    ...update.states.map((s) => s.value),
    ...update.noise.map((n) => n.amplitude),
  ];
  for (const r of roots) for (const s of freeSymbols(r)) if (!temps.has(s)) names.add(s);
  return names;
}
