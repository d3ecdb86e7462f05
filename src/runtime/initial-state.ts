import { DiagnosticError, InternalError } from '../diagnostics/diagnostic.js';
import { type PopulationKernel, REFRACTORY_STEPS_STATE } from '../codegen/kernel-ir.js';
import { parameterValues } from '../codegen/population.js';
import { stepsIn } from '../codegen/steps.js';
import { dependencies } from '../ir/walk.js';
import { toSymbolic } from '../integrate/to-symbolic.js';
import { withStandardDraws } from '../codegen/synaptic-values.js';
import type { Expr, Network, NeuronModel, Population, SynapseModel } from '../ir/types.js';
import { streamId } from '../random/philox.js';
import { PHILOX_RUN_MAX, standardDraws } from '../random/philox-wasm.js';
import { freeSymbols, substitute } from '../symbolic/diff.js';
import { evaluate } from '../symbolic/evaluate.js';
import * as S from '../symbolic/expr.js';
import { simplify } from '../symbolic/simplify.js';

/**
 * Initial values of every state of a population, computed once on the host in
 * float64 and handed to every backend, so that all backends start from the
 * same numbers. Random initial values come from the Philox stream of
 * (network seed, "NETWORK.POPULATION.STATE"), element = neuron index.
 */
export function initialStates(
  network: Network,
  population: Population,
  kernel: Pick<PopulationKernel, 'states' | 'invariants'>,
): Map<string, Float64Array> {
  const states = kernel.states;
  if (population.source.kind !== 'neuron')
    return new Map(states.map((s) => [s, new Float64Array(population.size)]));
  const model = population.source.model;
  const n = population.size;
  const { bind } = startSymbols(network, population.parameters, model);

  const pending = new Map<string, InitialValue | undefined>();
  for (const s of model.states) {
    const override = population.states.find((o) => o.name === s.name);
    if (override !== undefined)
      pending.set(s.name, {
        kind: override.value.kind === 'random' ? 'distribution' : 'value',
        value: override.value,
      });
    else pending.set(s.name, s.init.kind === 'zero' ? undefined : s.init);
  }
  const result = initialValues(pending, bind, n, {
    seed: network.seed,
    key: `${network.name}.${population.name}`,
  });
  if (states.includes(REFRACTORY_STEPS_STATE))
    result.set(REFRACTORY_STEPS_STATE, refractorySteps(network, population, model, bind, result));
  // What the update computes from states that never change, once per neuron (StepInvariants).
  for (const { state, value } of kernel.invariants ?? []) {
    const [f] = perElement([value], new Map(), result, n)!;
    result.set(
      state,
      Float64Array.from({ length: n }, (_, i) => f!(i)),
    );
  }
  // Kernel bookkeeping (refractory counters, spike flags) starts at 0; merged synapse states start at their model's values.
  for (const s of states) if (!result.has(s)) result.set(s, new Float64Array(n));
  return result;
}

/**
 * Each neuron's refractory period in whole steps (stepsIn, as a period for the whole
 * population is), where the population sets a parameter of it per neuron: from that
 * parameter's values in `states`. A negative period is an error, as a negative delay is.
 */
function refractorySteps(
  network: Network,
  population: Population,
  model: NeuronModel,
  bind: Bind,
  states: ReadonlyMap<string, Float64Array>,
): Float64Array {
  const [period] = perElement(
    [bind(toSymbolic(model.refractory!))],
    new Map(),
    states,
    population.size,
  )!;
  const reads = new Set(dependencies(model.refractory!, 'state'));
  const periods = Float64Array.from({ length: population.size }, (_, i) => period!(i));
  const k = periods.findIndex((x) => !(x >= 0));
  if (k >= 0) {
    const count = periods.reduce((c, x) => c + (x >= 0 ? 0 : 1), 0);
    throw new DiagnosticError([
      {
        severity: 'error',
        // The population's line that sets the period per neuron.
        span: population.states.find((o) => reads.has(o.name))?.span ?? population.span,
        message: `${count} of the ${periods.length} refractory periods of population ${population.name} are negative or not a number, the first ${Number(periods[k]!.toPrecision(6))} ms for neuron ${k}`,
        secondary: [{ span: model.refractory!.span, message: 'the refractory period' }],
        notes: ['bound the draw, for example max(normal(2 ms, 0.5 ms), 0 ms)'],
      },
    ]);
  }
  return periods.map((x) => stepsIn(x, network.dt));
}

/**
 * A variable of a neuron population at the start, as a synapse state that starts from it
 * reads it (`post.X`, `pre.X`): a state's initial values (`states`, from initialStates), or a
 * subexpression of them (t = 0).
 */
export function neuronStartValue(
  network: Network,
  population: Population,
  states: ReadonlyMap<string, Float64Array>,
  name: string,
): Float64Array {
  const state = states.get(name);
  if (state !== undefined) return state;
  if (population.source.kind !== 'neuron')
    throw new InternalError(`population ${population.name} has no variable ${name}`);
  const { subexpressions } = startSymbols(network, population.parameters, population.source.model);
  const [value] = perElement([subexpressions.get(name)!], new Map(), states, population.size)!;
  return Float64Array.from({ length: population.size }, (_, i) => value!(i));
}

/** A neuron model's subexpressions and a converter with a population's parameters, dt and t = 0 substituted. */
function startSymbols(
  network: Network,
  parameters: Population['parameters'],
  model: NeuronModel,
): { subexpressions: Map<string, S.Expr>; bind: Bind } {
  const constants = new Map<string, S.Expr>(
    [...parameterValues(model, parameters)].map(([k, v]) => [k, S.num(v)]),
  );
  constants.set('dt', S.num(network.dt));
  constants.set('t', S.num(0));
  const subexpressions = new Map<string, S.Expr>();
  for (const sub of model.subexpressions)
    subexpressions.set(
      sub.name,
      simplify(substitute(substitute(toSymbolic(sub.value), subexpressions), constants)),
    );
  const bind = (e: S.Expr): S.Expr =>
    simplify(substitute(substitute(e, subexpressions), constants));
  return { subexpressions, bind };
}

/**
 * Initial values of a synapse model's states for `n` elements (post neurons of
 * merged state, pre neurons, or synapses) with its parameter values; `neurons` holds, per
 * element, the start values of the neuron variables they read (`post.V`). A state
 * drawn from a distribution (`s ~ uniform(0, 1)`) takes element i's draw from
 * the Philox stream of (network seed, "NETWORK.PROJECTION.STATE"), as
 * population states do; the others are the same for every element.
 */
export function synapseInitialStates(
  model: SynapseModel,
  parameters: ReadonlyMap<string, number>,
  n: number,
  random: { readonly seed: number; readonly key: string },
  rename: (state: string) => string = (x) => x,
  neurons: ReadonlyMap<string, Float64Array> = new Map(),
): Map<string, Float64Array> {
  const constants = new Map<string, S.Expr>([...parameters].map(([k, v]) => [k, S.num(v)]));
  const bind: Bind = (e) => simplify(substitute(e, constants));
  const pending = new Map<string, InitialValue | undefined>(
    model.states.map((s) => [s.name, s.init.kind === 'zero' ? undefined : s.init]),
  );
  const values = initialValues(pending, bind, n, random, neurons);
  return new Map(model.states.map((s) => [rename(s.name), values.get(s.name)!]));
}

/** A symbolic expression with every constant (parameters, dt, t = 0, subexpressions) substituted. */
type Bind = (e: S.Expr) => S.Expr;

/** A state's initial value: an expression, or a random draw per element. */
interface InitialValue {
  readonly kind: 'value' | 'distribution';
  readonly value: Expr;
}

/**
 * The initial values of states for `n` elements: element i's draw from the Philox stream of
 * (seed, "KEY.STATE") for a distribution, else the expression (its own draws numbered as in
 * a weight, withStandardDraws), evaluated per element where it uses other states (after those:
 * lowering rejected cycles) or the values `given` per element (a synapse's neurons' `post.X`,
 * `pre.X`). `bind` substitutes every constant; undefined starts at 0.
 */
function initialValues(
  pending: Map<string, InitialValue | undefined>,
  bind: Bind,
  n: number,
  random: { readonly seed: number; readonly key: string },
  given: ReadonlyMap<string, Float64Array> = new Map(),
): Map<string, Float64Array> {
  const result = new Map<string, Float64Array>(given);
  while (pending.size > 0) {
    const before = pending.size;
    for (const [name, init] of pending) {
      const values = new Float64Array(n);
      if (init?.kind === 'distribution') {
        if (init.value.kind !== 'random')
          throw new InternalError(`initial distribution of ${name} is not a random draw`);
        const distribution = init.value.distribution;
        // The distribution's arguments may use other states (`w ~ normal(V, 1 mV)`), element by element.
        const args = perElement(
          init.value.args.map((x) => bind(toSymbolic(x))),
          pending,
          result,
          n,
        );
        if (args === undefined) continue;
        const [a, b] = args as [(i: number) => number, (i: number) => number];
        const stream = streamId(`${random.key}.${name}`);
        const drawn = new Float64Array(Math.min(n, PHILOX_RUN_MAX));
        for (let from = 0; from < n; from += drawn.length) {
          const count = Math.min(drawn.length, n - from);
          standardDraws(distribution, random.seed, stream, 0, from, count, drawn);
          for (let i = from; i < from + count; i++)
            values[i] =
              distribution === 'normal'
                ? a(i) + b(i) * drawn[i - from]!
                : a(i) + (b(i) - a(i)) * drawn[i - from]!;
        }
      } else if (init !== undefined) {
        // Draws among other terms (`V = -70 mV + uniform(0 mV, 5 mV)`): the k-th is purpose k of
        // the state's stream, so `V = normal(a, b)` draws what `V ~ normal(a, b)` does.
        const { value: symbolic, draws } = withStandardDraws(init.value);
        const stream = streamId(`${random.key}.${name}`);
        const drawn = new Map(
          draws.map((d, purpose) => {
            const values = new Float64Array(n);
            for (let from = 0; from < n; from += PHILOX_RUN_MAX)
              standardDraws(
                d.distribution,
                random.seed,
                stream,
                purpose,
                from,
                Math.min(PHILOX_RUN_MAX, n - from),
                values.subarray(from),
              );
            return [d.name, values] as const;
          }),
        );
        // Without draws, converted directly: simplifying before the constants are in could round
        // differently from the other initial values.
        const expression = bind(draws.length === 0 ? toSymbolic(init.value) : symbolic);
        const value = perElement([expression], pending, new Map([...result, ...drawn]), n);
        if (value === undefined) continue;
        for (let i = 0; i < n; i++) values[i] = value[0]!(i);
      }
      result.set(name, values);
      pending.delete(name);
    }
    if (pending.size === before)
      throw new InternalError(
        `initial values of ${[...pending.keys()].join(', ')} depend on each other`,
      );
  }
  return result;
}

/**
 * Each expression as a function of the element index: a constant, or evaluated with element
 * i's values of the states it uses. Undefined while one of those states is still pending.
 */
function perElement(
  exprs: readonly S.Expr[],
  pending: ReadonlyMap<string, unknown>,
  result: ReadonlyMap<string, Float64Array>,
  n: number,
): ((i: number) => number)[] | undefined {
  const uses = exprs.map((e) => [...freeSymbols(e)]);
  if (uses.some((own) => own.some((u) => pending.has(u)))) return undefined;
  return exprs.map((expr, k) => {
    const own = uses[k]!;
    if (own.length === 0) {
      const value = evaluate(expr, {});
      return () => value;
    }
    const values = new Float64Array(n);
    const env = new Map<string, number>();
    for (let i = 0; i < n; i++) {
      // `i` that is no state is the element's index (a population's initial value, lowered so).
      for (const u of own) env.set(u, result.get(u)?.[i] ?? (u === 'i' ? i : Number.NaN));
      values[i] = evaluate(expr, env);
    }
    return (i: number) => values[i]!;
  });
}
