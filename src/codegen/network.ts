import { spikeStep, stepsIn } from './steps.js';
import { DiagnosticError, Diagnostics } from '../diagnostics/diagnostic.js';
import { constantValue } from '../ir/lower-expr.js';
import { type PlacementDecision, analysePlacement } from '../ir/placement.js';
import { nodes } from '../ir/walk.js';
import type { ModelUse, Network, OutputModel, Projection, SynapseModel } from '../ir/types.js';
import type { Expr as SymExpr } from '../symbolic/expr.js';
import { type Connectivity, buildConnectivity } from './connectivity.js';
import { parameterValues } from './population.js';

/** A projection as the kernels route it: its delay in steps, constant weight and connectivity. */
export interface Route {
  readonly projection: Projection;
  /** Position in network.projections; names buffers and Philox streams. */
  readonly index: number;
  readonly delaySteps: number;
  /** In internal units of the weight. */
  readonly weight: number;
  readonly connectivity: Connectivity;
  readonly placement: PlacementDecision;
}

/** Projections whose synapse state is merged per post neuron: same post population, synapse and output values. */
export interface MergedGroup {
  /** Owner name of the group's state in the buffers: `@syn<k>`. */
  readonly owner: string;
  readonly post: string;
  readonly synapse: ModelUse<SynapseModel>;
  readonly output: ModelUse<OutputModel>;
  readonly routes: readonly Route[];
  /** Per synapse state, the increment of one spike per unit weight. */
  readonly increments: ReadonlyMap<string, SymExpr>;
}

/** A projection whose synapse state lives per pre-synaptic neuron (NMDA, STP, ...). */
export interface PreSynapse {
  /** Owner name of the state in the buffers: `@pre<index>`. */
  readonly owner: string;
  readonly route: Route;
}

export interface NetworkRouting {
  readonly routes: readonly Route[];
  readonly groups: readonly MergedGroup[];
  readonly preSynapses: readonly PreSynapse[];
  /** Spike-list ring slots per population that feeds a merged projection (longest delay + 1). */
  readonly ringSlots: ReadonlyMap<string, number>;
  /** Populations whose previous-step spike flag a per-pre synapse reads. */
  readonly flagged: ReadonlySet<string>;
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
 * events before step 0 (negative times) or past the last u32 step never fire.
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
    if (step >= 0 && step <= 0xffffffff) perNeuron[i]!.add(step);
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
  return `${p.post}|${p.synapse.model.name}(${values(p.synapse)})|${p.output.model.name}(${values(p.output)})`;
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
  for (const p of network.populations) {
    if (p.source.kind === 'neuron' && p.source.model.refractory !== undefined) {
      const uses = [...nodes(p.source.model.refractory)].find(
        (n) => n.kind === 'ref' && n.ref.kind !== 'parameter' && n.ref.kind !== 'dt',
      );
      if (uses !== undefined)
        diagnostics.error(
          uses.span,
          'the refractory period must be a constant (parameters and literals), since it is counted in whole steps',
        );
    }
  }
  const routes: Route[] = [];
  network.projections.forEach((p, index) => {
    const weight = constantValue(p.weight);
    if (weight === undefined) {
      diagnostics.error(
        p.weight.span,
        'weights that vary per synapse (distributions, expressions) are not supported by the kernels yet; use a constant weight',
      );
      return;
    }
    const delay = p.delay === undefined ? 0 : constantValue(p.delay);
    if (delay === undefined || delay < 0) {
      diagnostics.error(
        p.delay?.span ?? p.span,
        'heterogeneous (per-synapse) delays are not supported by the kernels yet; use a constant delay',
      );
      return;
    }
    const decision = analysePlacement(p.synapse.model);
    const placement: PlacementDecision =
      p.placement === undefined || p.placement === decision.placement
        ? decision
        : overridePlacement(p, decision, diagnostics);
    if (placement.placement === 'synapse') {
      diagnostics.error(
        p.span,
        `synapse ${p.synapse.model.name} needs its state per synapse (${placement.reason}); per-synapse state is not supported by the kernels yet`,
      );
      return;
    }
    const delaySteps = Math.max(1, stepsIn(delay, network.dt));
    if (placement.placement === 'pre' && delaySteps !== 1) {
      diagnostics.error(
        p.delay?.span ?? p.span,
        `a delay of ${delaySteps} steps with synapse state per pre-synaptic neuron (${p.synapse.model.name}) is not supported by the kernels yet; only the one-step delay`,
      );
      return;
    }
    if (placement.placement === 'pre' && p.procedural) {
      diagnostics.error(
        p.span,
        `procedural connectivity with synapse state per pre-synaptic neuron (${p.synapse.model.name}) is not supported yet: remove 'procedural' to store the connections`,
      );
      return;
    }
    const nPre = p.preRange.end - p.preRange.start;
    const nPost = p.postRange.end - p.postRange.start;
    const connectivity = buildConnectivity(
      p.connector,
      p.procedural,
      nPre,
      nPost,
      network.seed,
      `${network.name}.${p.name}`,
    );
    routes.push({ projection: p, index, delaySteps, weight, connectivity, placement });
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
    return {
      owner: `@syn${k}`,
      post: first.projection.post,
      synapse: first.projection.synapse,
      output: first.projection.output,
      routes: rs,
      increments: first.placement.increments ?? new Map(),
    };
  });
  const preSynapses: PreSynapse[] = routes
    .filter((r) => r.placement.placement === 'pre')
    .map((route) => ({ owner: `@pre${route.index}`, route }));
  const ringSlots = new Map<string, number>();
  for (const r of routes) {
    if (r.placement.placement !== 'post') continue;
    ringSlots.set(
      r.projection.pre,
      Math.max(ringSlots.get(r.projection.pre) ?? 0, r.delaySteps + 1),
    );
  }
  const flagged = new Set(preSynapses.map((s) => s.route.projection.pre));
  const spikeTimes = new Map<string, SpikeTimeTable>();
  for (const p of network.populations)
    if (p.source.kind === 'spikeTimes')
      spikeTimes.set(p.name, spikeTimeTable(p.size, p.source.indices, p.source.times, network.dt));
  return { routes, groups, preSynapses, ringSlots, flagged, spikeTimes };
}

/** `placement X` in a projection: allowed when it gives the same results, else a diagnostic. */
function overridePlacement(
  p: Projection,
  decision: PlacementDecision,
  diagnostics: Diagnostics,
): PlacementDecision {
  const wanted = p.placement!;
  // Finer placements compute the same numbers: per synapse >= per pre >= merged per post.
  const rank = { post: 0, pre: 1, synapse: 2 } as const;
  if (
    rank[wanted] >= rank[decision.placement] &&
    !(wanted === 'pre' && decision.placement === 'post')
  ) {
    return { placement: wanted, reason: `placement ${wanted} requested in projection ${p.name}` };
  }
  diagnostics.error(
    p.span,
    `placement ${wanted} would change the results of projection ${p.name}: ${decision.reason}`,
    {
      notes: [
        `the compiler chose placement ${decision.placement}; remove the placement line or choose a finer placement`,
      ],
    },
  );
  return decision;
}
