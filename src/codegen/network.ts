import { delayInSteps, spikeStep } from './steps.js';
import { type Diagnostic, DiagnosticError, Diagnostics } from '../diagnostics/diagnostic.js';
import { constantValue } from '../ir/lower-expr.js';
import { type PlacementDecision, analysePlacement, perPreProblem } from '../ir/placement.js';
import { nodes } from '../ir/walk.js';
import type {
  Connector,
  IndexRange,
  ModelUse,
  Network,
  OutputModel,
  Placement,
  Projection,
  Recording,
  Statement,
  SynapseModel,
} from '../ir/types.js';
import type { Span } from '../diagnostics/source.js';
import type { Expr as SymExpr } from '../symbolic/expr.js';
import {
  type CompressedRows,
  type Connectivity,
  buildConnectivity,
  storedRows,
} from './connectivity.js';
import { quantizeWeights, synapticValues } from './synaptic-values.js';
import { type DrawnWeights, drawnWeights } from './drawn-weights.js';
import { parameterValues, refractoryPeriod } from './population.js';

/** A projection as the kernels route it: delays in steps, weights, connectivity, placement. */
export interface Route {
  readonly projection: Projection;
  /** Position in network.projections; names buffers and Philox streams. */
  readonly index: number;
  /** The delay in steps when it is the same for every synapse (else 0, and `synapticDelays` holds them). */
  readonly delaySteps: number;
  /**
   * The weight in internal units when it is the same for every synapse; for
   * merged state with weights that vary, the quantum of `quantizedWeights`
   * (see quantizeWeights) or of the procedural rows' drawn weights (see
   * DrawnWeights); 1 otherwise (per-synapse state holds its weight).
   */
  readonly weight: number;
  readonly connectivity: Connectivity;
  readonly placement: PlacementDecision;
  /** Per synapse (stored-row order), when the weight varies: its value in internal units. */
  readonly synapticWeights?: Float64Array;
  /** For merged state with weights that vary: each synapse's weight in units of `weight` (the quantum). */
  readonly quantizedWeights?: Int32Array;
  /** Per synapse (stored-row order), when the delay varies: round(delay / dt), at least 1. */
  readonly synapticDelays?: Uint32Array;
}

/** Projections whose synapse state is merged per post neuron: same post population, synapse and output values. */
export interface MergedGroup {
  /** Owner name of the group's state in the buffers: `@syn<k>`. */
  readonly owner: string;
  readonly post: string;
  readonly synapse: ModelUse<SynapseModel>;
  /** Absent for synapses that deliver nothing (they only jump post-synaptic states). */
  readonly output?: ModelUse<OutputModel>;
  readonly routes: readonly Route[];
  /** Per synapse state, the increment of one spike per unit weight. */
  readonly increments: ReadonlyMap<string, SymExpr>;
}

/** A projection whose synapse state lives per pre-synaptic neuron (`@pre<index>`) or per synapse (`@synapse<index>`). */
export interface OwnSynapse {
  /** Owner name of the state in the buffers. */
  readonly owner: string;
  readonly route: Route;
}

/**
 * An array of u32 counters in the events buffer that deliveries add to and a
 * kernel reads: `slots` rows of `size` words; the kernel reads (and clears)
 * row `step % slots` at its element. `signed` counters hold sums of integer
 * weights (two's complement; u32 addition wraps the same way).
 */
export interface Counter {
  readonly name: string;
  readonly size: number;
  readonly slots: number;
  readonly signed: boolean;
}

/**
 * Step 1 of a step for one route: each spike of `source[range]` emitted at
 * step n - ringDelay (read from the source's spike ring) adds to `counter`:
 * - 'post': at each post target (counter index postRange.start + target), 1 or the synapse's integer weight;
 * - 'self': at the spiking neuron itself (local index): per-pre synapse state;
 * - 'outgoing': at each of its synapses (synapse id): per-synapse state, on_pre;
 * - 'incoming': at each synapse that ends on it (the source is the post population): on_post.
 * With per-synapse delays the spike lands in row (n - ringDelay + delay) mod slots.
 */
export interface Delivery {
  readonly route: Route;
  readonly source: string;
  readonly range: IndexRange;
  readonly ringDelay: number;
  readonly targets: 'post' | 'self' | 'outgoing' | 'incoming';
  readonly counter: Counter;
  /** Per synapse, the integer added instead of 1 ('post' targets with weights that vary). */
  readonly weights?: Int32Array;
  /** Per synapse, the delay in steps. */
  readonly delays?: Uint32Array;
}

export interface NetworkRouting {
  readonly routes: readonly Route[];
  readonly groups: readonly MergedGroup[];
  readonly preSynapses: readonly OwnSynapse[];
  readonly synapses: readonly OwnSynapse[];
  /** The delivery kernels of a step, in dispatch order. */
  readonly deliveries: readonly Delivery[];
  /** Spike-list ring slots per population whose spikes a delivery reads (longest ring delay + 1). */
  readonly ringSlots: ReadonlyMap<string, number>;
  /** The event table of every SpikeTimes population. */
  readonly spikeTimes: ReadonlyMap<string, SpikeTimeTable>;
}

/**
 * A SpikeTimes source's events as steps, stored like connectivity rows: the
 * distinct spike steps of neuron i, ascending, are steps[start[i]] up to
 * steps[start[i + 1]] (exclusive).
 */
export interface SpikeTimeTable {
  readonly start: Uint32Array;
  readonly steps: Uint32Array;
}

/**
 * The event table of a SpikeTimes source: each event fires in step
 * spikeStep(time, dt); events of a neuron in the same step give one spike;
 * events past the last u32 step never fire (negative times are refused when
 * the network is lowered).
 */
export function spikeTimeTable(
  size: number,
  indices: readonly number[],
  times: readonly number[],
  dt: number,
): SpikeTimeTable {
  const perNeuron = Array.from({ length: size }, () => new Set<number>());
  indices.forEach((i, k) => {
    const step = spikeStep(times[k]!, dt);
    if (step <= 0xffffffff) perNeuron[i]!.add(step);
  });
  const start = new Uint32Array(size + 1);
  const steps: number[] = [];
  perNeuron.forEach((set, i) => {
    steps.push(...[...set].sort((a, b) => a - b));
    start[i + 1] = steps.length;
  });
  return { start, steps: Uint32Array.from(steps) };
}

/** Merging key: the same post population, synapse and output with the same parameter values (BrainPy's align-post merging). */
function mergeKey(route: Route): string {
  const p = route.projection;
  const values = (use: ModelUse<SynapseModel | OutputModel>): string =>
    [...parameterValues(use.model, use.arguments)].map(([k, v]) => `${k}=${v}`).join(',');
  const output = p.output === undefined ? 'none' : `${p.output.model.name}(${values(p.output)})`;
  return `${p.post}|${p.synapse.model.name}(${values(p.synapse)})|${output}`;
}

/**
 * Routes every projection: decides where its synapse state lives, merges
 * post-placed ones, builds connectivity (stored rows or procedural), and
 * turns delays into whole steps (round(delay/dt), at least one); builds the
 * event tables of SpikeTimes sources. What the kernels cannot do yet is a
 * diagnostic at the projection.
 */
export function routeNetwork(network: Network): NetworkRouting {
  const diagnostics = new Diagnostics();
  checkRefractoryPeriods(network, diagnostics);
  const routes: Route[] = [];
  network.projections.forEach((p, index) => {
    const route = routeProjection(network, p, index, diagnostics);
    if (route !== undefined) routes.push(route);
  });
  if (diagnostics.hasErrors) throw new DiagnosticError(diagnostics.items);

  const byKey = new Map<string, Route[]>();
  for (const r of routes) {
    if (r.placement.placement !== 'post') continue;
    const key = mergeKey(r);
    byKey.set(key, [...(byKey.get(key) ?? []), r]);
  }
  const groups: MergedGroup[] = [...byKey.values()].map((rs, k) => {
    const first = rs[0]!;
    const output = first.projection.output;
    return {
      owner: `@syn${k}`,
      post: first.projection.post,
      synapse: first.projection.synapse,
      ...(output === undefined ? {} : { output }),
      routes: rs,
      increments: first.placement.increments ?? new Map(),
    };
  });
  const own = (placement: 'pre' | 'synapse', prefix: string): OwnSynapse[] =>
    routes
      .filter((r) => r.placement.placement === placement)
      .map((route) => ({ owner: `${prefix}${route.index}`, route }));
  const deliveries = routes.flatMap((r) => deliveriesOf(network, r));
  const ringSlots = new Map<string, number>();
  for (const d of deliveries)
    ringSlots.set(d.source, Math.max(ringSlots.get(d.source) ?? 0, d.ringDelay + 1));
  const spikeTimes = new Map<string, SpikeTimeTable>();
  for (const p of network.populations)
    if (p.source.kind === 'spikeTimes')
      spikeTimes.set(p.name, spikeTimeTable(p.size, p.source.indices, p.source.times, network.dt));
  return {
    routes,
    groups,
    preSynapses: own('pre', '@pre'),
    synapses: own('synapse', '@synapse'),
    deliveries,
    ringSlots,
    spikeTimes,
  };
}

/**
 * What routeNetwork would refuse in a network, found without building its connectivity (which
 * can take a while for large networks): for `spikeforge check`.
 */
export function routingProblems(network: Network): readonly Diagnostic[] {
  const diagnostics = new Diagnostics();
  checkRefractoryPeriods(network, diagnostics);
  // Each projection's recordings, found once: a network may have thousands of both.
  const recorded = new Map<string, Recording[]>();
  for (const r of network.recordings) {
    if (r.of !== 'projection') continue;
    const list = recorded.get(r.population);
    if (list === undefined) recorded.set(r.population, [r]);
    else list.push(r);
  }
  for (const p of network.projections) {
    const decision = decideRoute(p, diagnostics);
    if (decision === undefined) continue;
    const recordings = recorded.get(p.name);
    if (recordings === undefined) continue;
    const size = recordedSize(network, p, decision.placement.placement, knownSynapseCount(p));
    for (const r of recordings) {
      const problem = projectionRecordingProblem(p, r, decision.placement.placement, size);
      if (problem !== undefined) diagnostics.error(problem.span, problem.message);
    }
  }
  return diagnostics.items;
}

/**
 * How many elements a projection's recorded state has where it lives: post neurons (the
 * whole post population) when merged, pre neurons of its range when per pre, stored synapses
 * when per synapse. `synapses` is the stored count, undefined where only the built
 * connectivity knows it.
 */
export function recordedSize(
  network: Network,
  p: Projection,
  placement: Placement,
  synapses: number | undefined,
): number | undefined {
  switch (placement) {
    case 'post':
      return network.populations.find((x) => x.name === p.post)!.size;
    case 'pre':
      return p.preRange.end - p.preRange.start;
    case 'synapse':
      return synapses;
  }
}

/** How many synapses a projection keeps per synapse, where its connector fixes it without drawing anything. */
function knownSynapseCount(p: Projection): number | undefined {
  if (p.connector.kind === 'fixed_probability' || p.connector.kind === 'pairwise_probability')
    return undefined;
  const nPre = p.preRange.end - p.preRange.start;
  const nPost = p.postRange.end - p.postRange.start;
  return storedSynapses(p.connector, false, true, nPre, nPost);
}

/**
 * Why a recording of projection `p` cannot be made where its state lives, or undefined.
 * `size` is recordedSize's count (undefined: not known before the connectivity is built, so
 * the slice is not checked).
 */
export function projectionRecordingProblem(
  p: Projection,
  r: Recording,
  placement: Placement,
  size: number | undefined,
): { readonly span: Span; readonly message: string } | undefined {
  if (r.variable === 'w' && placement !== 'synapse')
    return {
      span: r.variableSpan,
      message: `projection ${p.name} keeps no weight per synapse (its synapse state is ${placement === 'post' ? 'merged per post-synaptic neuron' : 'kept per pre-synaptic neuron'}); only per-synapse state records w`,
    };
  if (size === undefined) return undefined;
  const range = r.range ?? (placement === 'post' ? p.postRange : { start: 0, end: size });
  if (range.start < range.end && range.end <= size) return undefined;
  const what =
    placement === 'post'
      ? 'post-synaptic neurons'
      : placement === 'pre'
        ? 'pre-synaptic neurons'
        : 'synapses';
  return {
    span: r.sliceSpan ?? r.variableSpan,
    message: `slice [${range.start}:${range.end}] is out of range: projection ${p.name} keeps ${r.variable} for ${size} ${what}`,
  };
}

/**
 * A refractory period is counted in whole steps: it must be a constant (per population, or per
 * neuron from parameters set per neuron), and not negative (per neuron: initialStates checks).
 */
function checkRefractoryPeriods(network: Network, diagnostics: Diagnostics): void {
  for (const p of network.populations) {
    if (p.source.kind === 'neuron' && p.source.model.refractory !== undefined) {
      const perNeuron = new Set(p.source.perNeuronParameters);
      const uses = [...nodes(p.source.model.refractory)].find(
        (n) =>
          n.kind === 'ref' &&
          n.ref.kind !== 'parameter' &&
          n.ref.kind !== 'dt' &&
          !(n.ref.kind === 'state' && perNeuron.has(n.ref.name)),
      );
      if (uses !== undefined) {
        diagnostics.error(
          uses.span,
          'the refractory period must be a constant (parameters and literals), since it is counted in whole steps',
        );
        continue;
      }
      const period = refractoryPeriod(network, p);
      if (period === undefined) continue;
      if (period < 0)
        diagnostics.error(
          p.span,
          `the refractory period of population ${p.name} is ${Number(period.toPrecision(6))} ms; it cannot be negative`,
          {
            secondary: [
              {
                span: p.source.model.refractory.span,
                message: 'the refractory period of its model',
              },
            ],
          },
        );
    }
  }
}

/**
 * Where a synapse model changes a neuron in a way the kernels do not do, with the message;
 * undefined when it does not. A synapse adds to its post-synaptic neuron's states
 * (`post.X += e`, `-=`): merged state through the placement's increments (delta synapses),
 * per-pre and per-synapse state through what its post neuron gathers (jumpState in
 * population.ts), summed in a fixed order. Setting or scaling a post state, whose result
 * would depend on the order of the synapses, and changing the pre neuron are refused.
 */
function neuronChangeProblem(
  model: SynapseModel,
): { readonly span: Span; readonly message: string } | undefined {
  type Assign = Extract<Statement, { kind: 'assign' }>;
  const changes = (body: readonly Statement[]): Assign | undefined => {
    for (const s of body) {
      const found =
        s.kind === 'assign'
          ? s.target.kind === 'pre' || (s.target.kind === 'post' && s.op !== '+=' && s.op !== '-=')
            ? s
            : undefined
          : (changes(s.then) ?? changes(s.otherwise));
      if (found !== undefined) return found;
    }
    return undefined;
  };
  const change = changes(model.onPre) ?? changes(model.onPost);
  if (change === undefined) return undefined;
  const target = `${change.target.kind}.${'name' in change.target ? change.target.name : ''}`;
  return {
    span: change.span,
    message:
      change.target.kind === 'pre'
        ? `synapse ${model.name} changes '${target}': a synapse may change its post-synaptic neuron only`
        : `synapse ${model.name} changes '${target}' with '${change.op}': a synapse may only add to its post-synaptic neuron's states ('${target} += ...' or '-='), since the changes of all its synapses are summed`,
  };
}

/** The most words the delay buffers of one projection (its ring or its arrival counters) may take: 1 GiB. */
const MAX_DELAY_BUFFER_WORDS = 2 ** 28;

/**
 * The most synapses one projection may store: its row arrays, placed side by side in the
 * connectivity buffer (out-rows, in-rows, per-synapse weights and delays), must stay within
 * what 32-bit word indices reach.
 */
const MAX_STORED_SYNAPSES = 2 ** 30;

/** How many synapses a projection stores (about, for fixed_probability; 0 for a probability per pair). */
export function storedSynapses(
  c: Connector,
  procedural: boolean,
  perSynapse: boolean,
  nPre: number,
  nPost: number,
): number {
  switch (c.kind) {
    case 'all_to_all':
      return perSynapse ? nPre * nPost : 0;
    case 'one_to_one':
      return Math.min(nPre, nPost);
    case 'fixed_probability':
      return procedural || (c.p >= 1 && !perSynapse) ? 0 : nPre * nPost * Math.min(1, c.p);
    case 'fixed_in_degree':
      return nPost * c.k;
    case 'fixed_out_degree':
      return nPre * c.k;
    case 'from_file':
      return c.pre.length;
    case 'pairwise_probability':
      // Not known before the rows are drawn (every pair at most, none at least): the estimates
      // that use this count are lower bounds.
      return 0;
  }
}

/** What a projection's route is decided from, before its connectivity is built. */
interface RouteDecision {
  readonly placement: PlacementDecision;
  /** The weight and delay (ms), or undefined where they vary per synapse. */
  readonly constantWeight: number | undefined;
  readonly constantDelay: number | undefined;
  /** Whether the projection needs its synapses stored one by one (weights, delays or state of their own). */
  readonly perSynapse: boolean;
  /** The weights a procedural projection draws at each connection, when they vary. */
  readonly drawn?: DrawnWeights;
}

/** Where a projection's synapse state lives, or undefined after a diagnostic (what the kernels cannot do). */
function decideRoute(p: Projection, diagnostics: Diagnostics): RouteDecision | undefined {
  const constantWeight = constantValue(p.weight);
  const constantDelay = p.delay === undefined ? 0 : constantValue(p.delay);
  const weightsVary = constantWeight === undefined;
  const delaysVary = constantDelay === undefined;
  const synapse = p.synapse.model;
  const nPre = p.preRange.end - p.preRange.start;
  const nPost = p.postRange.end - p.postRange.start;
  if (p.procedural && delaysVary) {
    diagnostics.error(
      p.delay!.span,
      `a delay that varies per synapse needs stored connections: remove 'procedural' from projection ${p.name}`,
    );
    return undefined;
  }
  const drawing = p.procedural && weightsVary ? drawnWeights(p.weight, nPre, p.name) : undefined;
  if (drawing !== undefined && 'problem' in drawing) {
    diagnostics.error(
      p.weight.span,
      drawing.storable
        ? `${drawing.problem}: remove 'procedural' from projection ${p.name} to store its connections and weights`
        : drawing.problem,
    );
    return undefined;
  }
  const decision = analysePlacement(synapse, { weightsVary, delaysVary });
  const placement: PlacementDecision =
    p.placement === undefined || p.placement.choice === decision.placement
      ? decision
      : overridePlacement(p, decision, diagnostics);
  const neuronAccess = neuronChangeProblem(synapse);
  if (neuronAccess !== undefined) {
    diagnostics.error(neuronAccess.span, neuronAccess.message);
    return undefined;
  }
  if (placement.placement !== 'post' && p.procedural) {
    diagnostics.error(
      p.span,
      `procedural connectivity with synapse state per ${placement.placement === 'pre' ? 'pre-synaptic neuron' : 'synapse'} (${synapse.name}) is not supported: remove 'procedural' to store the connections`,
      { notes: [`the state of ${synapse.name} is not merged: ${placement.reason}`] },
    );
    return undefined;
  }
  const perSynapse =
    (weightsVary && !p.procedural) || delaysVary || placement.placement === 'synapse';
  const stored = storedSynapses(p.connector, p.procedural, perSynapse, nPre, nPost);
  if (stored > MAX_STORED_SYNAPSES) {
    diagnostics.error(
      p.span,
      `projection ${p.name} would store about ${stored.toLocaleString('en-US')} synapses; the kernels index the connectivity with 32-bit integers, which hold at most ${MAX_STORED_SYNAPSES.toLocaleString('en-US')} per projection${p.connector.kind === 'fixed_probability' ? ": make it 'procedural' (connections drawn again at each spike, never stored)" : ''}`,
    );
    return undefined;
  }
  return {
    placement,
    constantWeight,
    constantDelay,
    perSynapse,
    ...(drawing === undefined ? {} : { drawn: drawing.weights }),
  };
}

/** One projection's route, or undefined after a diagnostic. */
function routeProjection(
  network: Network,
  p: Projection,
  index: number,
  diagnostics: Diagnostics,
): Route | undefined {
  const decision = decideRoute(p, diagnostics);
  if (decision === undefined) return undefined;
  const { placement, constantWeight, constantDelay, perSynapse, drawn } = decision;
  const weightsVary = constantWeight === undefined;
  const delaysVary = constantDelay === undefined;
  const nPre = p.preRange.end - p.preRange.start;
  const nPost = p.postRange.end - p.postRange.start;
  const built = buildConnectivity(
    p.connector,
    p.procedural,
    nPre,
    nPost,
    network.seed,
    `${network.name}.${p.name}`,
  );
  const rows = perSynapse ? storedRows(built, nPre, nPost) : undefined;
  // Procedural rows at p = 1 connect every pair: with a constant weight that is all to all,
  // without a draw per connection (drawn weights need the rows' draws).
  const everyPair =
    p.connector.kind === 'fixed_probability' && p.connector.p >= 1 && drawn === undefined;
  const connectivity: Connectivity =
    rows !== undefined
      ? { kind: 'rows', rows }
      : drawn !== undefined && built.kind === 'geometric'
        ? { ...built, weights: drawn }
        : everyPair
          ? { kind: 'all' }
          : built;
  const base = { projection: p, index, connectivity, placement };
  const delaySteps = delaysVary ? 0 : delayInSteps(constantDelay, network.dt);
  const synapticDelays = delaysVary
    ? synapticValues(p.delay!, rows!, network.seed, `${network.name}.${p.name}.delay`)
    : undefined;
  if (synapticDelays !== undefined && notFinite(synapticDelays, rows!, p, 'delay', diagnostics))
    return undefined;
  if (synapticDelays !== undefined && negativeDelays(synapticDelays, rows!, p, diagnostics))
    return undefined;
  const varyingSteps = synapticDelays?.map((d) => delayInSteps(d, network.dt));
  // A spike waits in a ring of per-step lists (a row per step of delay, one word per pre
  // neuron), or, with varying delays, in counters with a row per arrival step.
  const longest = varyingSteps?.reduce((a, b) => Math.max(a, b), 1) ?? delaySteps;
  const preSize = network.populations.find((x) => x.name === p.pre)!.size;
  const rowWords = Math.max(
    1 + preSize,
    varyingSteps === undefined
      ? 0
      : placement.placement === 'post'
        ? network.populations.find((x) => x.name === p.post)!.size
        : rows!.outTargets.length,
  );
  if ((longest + 1) * rowWords > MAX_DELAY_BUFFER_WORDS) {
    const fits = Math.floor(MAX_DELAY_BUFFER_WORDS / rowWords) - 1;
    diagnostics.error(
      p.delay?.span ?? p.span,
      `a delay of ${longest} steps is too long: its spike buffers, a row of ${rowWords} words per step of delay, hold at most ${fits} steps (${Number((fits * network.dt).toPrecision(6))} ms at dt = ${network.dt} ms)`,
    );
    return undefined;
  }
  const delays =
    varyingSteps === undefined ? {} : { synapticDelays: Uint32Array.from(varyingSteps) };
  if (!weightsVary) return { ...base, delaySteps, weight: constantWeight, ...delays };
  // The kernels draw procedural weights at each spike: nothing is computed per synapse here.
  if (drawn !== undefined) return { ...base, delaySteps, weight: drawn.quantum };
  const synapticWeights = synapticValues(
    p.weight,
    rows!,
    network.seed,
    `${network.name}.${p.name}.weight`,
  );
  if (notFinite(synapticWeights, rows!, p, 'weight', diagnostics)) return undefined;
  if (placement.placement !== 'post')
    return { ...base, delaySteps, weight: 1, synapticWeights, ...delays };
  const postSize = network.populations.find((x) => x.name === p.post)!.size;
  const { quantum, values } = quantizeWeights(synapticWeights, rows!.outTargets, postSize);
  return {
    ...base,
    delaySteps,
    weight: quantum,
    synapticWeights,
    quantizedWeights: values,
    ...delays,
  };
}

/** Reports the first synapse whose weight or delay is not a finite number; true when there is one. */
function notFinite(
  values: Float64Array,
  rows: CompressedRows,
  p: Projection,
  what: 'weight' | 'delay',
  diagnostics: Diagnostics,
): boolean {
  const k = values.findIndex((v) => !Number.isFinite(v));
  if (k < 0) return false;
  diagnostics.error(
    (what === 'weight' ? p.weight : p.delay!).span,
    `the ${what} of projection ${p.name} is ${values[k]} for the synapse i = ${rows.outSources[k]}, j = ${rows.outTargets[k]}: it must be a finite number`,
  );
  return true;
}

/**
 * Whether some synapse's delay is negative (reported): a spike cannot arrive before it is
 * sent, and moving it to one step would silently change the model (Brian2 refuses it too).
 */
function negativeDelays(
  delays: Float64Array,
  rows: CompressedRows,
  p: Projection,
  diagnostics: Diagnostics,
): boolean {
  const k = delays.findIndex((d) => d < 0);
  if (k < 0) return false;
  const count = delays.reduce((n, d) => n + (d < 0 ? 1 : 0), 0);
  diagnostics.error(
    p.delay!.span,
    `${count} of the ${delays.length} delays of projection ${p.name} are negative, the first ${Number(delays[k]!.toPrecision(6))} ms for the synapse i = ${rows.outSources[k]}, j = ${rows.outTargets[k]}`,
    { notes: ['bound the draw, for example max(normal(2 ms, 1 ms), 0.1 ms)'] },
  );
  return true;
}

/** The deliveries of a route (see Delivery): spikes to merged counters, per-pre flags, or per-synapse flags. */
function deliveriesOf(network: Network, r: Route): Delivery[] {
  const p = r.projection;
  const postSize = network.populations.find((x) => x.name === p.post)!.size;
  const synapseCount = r.connectivity.kind === 'rows' ? r.connectivity.rows.outTargets.length : 0;
  // Per-synapse delays read the previous step's spikes and place each in the row of its arrival step.
  const timing =
    r.synapticDelays === undefined
      ? { ringDelay: r.delaySteps, slots: 1 }
      : {
          ringDelay: 1,
          slots: r.synapticDelays.reduce((a, b) => Math.max(a, b), 1),
          delays: r.synapticDelays,
        };
  const { slots, ...arrival } = timing;
  const fromPre = { route: r, source: p.pre, range: p.preRange, ...arrival };
  switch (r.placement.placement) {
    case 'post': {
      const weights = r.quantizedWeights;
      const drawn = r.connectivity.kind === 'geometric' && r.connectivity.weights !== undefined;
      return [
        {
          ...fromPre,
          targets: 'post',
          counter: {
            name: `count${r.index}`,
            size: postSize,
            slots,
            signed: weights !== undefined || drawn,
          },
          ...(weights === undefined ? {} : { weights }),
        },
      ];
    }
    case 'pre':
      return [
        {
          ...fromPre,
          targets: 'self',
          counter: {
            name: `arrive${r.index}`,
            size: p.preRange.end - p.preRange.start,
            slots,
            signed: false,
          },
        },
      ];
    case 'synapse':
      return [
        {
          ...fromPre,
          targets: 'outgoing',
          counter: { name: `arrive${r.index}`, size: synapseCount, slots, signed: false },
        },
        ...(p.synapse.model.onPost.length === 0
          ? []
          : [
              {
                route: r,
                source: p.post,
                range: p.postRange,
                ringDelay: 1,
                targets: 'incoming' as const,
                counter: { name: `post${r.index}`, size: synapseCount, slots: 1, signed: false },
              },
            ]),
      ];
  }
}

/** `placement X` in a projection: allowed when it gives the same results, else a diagnostic. */
function overridePlacement(
  p: Projection,
  decision: PlacementDecision,
  diagnostics: Diagnostics,
): PlacementDecision {
  const wanted = p.placement!.choice;
  // Finer placements compute the same numbers: per synapse >= per pre >= merged per post.
  // Per pre is finer than merged only where the weight scales what a synapse delivers.
  const rank = { post: 0, pre: 1, synapse: 2 } as const;
  const perPre = wanted === 'pre' ? perPreProblem(p.synapse.model) : undefined;
  if (rank[wanted] >= rank[decision.placement] && perPre === undefined) {
    return { placement: wanted, reason: `placement ${wanted} requested in projection ${p.name}` };
  }
  diagnostics.error(
    p.placement!.span,
    perPre !== undefined
      ? `placement pre cannot hold the synapse state of projection ${p.name}: a pre-synaptic neuron's state is shared by all its synapses, and ${perPre}`
      : `placement ${wanted} would change the results of projection ${p.name}: ${decision.reason}`,
    {
      notes: [
        `the compiler chose placement ${decision.placement}; remove the placement line or choose ${perPre !== undefined ? 'placement synapse' : 'a finer placement'}`,
      ],
    },
  );
  return decision;
}
