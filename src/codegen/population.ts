import { InternalError, assertNever } from '../diagnostics/diagnostic.js';
import { constantValue } from '../ir/lower-expr.js';
import { dependencies, nodes } from '../ir/walk.js';
import type { Expr, Network, NeuronModel, Population, Statement, Stimulus } from '../ir/types.js';
import { streamId } from '../random/philox.js';
import { substitute } from '../symbolic/diff.js';
import * as S from '../symbolic/expr.js';
import { simplify } from '../symbolic/simplify.js';
import {
  INDEX,
  type KernelStatement,
  type PopulationKernel,
  REFRACTORY_STATE,
  SPIKED,
  STEP,
  TIME,
  nextName,
} from './kernel-ir.js';

/** Parameter values of a population: the model's defaults with the population's overrides. */
export function parameterValues(model: NeuronModel, population: Population): Map<string, number> {
  const values = new Map<string, number>();
  for (const p of model.parameters) {
    const given = population.parameters.find((o) => o.name === p.name)?.value ?? p.value;
    const v = given === undefined ? undefined : constantValue(given);
    if (v === undefined) throw new InternalError(`parameter ${p.name} of ${population.name} has no constant value`);
    values.set(p.name, v);
  }
  return values;
}

/** How a reference or a special form becomes symbolic; undefined falls back to the default. */
type Hook = (e: Expr) => S.Expr | undefined;

/**
 * IR expression to symbolic expression. References become symbols named as in
 * the source (`post.V` for members); `hook` decides special cases first
 * (renaming states, stimuli's section and random draws).
 */
export function irToSymbolic(e: Expr, hook: Hook = () => undefined): S.Expr {
  const hooked = hook(e);
  if (hooked !== undefined) return hooked;
  const rec = (x: Expr): S.Expr => irToSymbolic(x, hook);
  switch (e.kind) {
    case 'literal':
      return S.num(e.value);
    case 'bool':
      return S.cmp('==', S.num(e.value ? 1 : 0), S.num(1));
    case 'ref': {
      const r = e.ref;
      switch (r.kind) {
        case 'time':
          return S.sym(TIME);
        case 'dt':
          return S.sym('dt');
        case 'weight':
          return S.sym('w');
        case 'delivered':
          return S.sym('g');
        case 'post':
        case 'pre':
          return S.sym(`${r.kind}.${r.name}`);
        default:
          return S.sym(r.name);
      }
    }
    case 'prev':
      return S.sym(e.state);
    case 'unary':
      return e.op === 'neg' ? S.neg(rec(e.operand)) : S.not(rec(e.operand));
    case 'binary': {
      const a = rec(e.left);
      const b = rec(e.right);
      switch (e.op) {
        case '+':
          return S.add(a, b);
        case '-':
          return S.sub(a, b);
        case '*':
          return S.mul(a, b);
        case '/':
          return S.div(a, b);
        case '^':
          return S.pow(a, b);
        case 'and':
          return S.and(a, b);
        case 'or':
          return S.or(a, b);
        default:
          return S.cmp(e.op, a, b);
      }
    }
    case 'call': {
      const args = e.args.map(rec);
      if (e.fn === 'where') return S.where(args[0]!, args[1]!, args[2]!);
      if (e.fn === 'clip') return S.call('min', S.call('max', args[0]!, args[1]!), args[2]!);
      return S.call(e.fn as S.Fn, ...(args as [S.Expr]));
    }
    case 'random':
    case 'wiener':
    case 'section':
      throw new InternalError(`${e.kind} must be handled before code generation`);
    default:
      return assertNever(e);
  }
}

/** Builds kernel statements for a population, numbering random draws so that each has its own purpose. */
class KernelBuilder {
  readonly body: KernelStatement[] = [];
  private purpose = 0;

  constructor(
    private readonly seedStream: string,
    private readonly dt: number,
  ) {}

  random(distribution: 'normal' | 'uniform'): S.Expr {
    const name = `@rand${this.purpose}`;
    this.body.push({ kind: 'random', name, distribution, stream: streamId(this.seedStream), purpose: this.purpose });
    this.purpose += 1;
    return S.sym(name);
  }

  /** A stimulus as symbolic input current: sections become step comparisons, random forms become draws. */
  stimulus(s: Stimulus, states: ReadonlySet<string>, populationSize: number): S.Expr {
    const hook: Hook = (e) => {
      switch (e.kind) {
        case 'ref':
          return e.ref.kind === 'state' && states.has(e.ref.name) ? S.sym(e.ref.name) : undefined;
        case 'wiener':
          // The Wiener increment over the step, N(0, dt) with dt in ms (BrainPy's wiener_process).
          return S.mul(S.num(Math.sqrt(this.dt)), this.random('normal'));
        case 'random': {
          const [a, b] = e.args.map((x) => irToSymbolic(x, hook)) as [S.Expr, S.Expr];
          return e.distribution === 'normal'
            ? S.add(a, S.mul(b, this.random('normal')))
            : S.add(a, S.mul(S.sub(b, a), this.random('uniform')));
        }
        case 'section': {
          // Segment k covers steps [round(T_k/dt), round(T_{k+1}/dt)), T_k the summed durations before it.
          let end = 0;
          const bounds = e.durations.map((d) => {
            end += constantValue(d) ?? 0;
            return Math.round(end / this.dt);
          });
          let result: S.Expr = S.num(0);
          for (let k = e.values.length - 1; k >= 0; k--) {
            result = S.where(S.cmp('<', S.sym(STEP), S.num(bounds[k]!)), irToSymbolic(e.values[k]!, hook), result);
          }
          return result;
        }
        default:
          return undefined;
      }
    };
    const value = irToSymbolic(s.value, hook);
    if (s.range.start === 0 && s.range.end === populationSize) return value;
    const inRange = S.and(S.cmp('>=', S.sym(INDEX), S.num(s.range.start)), S.cmp('<', S.sym(INDEX), S.num(s.range.end)));
    return S.where(inRange, value, S.num(0));
  }
}

/** The states whose value the spike condition tests: those are held during the refractory period. */
function heldStates(model: NeuronModel): string[] {
  if (model.spike === undefined) return [];
  const held = new Set(dependencies(model.spike, 'state'));
  for (const n of nodes(model.spike)) if (n.kind === 'prev') held.add(n.state);
  return [...held];
}

/** Event statements update `@next` locals in order; `prev(X)` reads the start-of-step value. */
function eventStatements(body: readonly Statement[], states: ReadonlySet<string>, bind: (e: S.Expr) => S.Expr): KernelStatement[] {
  const hook: Hook = (e) => {
    if (e.kind === 'ref' && e.ref.kind === 'state' && states.has(e.ref.name)) return S.sym(nextName(e.ref.name));
    if (e.kind === 'prev') return S.sym(e.state);
    return undefined;
  };
  const toSym = (e: Expr): S.Expr => bind(irToSymbolic(e, hook));
  return body.map((s): KernelStatement => {
    if (s.kind === 'if') {
      return { kind: 'if', condition: toSym(s.condition), then: eventStatements(s.then, states, bind), otherwise: eventStatements(s.otherwise, states, bind) };
    }
    if (s.target.kind !== 'state') throw new InternalError('a neuron event can only assign its own states');
    const target = S.sym(nextName(s.target.name));
    const value = toSym(s.value);
    const combined = s.op === '=' ? value : s.op === '+=' ? S.add(target, value) : s.op === '-=' ? S.sub(target, value) : s.op === '*=' ? S.mul(target, value) : S.div(target, value);
    return { kind: 'set', name: nextName(s.target.name), value: combined };
  });
}

/** The derived update the integrator provides, in the shape the kernel needs. */
export interface NeuronUpdate {
  readonly temporaries: readonly { readonly name: string; readonly value: S.Expr }[];
  readonly states: readonly { readonly state: string; readonly value: S.Expr }[];
  readonly noise: readonly { readonly state: string; readonly amplitude: S.Expr }[];
}

/**
 * One population's step as kernel IR, following language.md "One step":
 * stimuli at t_n, the derived update, the refractory hold, the spike test and
 * the reset. Parameters and dt are folded in as constants, so each population
 * gets a kernel specialised to its values.
 */
export function buildPopulationKernel(network: Network, population: Population, update: NeuronUpdate): PopulationKernel {
  if (population.source.kind !== 'neuron') throw new InternalError(`population ${population.name} is not made of neurons`);
  const model = population.source.model;
  const params = parameterValues(model, population);
  const constants = new Map<string, S.Expr>([...params].map(([k, v]) => [k, S.num(v)]));
  constants.set('dt', S.num(network.dt));
  const bind = (e: S.Expr): S.Expr => simplify(substitute(e, constants));
  const states = new Set(model.states.map((s) => s.name));
  const builder = new KernelBuilder(`${network.name}.${population.name}`, network.dt);
  const body = builder.body;
  // t_n = n * dt from the integer step counter, rounded like any product on each target.
  body.push({ kind: 'let', name: TIME, value: S.mul(S.sym(STEP), S.num(network.dt)) });

  if (model.input !== undefined) {
    const stimuli = network.stimuli.filter((s) => s.population === population.name);
    const current = stimuli.reduce<S.Expr>((sum, s) => S.add(sum, builder.stimulus(s, states, population.size)), S.num(0));
    body.push({ kind: 'let', name: model.input.name, value: bind(current) });
  }
  for (const t of update.temporaries) {
    // With the parameters folded in, many temporaries are constants: fold them into their uses.
    const value = bind(t.value);
    if (value.kind === 'num') constants.set(t.name, value);
    else body.push({ kind: 'let', name: t.name, value });
  }
  const integrated = new Set(update.states.map((s) => s.state));
  for (const s of update.states) body.push({ kind: 'let', name: nextName(s.state), value: bind(s.value) });
  for (const s of model.states) if (!integrated.has(s.name)) body.push({ kind: 'let', name: nextName(s.name), value: S.sym(s.name) });
  for (const n of update.noise) {
    // Euler-Maruyama: x += sigma * sqrt(dt) * xi after the deterministic step.
    const xi = builder.random('normal');
    const next = S.sym(nextName(n.state));
    body.push({ kind: 'set', name: nextName(n.state), value: bind(S.add(next, S.mul(n.amplitude, S.pow(S.sym('dt'), S.num(0.5)), xi))) });
  }

  const refractory = model.refractory === undefined ? S.num(0) : bind(irToSymbolic(model.refractory));
  if (refractory.kind !== 'num') throw new InternalError(`the refractory period of ${population.name} is not a constant`);
  // Counted in whole steps, never by comparing float times.
  const refractorySteps = Math.round(refractory.value / network.dt);
  const kernelStates = [...model.states.map((s) => s.name)];
  if (refractorySteps > 0) {
    kernelStates.push(REFRACTORY_STATE);
    const counter = S.sym(REFRACTORY_STATE);
    body.push({ kind: 'let', name: nextName(REFRACTORY_STATE), value: counter });
    body.push({
      kind: 'if',
      condition: S.cmp('>', counter, S.num(0.5)),
      then: [
        ...heldStates(model).map((v): KernelStatement => ({ kind: 'set', name: nextName(v), value: S.sym(v) })),
        { kind: 'set', name: nextName(REFRACTORY_STATE), value: S.sub(counter, S.num(1)) },
      ],
      otherwise: [],
    });
  }
  if (model.spike !== undefined) {
    const spikeHook: Hook = (e) => (e.kind === 'ref' && e.ref.kind === 'state' ? S.sym(nextName(e.ref.name)) : e.kind === 'prev' ? S.sym(e.state) : undefined);
    body.push({ kind: 'letBool', name: SPIKED, value: bind(irToSymbolic(model.spike, spikeHook)) });
    const onSpike = eventStatements(model.reset, states, bind);
    if (refractorySteps > 0) onSpike.push({ kind: 'set', name: nextName(REFRACTORY_STATE), value: S.num(refractorySteps) });
    if (onSpike.length > 0) body.push({ kind: 'if', condition: S.sym(SPIKED), then: onSpike, otherwise: [] });
  }
  return { population: population.name, size: population.size, states: kernelStates, body, spikes: model.spike !== undefined };
}
