/**
 * Float64 reference semantics: an evaluator of IR expressions and statements, a compiler of
 * derived updates to float64 closures, and a reference stepper for one neuron model
 * ({@link simulateNeuron64}) that follows language.md "One step" for a single population.
 * The backends' conformance tests compare against it; the CPU backend can use it as its
 * reference mode.
 */

import { stepsIn } from '../codegen/steps.js';
import { InternalError, assertNever } from '../diagnostics/diagnostic.js';
import type {
  DynamicsModel,
  Expr as IrExpr,
  IntegrationMethod,
  NeuronModel,
  Statement,
} from '../ir/types.js';
import { constantValue } from '../ir/lower-expr.js';
import type { Expr as SymExpr } from '../symbolic/expr.js';
import { applyFn, compare, evaluate, truthy } from '../symbolic/evaluate.js';
import { type DeriveOptions, type DerivedUpdate, deriveUpdate } from './derive.js';
import { heldState, refName } from '../ir/walk.js';
import { arithmetic } from '../ir/lower-expr.js';

/** What an IR expression reads, by symbol name (`V`, `tau`, `I`, `t`, `dt`, `w`, `g`, `post.V`). */
export interface IrEnv {
  /** The value of a name; subexpressions too (see {@link modelEnv}). Throws for unknown names. */
  readonly get: (name: string) => number;
  /** The start-of-step value of a state, for `prev(X)`; defaults to `get`. */
  readonly prev?: (state: string) => number;
  /** A random draw for `normal(a, b)` (mean, sd) / `uniform(a, b)` (low, high). */
  readonly random?: (distribution: 'normal' | 'uniform', a: number, b: number) => number;
  /** The value of `wiener()`. */
  readonly wiener?: () => number;
}

/**
 * Evaluates an IR expression in float64. Comparisons and logic give 1/0 (`bool` nodes too);
 * `where` evaluates the branch it takes; `section(values, durations)` is values[k] while
 * sum(durations[<k]) <= t < sum(durations[<=k]), 0 afterwards (t from `get('t')`).
 */
export function evaluateIr(e: IrExpr, env: IrEnv): number {
  const ev = (x: IrExpr): number => evaluateIr(x, env);
  switch (e.kind) {
    case 'literal':
      return e.value;
    case 'bool':
      return e.value ? 1 : 0;
    case 'ref':
      return env.get(refName(e.ref));
    case 'prev':
      return (env.prev ?? env.get)(e.state);
    case 'unary':
      return e.op === 'neg' ? -ev(e.operand) : truthy(ev(e.operand)) ? 0 : 1;
    case 'binary': {
      switch (e.op) {
        case 'and':
          return truthy(ev(e.left)) && truthy(ev(e.right)) ? 1 : 0;
        case 'or':
          return truthy(ev(e.left)) || truthy(ev(e.right)) ? 1 : 0;
        default:
          break;
      }
      const a = ev(e.left);
      const b = ev(e.right);
      return e.op === '+' || e.op === '-' || e.op === '*' || e.op === '/' || e.op === '^'
        ? arithmetic(e.op, a, b)
        : compare(e.op, a, b);
    }
    case 'call': {
      switch (e.fn) {
        case 'where': {
          const [c, a, b] = e.args as [IrExpr, IrExpr, IrExpr];
          return truthy(ev(c)) ? ev(a) : ev(b);
        }
        case 'clip': {
          const [x, lo, hi] = e.args.map(ev) as [number, number, number];
          return Math.min(Math.max(x, lo), hi);
        }
        default:
          return applyFn(e.fn, e.args.map(ev));
      }
    }
    case 'random': {
      if (env.random === undefined)
        throw new Error(`evaluateIr: a random ${e.distribution}(...) draw needs env.random`);
      return env.random(e.distribution, ev(e.args[0]), ev(e.args[1]));
    }
    case 'wiener':
      if (env.wiener === undefined) throw new Error('evaluateIr: wiener() needs env.wiener');
      return env.wiener();
    case 'section': {
      const t = env.get('t');
      let start = 0;
      for (let k = 0; k < e.values.length; k++) {
        const end = start + ev(e.durations[k]!);
        if (t >= start && t < end) return ev(e.values[k]!);
        start = end;
      }
      return 0;
    }
    default:
      return assertNever(e);
  }
}

/**
 * An env that reads `values` and computes the model's named subexpressions from them
 * (afresh at every use, so that they see assignments made by event statements). Unknown
 * names throw.
 */
export function modelEnv(
  model: Pick<DynamicsModel, 'subexpressions'>,
  values: (name: string) => number | undefined,
  extra: Omit<IrEnv, 'get'> = {},
): IrEnv {
  const subs = new Map(model.subexpressions.map((s) => [s.name, s.value]));
  const env: IrEnv = {
    ...extra,
    get: (name) => {
      const v = values(name);
      if (v !== undefined) return v;
      const sub = subs.get(name);
      if (sub === undefined) throw new Error(`evaluateIr: no value for '${name}'`);
      // Not cached: event statements change the values a subexpression reads.
      return evaluateIr(sub, env);
    },
  };
  return env;
}

/**
 * Runs event statements (reset, on_pre) in order: each assignment sees the earlier ones.
 * `vars` holds the assignable values by symbol name (states, `w`, `post.V`) and is updated in
 * place; `env` is consulted for everything else and should read `vars` first.
 */
export function executeStatements(
  body: readonly Statement[],
  vars: Record<string, number>,
  env: IrEnv,
): void {
  for (const s of body) {
    if (s.kind === 'if') {
      executeStatements(truthy(evaluateIr(s.condition, env)) ? s.then : s.otherwise, vars, env);
      continue;
    }
    const name =
      s.target.kind === 'state'
        ? s.target.name
        : s.target.kind === 'weight'
          ? 'w'
          : `${s.target.kind}.${s.target.name}`;
    const value = evaluateIr(s.value, env);
    const old = s.op === '=' ? 0 : (vars[name] ?? env.get(name));
    switch (s.op) {
      case '=':
        vars[name] = value;
        break;
      case '+=':
        vars[name] = old + value;
        break;
      case '-=':
        vars[name] = old - value;
        break;
      case '*=':
        vars[name] = old * value;
        break;
      case '/=':
        vars[name] = old / value;
        break;
      default:
        assertNever(s.op);
    }
  }
}

/** The parameter values of a model: defaults, replaced by `overrides`. Throws for a parameter with neither. */
export function parameterValues(
  model: Pick<DynamicsModel, 'name' | 'parameters'>,
  overrides: Readonly<Record<string, number>> = {},
): Record<string, number> {
  const known = new Set(model.parameters.map((p) => p.name));
  for (const name of Object.keys(overrides)) {
    if (!known.has(name)) throw new Error(`model '${model.name}' has no parameter '${name}'`);
  }
  const values: Record<string, number> = {};
  for (const p of model.parameters) {
    const v = overrides[p.name] ?? (p.value === undefined ? undefined : constantValue(p.value));
    if (v === undefined)
      throw new Error(
        `parameter '${p.name}' of model '${model.name}' has no default and no value was given`,
      );
    values[p.name] = v;
  }
  return values;
}

/**
 * Initial state values: `overrides` first, then each state's initial value (which may use
 * parameters, other states and subexpressions; `t` = 0 and the input current = 0 there).
 * A random initial value needs `random` (or an override).
 */
export function initialStateValues(
  model: DynamicsModel & { readonly input?: NeuronModel['input'] },
  parameters: Readonly<Record<string, number>>,
  options: {
    readonly dt: number;
    readonly overrides?: Readonly<Record<string, number>>;
    readonly random?: IrEnv['random'];
  },
): Record<string, number> {
  const overrides = options.overrides ?? {};
  const states = new Map(model.states.map((s) => [s.name, s]));
  for (const name of Object.keys(overrides)) {
    if (!states.has(name)) throw new Error(`model '${model.name}' has no state '${name}'`);
  }
  const values: Record<string, number> = {};
  const inProgress = new Set<string>();
  const inputName = model.input?.name;
  const env: IrEnv = modelEnv(
    model,
    (name) => {
      if (Object.hasOwn(parameters, name)) return parameters[name];
      if (states.has(name)) return stateValue(name);
      if (name === 't') return 0;
      if (name === 'dt') return options.dt;
      if (name === inputName) return 0;
      return undefined;
    },
    options.random === undefined ? {} : { random: options.random },
  );
  const stateValue = (name: string): number => {
    const known = values[name];
    if (known !== undefined) return known;
    if (inProgress.has(name))
      throw new InternalError(`the initial value of '${name}' depends on itself`);
    inProgress.add(name);
    const s = states.get(name)!;
    let v = overrides[name];
    if (v === undefined) {
      if (s.init.kind === 'zero') v = 0;
      else if (s.init.kind === 'distribution' && options.random === undefined) {
        throw new Error(
          `state '${name}' of model '${model.name}' has a random initial value: give it in 'initial' (or pass a random source)`,
        );
      } else v = evaluateIr(s.init.value, env);
    }
    values[name] = v;
    inProgress.delete(name);
    return v;
  };
  for (const s of model.states) stateValue(s.name);
  return values;
}

/** A compiled update: reads and writes slots by index. */
export interface CompiledUpdate64 {
  /** Every symbol the update reads, in slot order (start-of-step states, parameters, input, t, dt...). */
  readonly inputs: readonly string[];
  /** Index of each input symbol in the slot array. */
  readonly slot: ReadonlyMap<string, number>;
  /** Fills `out` with x_{n+1} per state of `update.states`, in that order, from `slots`. */
  readonly step: (slots: Float64Array, out: Float64Array) => void;
  /** Fills `out` with the noise amplitudes of `update.noise`, in that order, from `slots` (after `step`). */
  readonly noise: (slots: Float64Array, out: Float64Array) => void;
}

type Closure = () => number;

/**
 * Compiles a derived update to float64 closures (the same arithmetic as `symbolic/evaluate`,
 * without its per-call memo table). `inputs` lists the symbols the caller provides; the
 * temporaries get slots after them.
 */
export function compileUpdate64(
  update: DerivedUpdate,
  inputs: readonly string[],
): CompiledUpdate64 {
  const slot = new Map<string, number>();
  inputs.forEach((name, i) => slot.set(name, i));
  const temps = update.temporaries.map((t, i) => {
    slot.set(t.name, inputs.length + i);
    return t;
  });
  const size = inputs.length + temps.length;
  let slots: Float64Array = new Float64Array(size);
  const compile = (e: SymExpr): Closure => {
    switch (e.kind) {
      case 'num': {
        const v = e.value;
        return () => v;
      }
      case 'sym': {
        const i = slot.get(e.name);
        if (i === undefined) throw new Error(`compileUpdate64: no value for symbol '${e.name}'`);
        return () => slots[i]!;
      }
      case 'add': {
        const parts = e.args.map(compile);
        if (parts.length === 2) {
          const [a, b] = parts as [Closure, Closure];
          return () => a() + b();
        }
        return () => {
          let s = 0;
          for (const p of parts) s += p();
          return s;
        };
      }
      case 'mul': {
        const parts = e.args.map(compile);
        if (parts.length === 2) {
          const [a, b] = parts as [Closure, Closure];
          return () => a() * b();
        }
        return () => {
          let p = 1;
          for (const f of parts) p *= f();
          return p;
        };
      }
      case 'pow': {
        const b = compile(e.base);
        if (e.exp.kind === 'num' && e.exp.value === -1) return () => 1 / b();
        const x = compile(e.exp);
        return () => Math.pow(b(), x());
      }
      case 'call': {
        const args = e.args.map(compile);
        const fn = e.fn;
        if (args.length === 1) {
          const a = args[0]!;
          return () => applyFn(fn, [a()]);
        }
        return () =>
          applyFn(
            fn,
            args.map((a) => a()),
          );
      }
      case 'where': {
        const c = compile(e.cond);
        const a = compile(e.then);
        const b = compile(e.else);
        return () => (truthy(c()) ? a() : b());
      }
      case 'cmp': {
        const a = compile(e.a);
        const b = compile(e.b);
        const op = e.op;
        return () => compare(op, a(), b());
      }
      case 'and': {
        const parts = e.args.map(compile);
        return () => (parts.every((p) => truthy(p())) ? 1 : 0);
      }
      case 'or': {
        const parts = e.args.map(compile);
        return () => (parts.some((p) => truthy(p())) ? 1 : 0);
      }
      case 'not': {
        const a = compile(e.arg);
        return () => (truthy(a()) ? 0 : 1);
      }
    }
  };
  const tempClosures = temps.map((t) => ({ index: slot.get(t.name)!, f: compile(t.value) }));
  const stateClosures = update.states.map((s) => compile(s.value));
  const noiseClosures = update.noise.map((n) => compile(n.amplitude));
  const withSlots = (given: Float64Array): void => {
    if (given.length < size)
      throw new Error(`compileUpdate64: the slot array needs ${size} entries`);
    slots = given;
  };
  return {
    inputs,
    slot,
    step: (given, out) => {
      withSlots(given);
      for (const t of tempClosures) given[t.index] = t.f();
      stateClosures.forEach((f, i) => (out[i] = f()));
    },
    noise: (given, out) => {
      withSlots(given);
      noiseClosures.forEach((f, i) => (out[i] = f()));
    },
  };
}

/** A seeded standard normal generator (mulberry32 + Box–Muller), for noise in the reference stepper. */
export function seededNormal(seed: number): () => number {
  let a = seed >>> 0;
  const uniform = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  let spare: number | undefined;
  return () => {
    if (spare !== undefined) {
      const s = spare;
      spare = undefined;
      return s;
    }
    let u = 0;
    while (u === 0) u = uniform();
    const v = uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
}

export interface SimulateNeuronOptions {
  /** Time step, ms. */
  readonly dt: number;
  readonly steps: number;
  /** The external input current at t_n (in the model's input unit, internal units); default 0. */
  readonly input?: (t: number) => number;
  /** Initial values of states (required for random initial values). */
  readonly initial?: Readonly<Record<string, number>>;
  /** Integrate with this method instead of the model's. */
  readonly method?: IntegrationMethod;
  /** Passed to deriveUpdate (e.g. ltcInput). */
  readonly derive?: Omit<DeriveOptions, 'method'>;
  /** Standard normal draws for wiener() terms; default {@link seededNormal}(seed). */
  readonly normal?: () => number;
  readonly seed?: number;
}

export interface NeuronSimulation {
  /** Post-step value of every state: traces[X][n] is X after step n (language.md step 5). */
  readonly traces: Readonly<Record<string, Float64Array>>;
  /** The steps n at which the neuron spiked (spike time t_n = n*dt). */
  readonly spikeSteps: readonly number[];
  /** The state after the last step. */
  readonly final: Readonly<Record<string, number>>;
  /** The update that was integrated. */
  readonly update: DerivedUpdate;
  /** Refractory period in steps, round(tau_ref/dt) (0 without `refractory`). */
  readonly refractorySteps: number;
}

/**
 * Simulates one neuron in float64, step n covering [t_n, t_n + dt) with t_n = n*dt:
 * I = input(t_n); every state integrated with the derived update (Jacobi, start-of-step
 * values; Euler–Maruyama noise after it); a neuron that spiked at step s holds V at its
 * start-of-step value during steps s+1 ... s+round(tau_ref/dt); the spike condition is
 * tested on the new state (prev(X) = start of step); reset runs where it spiked.
 */
export function simulateNeuron64(
  model: NeuronModel,
  parameters: Readonly<Record<string, number>>,
  options: SimulateNeuronOptions,
): NeuronSimulation {
  const { dt, steps } = options;
  const params = parameterValues(model, parameters);
  const derived = deriveUpdate(model, {
    ...(options.derive ?? {}),
    ...(options.method === undefined ? {} : { method: options.method }),
  });
  if (derived.kind === 'error')
    throw new Error(
      `cannot integrate '${model.name}': ${derived.diagnostics.map((d) => d.message).join('; ')}`,
    );
  const update = derived;
  const inputName = model.input?.name;
  const stateNames = model.states.map((s) => s.name);
  const inputs = [
    ...stateNames,
    ...Object.keys(params),
    ...(inputName === undefined ? [] : [inputName]),
    't',
    'dt',
  ];
  const compiled = compileUpdate64(update, inputs);
  const slots = new Float64Array(inputs.length + update.temporaries.length);
  for (const [name, v] of Object.entries(params)) slots[compiled.slot.get(name)!] = v;
  slots[compiled.slot.get('dt')!] = dt;
  const normal = options.normal ?? seededNormal(options.seed ?? 1);

  const state = initialStateValues(model, params, {
    dt,
    ...(options.initial === undefined ? {} : { overrides: options.initial }),
  });
  const refractorySteps =
    model.refractory === undefined
      ? 0
      : stepsIn(
          evaluateIr(
            model.refractory,
            modelEnv(model, (n) =>
              Object.hasOwn(params, n) ? params[n] : n === 'dt' ? dt : undefined,
            ),
          ),
          dt,
        );
  const held = heldState(model);
  const traces: Record<string, Float64Array> = Object.fromEntries(
    stateNames.map((s) => [s, new Float64Array(steps)]),
  );
  const spikeSteps: number[] = [];
  const out = new Float64Array(update.states.length);
  const amplitudes = new Float64Array(update.noise.length);
  const updatedIndex = update.states.map((s) => s.state);
  const noiseIndex = update.noise.map((n) => n.state);
  let lastSpike = -Infinity;

  for (let n = 0; n < steps; n++) {
    const t = n * dt;
    const start = { ...state };
    const current = options.input?.(t) ?? 0;
    for (const name of stateNames) slots[compiled.slot.get(name)!] = start[name]!;
    if (inputName !== undefined) slots[compiled.slot.get(inputName)!] = current;
    slots[compiled.slot.get('t')!] = t;
    compiled.step(slots, out);
    if (update.noise.length > 0) compiled.noise(slots, amplitudes);
    updatedIndex.forEach((name, i) => (state[name] = out[i]!));
    noiseIndex.forEach(
      (name, i) => (state[name] = state[name]! + amplitudes[i]! * Math.sqrt(dt) * normal()),
    );
    if (held !== undefined && n - lastSpike <= refractorySteps) state[held] = start[held]!;
    if (model.spike !== undefined) {
      const env = modelEnv(
        model,
        (name) => {
          if (Object.hasOwn(state, name)) return state[name];
          if (Object.hasOwn(params, name)) return params[name];
          if (name === inputName) return current;
          if (name === 't') return t;
          if (name === 'dt') return dt;
          return undefined;
        },
        { prev: (s) => start[s]! },
      );
      if (truthy(evaluateIr(model.spike, env))) {
        spikeSteps.push(n);
        lastSpike = n;
        executeStatements(model.reset, state, env);
      }
    }
    for (const name of stateNames) traces[name]![n] = state[name]!;
  }
  return { traces, spikeSteps, final: { ...state }, update, refractorySteps };
}

/**
 * Evaluates a derived update once in float64 with the symbolic evaluator (temporaries in
 * order, then every state and noise amplitude): the slow, obviously-correct path, for tests.
 * `env` binds every start-of-step symbol the update reads.
 */
export function evaluateUpdate(
  update: DerivedUpdate,
  env: Readonly<Record<string, number>>,
): { readonly states: Record<string, number>; readonly noise: Record<string, number> } {
  const scope: Record<string, number> = { ...env };
  for (const t of update.temporaries) scope[t.name] = evaluate(t.value, scope);
  const states: Record<string, number> = {};
  for (const s of update.states) states[s.state] = evaluate(s.value, scope);
  const noise: Record<string, number> = {};
  for (const n of update.noise) noise[n.state] = evaluate(n.amplitude, scope);
  return { states, noise };
}
