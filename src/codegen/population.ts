import { StepInvariants } from './step-invariants.js';
import { stepsIn } from './steps.js';
import { fromStandardDraw } from './synaptic-values.js';
import { InternalError } from '../diagnostics/diagnostic.js';
import { constantValue } from '../ir/lower-expr.js';
import { assignments, dependencies, heldState, readsNeuron } from '../ir/walk.js';
import type {
  AssignTarget,
  Expr,
  ModelUse,
  Network,
  NeuronModel,
  OutputModel,
  Override,
  Parameter,
  Population,
  Statement,
  Stimulus,
  SynapseModel,
} from '../ir/types.js';
import type { NetworkRouting, OwnSynapse } from './network.js';
import { streamId } from '../random/philox.js';
import { toSymbolic } from '../integrate/to-symbolic.js';
import { substitute } from '../symbolic/diff.js';
import * as S from '../symbolic/expr.js';
import { simplify } from '../symbolic/simplify.js';
import {
  CURSOR_STATE,
  INDEX,
  type KernelStatement,
  type PopulationKernel,
  REFRACTORY_STATE,
  REFRACTORY_STEPS_STATE,
  SPIKED,
  STEP,
  TIME,
  nextName,
} from './kernel-ir.js';

/**
 * Parameter values at one use of a model (a population, or a projection's synapse or
 * output): the value given there, else the model's default. Lowering has checked that
 * every parameter has one and that it is constant.
 */
export function parameterValues(
  model: { readonly name: string; readonly parameters: readonly Parameter[] },
  given: readonly Override[],
): Map<string, number> {
  const values = new Map<string, number>();
  for (const p of model.parameters) {
    const value = given.find((o) => o.name === p.name)?.value ?? p.value;
    const v = value === undefined ? undefined : constantValue(value);
    if (v === undefined) throw new InternalError(`${model.name}.${p.name} has no constant value`);
    values.set(p.name, v);
  }
  return values;
}

/** How a node becomes symbolic in a kernel context; undefined falls back to the default conversion. */
type Hook = (e: Expr) => S.Expr | undefined;

/**
 * IR to symbolic with a hook; the model's subexpressions are inlined, each
 * converted with the same hook (so the states inside them are renamed too).
 */
export function symbolic(
  e: Expr,
  hook?: Hook,
  model?: { readonly subexpressions: readonly { readonly name: string; readonly value: Expr }[] },
): S.Expr {
  const subexpressions = new Map<string, S.Expr>();
  const options = hook === undefined ? { subexpressions } : { subexpressions, hook };
  for (const sub of model?.subexpressions ?? [])
    subexpressions.set(sub.name, toSymbolic(sub.value, options));
  return toSymbolic(e, options);
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
    this.body.push({
      kind: 'random',
      name,
      distribution,
      stream: streamId(this.seedStream),
      purpose: this.purpose,
    });
    this.purpose += 1;
    return S.sym(name);
  }

  /**
   * A value written in the network that varies per step and per neuron (a stimulus, a Poisson
   * rate) in symbolic form: sections become step comparisons, random forms become draws, `i`
   * is the neuron index counted from `firstIndex`.
   */
  networkValue(value: Expr, firstIndex: number, states: ReadonlySet<string> = new Set()): S.Expr {
    const hook: Hook = (e) => {
      switch (e.kind) {
        case 'ref':
          if (e.ref.kind === 'index') return S.sub(S.sym(INDEX), S.num(firstIndex));
          return e.ref.kind === 'state' && states.has(e.ref.name) ? S.sym(e.ref.name) : undefined;
        case 'wiener':
          // The Wiener increment over the step, N(0, dt) with dt in ms (BrainPy's wiener_process).
          return S.mul(S.num(Math.sqrt(this.dt)), this.random('normal'));
        case 'random': {
          const [a, b] = e.args.map((x) => symbolic(x, hook)) as [S.Expr, S.Expr];
          return fromStandardDraw(e.distribution, a, b, this.random(e.distribution));
        }
        case 'section': {
          // Segment k covers steps [round(T_k/dt), round(T_{k+1}/dt)), T_k the summed durations before it.
          let end = 0;
          const bounds = e.durations.map((d) => {
            end += constantValue(d) ?? 0;
            return stepsIn(end, this.dt);
          });
          let result: S.Expr = S.num(0);
          for (let k = e.values.length - 1; k >= 0; k--) {
            result = S.where(
              S.cmp('<', S.sym(STEP), S.num(bounds[k]!)),
              symbolic(e.values[k]!, hook),
              result,
            );
          }
          return result;
        }
        default:
          return undefined;
      }
    };
    return symbolic(value, hook);
  }

  /** A stimulus as symbolic input current, zero outside its slice. */
  stimulus(s: Stimulus, states: ReadonlySet<string>, populationSize: number): S.Expr {
    const value = this.networkValue(s.value, s.range.start, states);
    if (s.range.start === 0 && s.range.end === populationSize) return value;
    const inRange = S.and(
      S.cmp('>=', S.sym(INDEX), S.num(s.range.start)),
      S.cmp('<', S.sym(INDEX), S.num(s.range.end)),
    );
    return S.where(inRange, value, S.num(0));
  }
}

/**
 * Event statements, in order, each assigning the local `local(state)` (a reset:
 * `V@next`; on_pre: `x@in`) of the kernel state `stateOf(target)`: the model's own
 * states, and in a per-synapse kernel the weight (WEIGHT_STATE) and what it adds to its
 * post neuron (`jumpState`).
 */
function eventStatements(
  body: readonly Statement[],
  toSym: (e: Expr) => S.Expr,
  stateOf: (target: AssignTarget) => string | undefined,
  local: (state: string) => string,
): KernelStatement[] {
  return body.map((s): KernelStatement => {
    if (s.kind === 'if') {
      return {
        kind: 'if',
        condition: toSym(s.condition),
        then: eventStatements(s.then, toSym, stateOf, local),
        otherwise: eventStatements(s.otherwise, toSym, stateOf, local),
      };
    }
    const state = stateOf(s.target);
    if (state === undefined)
      throw new InternalError(`an event block here cannot assign ${s.target.kind}`);
    const name = local(state);
    const target = S.sym(name);
    const value = toSym(s.value);
    const combined =
      s.op === '='
        ? value
        : s.op === '+='
          ? S.add(target, value)
          : s.op === '-='
            ? S.sub(target, value)
            : s.op === '*='
              ? S.mul(target, value)
              : S.div(target, value);
    return { kind: 'set', name, value: combined };
  });
}

/** A hook that reads states at the end of the step (`@next`), `prev(X)` at its start, subexpressions inlined. */
function endOfStepHook(
  states: ReadonlySet<string>,
  rename: (state: string) => string = (x) => x,
): Hook {
  return (e) => {
    if (e.kind === 'ref' && e.ref.kind === 'state' && states.has(e.ref.name))
      return S.sym(nextName(rename(e.ref.name)));
    if (e.kind === 'prev') return S.sym(rename(e.state));
    return undefined;
  };
}

/** The derived update the integrator provides, in the shape the kernel needs. */
export interface StateUpdate {
  readonly temporaries: readonly { readonly name: string; readonly value: S.Expr }[];
  readonly states: readonly { readonly state: string; readonly value: S.Expr }[];
  readonly noise: readonly { readonly state: string; readonly amplitude: S.Expr }[];
}

/** Values of a model's parameters at one use (population or projection), as symbolic constants. */
function constantsOf(values: ReadonlyMap<string, number>, dt: number): Map<string, S.Expr> {
  const constants = new Map<string, S.Expr>([...values].map(([k, v]) => [k, S.num(v)]));
  constants.set('dt', S.num(dt));
  return constants;
}

/**
 * Emits a derived update: temporaries (constant ones folded into their uses),
 * then `nextName(x)` for every state, then noise. `rename` maps the model's
 * names to kernel locals (so that several synapse models share one kernel).
 */
function emitUpdate(
  body: KernelStatement[],
  builder: KernelBuilder,
  update: StateUpdate,
  allStates: readonly string[],
  constants: Map<string, S.Expr>,
  rename: (name: string) => string,
  dt: number,
  invariants?: StepInvariants,
): void {
  const renames = new Map<string, S.Expr>();
  for (const x of allStates) renames.set(x, S.sym(rename(x)));
  for (const t of update.temporaries) renames.set(t.name, S.sym(rename(t.name)));
  const bind = (e: S.Expr): S.Expr => {
    const bound = simplify(substitute(substitute(e, constants), renames));
    return invariants === undefined ? bound : invariants.hoist(bound);
  };
  for (const t of update.temporaries) {
    const value = bind(t.value);
    invariants?.temporary(rename(t.name), value);
    if (value.kind === 'num' || invariants?.isHoisted(value) === true) renames.set(t.name, value);
    else body.push({ kind: 'let', name: rename(t.name), value });
  }
  const integrated = new Set(update.states.map((s) => s.state));
  for (const s of update.states)
    body.push({ kind: 'let', name: nextName(rename(s.state)), value: bind(s.value) });
  for (const x of allStates)
    if (!integrated.has(x))
      body.push({ kind: 'let', name: nextName(rename(x)), value: S.sym(rename(x)) });
  for (const n of update.noise) {
    // Euler-Maruyama: x += sigma * sqrt(dt) * xi after the deterministic step.
    const xi = builder.random('normal');
    const next = S.sym(nextName(rename(n.state)));
    body.push({
      kind: 'set',
      name: nextName(rename(n.state)),
      value: S.add(next, S.mul(bind(n.amplitude), S.num(Math.sqrt(dt)), xi)),
    });
  }
}

/** Everything a population's kernel needs to know about the synapses that feed it. */
export interface SynapticInputs {
  readonly routing: NetworkRouting;
  /** The derived update of each synapse model (merged groups integrate inside the post kernel). */
  readonly synapseUpdate: (model: SynapseModel) => StateUpdate;
  /** The neuron's update; for `current I (ltc)` it depends on the currents, which are given. */
  readonly neuronUpdate: (model: NeuronModel, ltcInput: S.Expr | undefined) => StateUpdate;
}

/**
 * Whether a population's refractory period differs between its neurons: it reads a parameter
 * the population sets per neuron (a state of the model it runs). Each neuron's period, in
 * steps, is then the state REFRACTORY_STEPS_STATE.
 */
export function perNeuronRefractory(population: Population): boolean {
  if (population.source.kind !== 'neuron') return false;
  const { model, perNeuronParameters } = population.source;
  if (model.refractory === undefined) return false;
  const reads = new Set(dependencies(model.refractory, 'state'));
  return perNeuronParameters.some((p) => reads.has(p));
}

/**
 * A neuron population's refractory period (ms) with its parameters, or undefined without one
 * or where it is set per neuron (perNeuronRefractory).
 */
export function refractoryPeriod(network: Network, population: Population): number | undefined {
  if (population.source.kind !== 'neuron' || perNeuronRefractory(population)) return undefined;
  const model = population.source.model;
  if (model.refractory === undefined) return undefined;
  const constants = constantsOf(parameterValues(model, population.parameters), network.dt);
  const period = simplify(substitute(symbolic(model.refractory), constants));
  if (period.kind !== 'num')
    throw new InternalError(`the refractory period of ${population.name} is not a constant`);
  return period.value;
}

/**
 * One population's step as kernel IR, following language.md "One step":
 * spikes delivered to merged synapse states (their counts), synapse states
 * integrated, stimuli at t_n and output currents with the start-of-step V, the
 * neuron's derived update, the refractory hold, the spike test and the reset.
 * Parameters and dt are folded in as constants, so each population gets a
 * kernel specialised to its values.
 */
export function buildPopulationKernel(
  network: Network,
  population: Population,
  inputs: SynapticInputs,
): PopulationKernel {
  const builder = new KernelBuilder(`${network.name}.${population.name}`, network.dt);
  const body = builder.body;
  // t_n = n * dt from the integer step counter, rounded like any product on each target.
  body.push({ kind: 'let', name: TIME, value: S.mul(S.sym(STEP), S.num(network.dt)) });
  if (population.source.kind === 'poisson') {
    // BrainPy's PoissonGroup: spike when U[0,1) <= rate * dt.
    const rate = builder.networkValue(population.source.rate, 0);
    body.push({
      kind: 'letBool',
      name: SPIKED,
      value: S.cmp('<=', builder.random('uniform'), simplify(S.mul(rate, S.num(network.dt)))),
    });
    return spikingKernel(population, [], body);
  }
  if (population.source.kind === 'spikeTimes') {
    // BrainPy's SpikeTimeGroup: an event fires in the first step with t_n >= time (the routing's table holds the steps).
    body.push({ kind: 'spikeTime', name: SPIKED, owner: population.name });
    return spikingKernel(population, [CURSOR_STATE], body);
  }
  const model = population.source.model;
  const constants = constantsOf(parameterValues(model, population.parameters), network.dt);
  const bindConstants = (e: S.Expr): S.Expr => simplify(substitute(e, constants));
  const states = new Set(model.states.map((s) => s.name));
  const kernelStates = [...model.states.map((s) => s.name)];
  const groups = inputs.routing.groups.filter((g) => g.post === population.name);

  // 1. delivery: the spike counts of every merged route; delta synapses (`post.X += c * w`)
  // jump the neuron's states here, and the rest of the step reads the jumped values.
  const jumps = new Map<string, S.Expr>();
  for (const group of groups) {
    const synConstants = constantsOf(
      parameterValues(group.synapse.model, group.synapse.arguments),
      network.dt,
    );
    for (const route of group.routes) {
      const count = `@count${route.index}`;
      body.push({ kind: 'count', name: count, counter: `count${route.index}` });
      for (const [x, inc] of group.increments) {
        if (!x.startsWith('post.')) continue;
        const state = x.slice('post.'.length);
        const added = S.mul(S.sym(count), S.num(route.weight), substitute(inc, synConstants));
        jumps.set(state, S.add(jumps.get(state) ?? S.sym(state), added));
      }
    }
  }
  // Per-pre and per-synapse state that adds to this neuron (`post.X += e`) left what it added
  // in this step (jumpState): summed over the incoming connections, after the merged jumps.
  for (const { own, over } of ownSynapses(inputs.routing)) {
    const route = own.route;
    if (route.projection.post !== population.name) continue;
    for (const x of postChanges(route.projection.synapse.model)) {
      const sum = `@jumps${route.index}.${x}`;
      body.push({
        kind: 'gather',
        name: sum,
        route: route.index,
        owner: own.owner,
        state: jumpState(x),
        over,
      });
      jumps.set(x, S.add(jumps.get(x) ?? S.sym(x), S.sym(sum)));
    }
  }
  for (const [state, value] of jumps)
    body.push({ kind: 'let', name: `${state}@jump`, value: simplify(value) });
  const afterJumps = body.length;

  // Currents: stimuli, merged synapse groups, per-pre synapses. Outputs read the start-of-step state (post.V -> V).
  const currents: S.Expr[] = [];
  if (model.input !== undefined) {
    const stimuli = network.stimuli.filter((s) => s.population === population.name);
    const stimulus = stimuli.reduce<S.Expr>(
      (sum, s) => S.add(sum, builder.stimulus(s, states, population.size)),
      S.num(0),
    );
    body.push({ kind: 'let', name: '@stimulus', value: bindConstants(stimulus) });
    currents.push(S.sym('@stimulus'));
  }
  // Outputs and merged synapse states read the neuron's start-of-step variables (post.V -> V).
  const variables = neuronVariables(model, constants, (x) => x);
  const postState = (e: Expr): S.Expr | undefined =>
    e.kind === 'ref' && e.ref.kind === 'post' ? variables.get(e.ref.name) : undefined;
  const postReads = new Map([...variables].map(([x, value]) => [`post.${x}`, value] as const));
  for (const group of groups) {
    const synapse = group.synapse.model;
    const names = synapse.states.map((s) => s.name);
    const rename = (x: string): string => `${group.owner}.${x}`;
    kernelStates.push(...names.map(rename));
    const synConstants = constantsOf(
      parameterValues(group.synapse.model, group.synapse.arguments),
      network.dt,
    );
    // Every spike adds its increment (a multiple of the weight) to the merged state.
    const added = new Map<string, S.Expr>(names.map((x) => [x, S.sym(rename(x))]));
    for (const route of group.routes) {
      const count = `@count${route.index}`;
      for (const [x, inc] of group.increments) {
        if (x.startsWith('post.')) continue;
        added.set(
          x,
          S.add(
            added.get(x)!,
            S.mul(S.sym(count), S.num(route.weight), simplify(substitute(inc, synConstants))),
          ),
        );
      }
    }
    for (const x of names)
      body.push({ kind: 'let', name: `${rename(x)}@in`, value: simplify(added.get(x)!) });
    // 2. integration from the delivered values; post.X reads the neuron's start-of-step X, as outputs do.
    const synBindings = new Map([...synConstants, ...postReads]);
    emitUpdate(
      body,
      builder,
      inputs.synapseUpdate(synapse),
      names,
      synBindings,
      (x) => (names.includes(x) ? `${rename(x)}@in` : rename(x)),
      network.dt,
    );
    for (const x of names)
      body.push({
        kind: 'let',
        name: nextName(rename(x)),
        value: S.sym(nextName(`${rename(x)}@in`)),
      });
    // 3. the output current, from what the synapse delivers after integration.
    if (synapse.delivers === undefined || group.output === undefined) continue;
    const delivered = simplify(
      substitute(
        symbolic(synapse.delivers, endOfStepHook(new Set(names), rename), synapse),
        synBindings,
      ),
    );
    body.push({ kind: 'let', name: `${group.owner}.delivered`, value: delivered });
    currents.push(
      outputCurrent(group.output, S.sym(`${group.owner}.delivered`), postState, network.dt),
    );
  }
  // Per-pre state delivers per unit weight (the constant weight is applied here); per-synapse state includes its weight.
  for (const { own, over } of ownSynapses(inputs.routing)) {
    const output = own.route.projection.output;
    if (own.route.projection.post !== population.name || output === undefined) continue;
    const sum = `@gather${own.route.index}`;
    body.push({
      kind: 'gather',
      name: sum,
      route: own.route.index,
      owner: own.owner,
      state: DELIVERED_STATE,
      over,
    });
    const value = over === 'sources' ? S.mul(S.num(own.route.weight), S.sym(sum)) : S.sym(sum);
    currents.push(outputCurrent(output, value, postState, network.dt));
  }
  const input = model.input;
  let ltcInput: S.Expr | undefined;
  if (input !== undefined) {
    const total = simplify(S.add(...currents));
    // With ltc the update takes the currents as functions of V; the local (at the start-of-step V) is for recording.
    if (input.ltc) ltcInput = total;
    body.push({ kind: 'let', name: input.name, value: total });
  }
  // States that never change (parameters set per neuron, states without an equation that
  // nothing assigns): what the update computes from them alone is computed once per neuron.
  const reassigned = new Set(
    [...assignments(model.reset)].flatMap((a) =>
      a.target.kind === 'state' ? [a.target.name] : [],
    ),
  );
  const invariants = new StepInvariants(
    new Set(
      model.states
        .map((s) => s.name)
        .filter(
          (x) =>
            !model.equations.some((eq) => eq.state === x) && !reassigned.has(x) && !jumps.has(x),
        ),
    ),
  );
  emitUpdate(
    body,
    builder,
    inputs.neuronUpdate(model, ltcInput),
    model.states.map((s) => s.name),
    constants,
    (x) => x,
    network.dt,
    invariants,
  );
  // A state the step only reads: kept as it is.
  const keep = (state: string): void => {
    kernelStates.push(state);
    body.push({ kind: 'let', name: nextName(state), value: S.sym(state) });
  };
  for (const { state } of invariants.values) keep(state);

  // Counted in whole steps, never by comparing float times: one number for the population,
  // or each neuron's own, computed on the host.
  const perNeuronPeriod = perNeuronRefractory(population);
  const refractorySteps = perNeuronPeriod
    ? S.sym(REFRACTORY_STEPS_STATE)
    : S.num(stepsIn(refractoryPeriod(network, population) ?? 0, network.dt));
  // The hold keeps V's value from before this step's delivery: delta input that arrives
  // while the neuron is refractory is lost (as in NEST and Brunel 2000).
  let hold: KernelStatement | undefined;
  const refractory = refractorySteps.kind !== 'num' || refractorySteps.value > 0;
  if (refractory) {
    kernelStates.push(REFRACTORY_STATE);
    const counter = S.sym(REFRACTORY_STATE);
    body.push({ kind: 'let', name: nextName(REFRACTORY_STATE), value: counter });
    if (perNeuronPeriod) keep(REFRACTORY_STEPS_STATE);
    hold = {
      kind: 'if',
      condition: S.cmp('>', counter, S.num(0.5)),
      then: [
        ...[heldState(model)].flatMap((v): KernelStatement[] =>
          v === undefined ? [] : [{ kind: 'set', name: nextName(v), value: S.sym(v) }],
        ),
        { kind: 'set', name: nextName(REFRACTORY_STATE), value: S.sub(counter, S.num(1)) },
      ],
      otherwise: [],
    };
    body.push(hold);
  }
  // After the delivery, the step reads the jumped states (except the hold).
  const readJumped = (): void => {
    const renames = new Map([...jumps.keys()].map((x) => [x, S.sym(`${x}@jump`)]));
    if (renames.size === 0) return;
    const after = body.splice(afterJumps);
    body.push(...after.map((st) => (st === hold ? st : renameReads(st, renames))));
  };
  const toSym = (e: Expr): S.Expr => bindConstants(symbolic(e, endOfStepHook(states), model));
  // What recordings may name besides the states: the subexpressions, from the post-step
  // states (after the reset) at the end of the step, t_n + dt, the time of the trace's row
  // (dropped later where nothing records them).
  const values = new Map(model.subexpressions.map((sub) => [sub.name, `${sub.name}@value`]));
  const endTime = new Map([[TIME, S.mul(S.add(S.sym(STEP), S.num(1)), S.num(network.dt))]]);
  const recordable = (): KernelStatement[] =>
    model.subexpressions.map((sub) => ({
      kind: 'let',
      name: values.get(sub.name)!,
      value: simplify(substitute(toSym(sub.value), endTime)),
    }));
  if (model.spike === undefined) {
    body.push(...recordable());
    readJumped();
    return {
      population: population.name,
      size: population.size,
      states: kernelStates,
      body,
      spikes: false,
      values,
      invariants: invariants.values,
    };
  }
  body.push({ kind: 'letBool', name: SPIKED, value: toSym(model.spike) });
  const onSpike = eventStatements(
    model.reset,
    toSym,
    (target) => (target.kind === 'state' && states.has(target.name) ? target.name : undefined),
    nextName,
  );
  if (refractory)
    onSpike.push({ kind: 'set', name: nextName(REFRACTORY_STATE), value: refractorySteps });
  if (onSpike.length > 0)
    body.push({ kind: 'if', condition: S.sym(SPIKED), then: onSpike, otherwise: [] });
  body.push(...recordable());
  readJumped();
  return {
    ...spikingKernel(population, kernelStates, body),
    values,
    invariants: invariants.values,
  };
}

/**
 * What a synapse or output reads as `post.X` or `pre.X` of a neuron whose start-of-step
 * states are the symbols `symbolOf(state)`: its states, and its subexpressions inlined with
 * the population's parameters (lowering refuses the input current and what depends on it).
 */
function neuronVariables(
  model: NeuronModel,
  constants: ReadonlyMap<string, S.Expr>,
  symbolOf: (state: string) => string,
): Map<string, S.Expr> {
  const states = new Map(model.states.map((s) => [s.name, S.sym(symbolOf(s.name))] as const));
  const hook: Hook = (e) =>
    e.kind === 'ref' && e.ref.kind === 'state' ? states.get(e.ref.name) : undefined;
  const variables = new Map<string, S.Expr>(states);
  for (const sub of model.subexpressions) {
    const value = symbolic(sub.value, hook, model);
    variables.set(sub.name, simplify(substitute(value, constants)));
  }
  return variables;
}

/** The projections with state per pre neuron or per synapse, in route order, with what their post kernels gather over. */
function ownSynapses(
  routing: NetworkRouting,
): { readonly own: OwnSynapse; readonly over: 'sources' | 'synapses' }[] {
  return [
    ...routing.preSynapses.map((own) => ({ own, over: 'sources' as const })),
    ...routing.synapses.map((own) => ({ own, over: 'synapses' as const })),
  ].sort((a, b) => a.own.route.index - b.own.route.index);
}

/** A statement with its expressions reading other symbols (`renames`), nested blocks included. */
function renameReads(s: KernelStatement, renames: ReadonlyMap<string, S.Expr>): KernelStatement {
  switch (s.kind) {
    case 'let':
    case 'letBool':
    case 'set':
      return { ...s, value: substitute(s.value, renames) };
    case 'if':
      return {
        ...s,
        condition: substitute(s.condition, renames),
        then: s.then.map((t) => renameReads(t, renames)),
        otherwise: s.otherwise.map((t) => renameReads(t, renames)),
      };
    case 'count':
    case 'gather':
    case 'neuronState':
    case 'spikeTime':
    case 'random':
      return s;
  }
}

function spikingKernel(
  population: Population,
  states: string[],
  body: KernelStatement[],
): PopulationKernel {
  return { population: population.name, size: population.size, states, body, spikes: true };
}

/** An output's current for a delivered value `g`, its parameters folded in. */
function outputCurrent(use: ModelUse<OutputModel>, g: S.Expr, postState: Hook, dt: number): S.Expr {
  const constants = constantsOf(parameterValues(use.model, use.arguments), dt);
  constants.set('g', g);
  return simplify(substitute(symbolic(use.model.current, postState), constants));
}

/**
 * What `pre.X` and `post.X` are in a per-pre or per-synapse kernel: its neurons' states,
 * loaded at the top of `body` (the unread ones are dropped later), and their subexpressions.
 */
function neuronReads(
  network: Network,
  own: OwnSynapse,
  body: KernelStatement[],
): Map<string, S.Expr> {
  const projection = own.route.projection;
  const reads = new Map<string, S.Expr>();
  for (const side of ['pre', 'post'] as const) {
    const population = network.populations.find(
      (p) => p.name === (side === 'pre' ? projection.pre : projection.post),
    );
    if (population?.source.kind !== 'neuron' || !readsNeuron(projection.synapse.model, side))
      continue;
    const model = population.source.model;
    for (const s of model.states)
      body.push({
        kind: 'neuronState',
        name: `${side}.${s.name}`,
        route: own.route.index,
        side,
        state: s.name,
      });
    const constants = constantsOf(parameterValues(model, population.parameters), network.dt);
    for (const [x, value] of neuronVariables(model, constants, (state) => `${side}.${state}`))
      reads.set(`${side}.${x}`, value);
  }
  return reads;
}

/** The value a per-pre or per-synapse kernel leaves for the gathers: what it delivers (per unit weight for per-pre state). */
export const DELIVERED_STATE = '@delivered';
/**
 * The state in which a per-pre or per-synapse kernel leaves what its events added to the post
 * neuron's state X in this step (`post.X += ...`): the post kernel sums it over the incoming
 * connections, in ascending source order, and adds it where merged delta synapses jump.
 */
export function jumpState(x: string): string {
  return `@jump.${x}`;
}

/** The post-synaptic states a synapse model's events add to (`post.X += e`, `-=`), in first-use order. */
export function postChanges(model: SynapseModel): string[] {
  const changed = new Set<string>();
  for (const s of assignments([...model.onPre, ...model.onPost]))
    if (s.target.kind === 'post') changed.add(s.target.name);
  return [...changed];
}

/** A per-synapse kernel's weight, a state that on_pre and on_post may change (plasticity). */
export const WEIGHT_STATE = '@w';

/**
 * The kernel of a projection whose synapse state lives per pre-synaptic
 * neuron (a thread per pre neuron) or per synapse (a thread per synapse; its
 * weight is a state). A thread runs on_pre when a spike arrived (its delivery
 * counter, filled by the step's delivery kernels, is set), on_post when its
 * post neuron spiked in the previous step (per synapse only), both on the
 * start-of-step values (its neurons' too, `pre.X` and `post.X`); then it
 * integrates the state and leaves what it delivers (per unit weight for per-pre
 * state) and what its events added to the post neuron (`post.X += e`) for the
 * post neurons' gathers.
 */
export function buildOwnSynapseKernel(
  network: Network,
  own: OwnSynapse,
  update: StateUpdate,
): PopulationKernel {
  const route = own.route;
  const projection = route.projection;
  const synapse = projection.synapse.model;
  const perSynapse = route.placement.placement === 'synapse';
  const builder = new KernelBuilder(`${network.name}.${projection.name}.synapse`, network.dt);
  const body = builder.body;
  body.push({ kind: 'let', name: TIME, value: S.mul(S.sym(STEP), S.num(network.dt)) });
  const names = [...synapse.states.map((s) => s.name), ...(perSynapse ? [WEIGHT_STATE] : [])];
  const afterEvents = (x: string): string => `${x}@in`;
  const parameters = constantsOf(
    parameterValues(projection.synapse.model, projection.synapse.arguments),
    network.dt,
  );
  const neurons = neuronReads(network, own, body);
  // Per-pre state delivers per unit weight; per-synapse state reads its own weight.
  const constants = new Map([
    ...parameters,
    ...neurons,
    ['w', perSynapse ? S.sym(afterEvents(WEIGHT_STATE)) : S.num(1)],
  ]);
  for (const x of names) body.push({ kind: 'let', name: afterEvents(x), value: S.sym(x) });
  // What the events add to the post neuron's states this step, from 0 (summed by its gathers).
  const jumps = postChanges(synapse).map(jumpState);
  for (const x of jumps) body.push({ kind: 'let', name: afterEvents(x), value: S.num(0) });
  const stateOf = (target: AssignTarget): string | undefined =>
    target.kind === 'state'
      ? target.name
      : target.kind === 'weight'
        ? perSynapse
          ? WEIGHT_STATE
          : undefined
        : target.kind === 'post'
          ? jumpState(target.name)
          : undefined;
  const inHook: Hook = (e) =>
    e.kind === 'ref' && e.ref.kind === 'state'
      ? S.sym(afterEvents(e.ref.name))
      : e.kind === 'prev'
        ? S.sym(e.state)
        : undefined;
  const toSym = (e: Expr): S.Expr => simplify(substitute(symbolic(e, inHook, synapse), constants));
  const events = (name: string, counter: string, statements: readonly Statement[]): void => {
    if (statements.length === 0) return;
    body.push({ kind: 'count', name, counter });
    body.push({
      kind: 'if',
      condition: S.cmp('>', S.sym(name), S.num(0.5)),
      then: eventStatements(statements, toSym, stateOf, afterEvents),
      otherwise: [],
    });
  };
  events('@pre_arrived', `arrive${route.index}`, synapse.onPre);
  events('@post_spiked', `post${route.index}`, synapse.onPost);
  const synapseStates = synapse.states.map((s) => s.name);
  emitUpdate(
    body,
    builder,
    update,
    synapseStates,
    constants,
    (x) => (names.includes(x) ? afterEvents(x) : x),
    network.dt,
  );
  for (const x of names)
    body.push({
      kind: 'let',
      name: nextName(x),
      value: S.sym(x === WEIGHT_STATE ? afterEvents(x) : nextName(afterEvents(x))),
    });
  for (const x of jumps)
    body.push({ kind: 'let', name: nextName(x), value: S.sym(afterEvents(x)) });
  // A synapse without `delivers` (it only jumps post-synaptic states) leaves 0.
  const delivered =
    synapse.delivers === undefined
      ? S.num(0)
      : simplify(
          substitute(
            symbolic(synapse.delivers, endOfStepHook(new Set(names)), synapse),
            new Map([
              ...parameters,
              ...neurons,
              ['w', perSynapse ? S.sym(nextName(WEIGHT_STATE)) : S.num(1)],
            ]),
          ),
        );
  body.push({ kind: 'let', name: nextName(DELIVERED_STATE), value: delivered });
  const size =
    route.connectivity.kind === 'rows' && perSynapse
      ? route.connectivity.rows.outTargets.length
      : projection.preRange.end - projection.preRange.start;
  return {
    population: own.owner,
    size,
    states: [...names, ...jumps, DELIVERED_STATE],
    body,
    spikes: false,
  };
}
