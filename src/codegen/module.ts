import { type Diagnostic, DiagnosticError, Diagnostics } from '../diagnostics/diagnostic.js';
import { type DerivedUpdate, deriveUpdate } from '../integrate/derive.js';
import type { Network, NeuronModel, SynapseModel } from '../ir/types.js';
import { initialStates, synapseInitialStates } from '../runtime/initial-state.js';
import type { SimulationPlan, TraceRequest } from '../runtime/backend.js';
import type { Expr as SymExpr } from '../symbolic/expr.js';
import { kernelPrinter } from './emit.js';
import { SPIKED, nextName } from './kernel-ir.js';
import { removeDeadLocals } from './legalize.js';
import { type NetworkRouting, type Route, routeNetwork } from './network.js';
import { JS_KERNEL_PARAMETERS, emitJsPopulation, recordedLocal } from './js/kernel.js';
import { JsPrinter } from './js/printer.js';
import { BufferLayout } from './layout.js';
import {
  DELIVERED_STATE,
  type SynapticInputs,
  parameterValues,
  buildPopulationKernel,
  buildPreSynapseKernel,
} from './population.js';
import { entryPointName } from './kernel-ir.js';
import {
  STEP_UNIFORM_STRIDE,
  WORKGROUP_SIZE,
  emitWgslModule,
  spikeListBase,
  stepDispatches,
} from './wgsl/kernel.js';
import { WgslPrinter } from './wgsl/printer.js';
import { CUDA_BLOCK_SIZE, emitCudaModule } from './cuda/kernel.js';
import { CudaPrinter } from './cuda/printer.js';
import type { Precision } from './printer.js';

export type Target = 'wgsl' | 'js' | 'cuda';
export const TARGETS: readonly Target[] = ['wgsl', 'js', 'cuda'];

/** Derives updates once per model (and per wiring for `ltc` neurons), collecting every problem. */
class UpdateCache {
  readonly problems: Diagnostic[] = [];
  private readonly cache = new Map<unknown, Map<SymExpr | undefined, DerivedUpdate>>();

  get(model: NeuronModel | SynapseModel, ltcInput?: SymExpr): DerivedUpdate {
    const byInput = this.cache.get(model) ?? new Map<SymExpr | undefined, DerivedUpdate>();
    this.cache.set(model, byInput);
    const hit = byInput.get(ltcInput);
    if (hit !== undefined) return hit;
    const derived = deriveUpdate(model, ltcInput === undefined ? {} : { ltcInput });
    const update: DerivedUpdate =
      derived.kind === 'error'
        ? { kind: 'update', temporaries: [], states: [], noise: [] }
        : derived;
    if (derived.kind === 'error') this.problems.push(...derived.diagnostics);
    byInput.set(ltcInput, update);
    return update;
  }
}

/**
 * The backend-independent plan: routing of the projections, one kernel per
 * per-pre synapse and per population (in dispatch order), initial values,
 * recordings. Problems (an `exact` method on a non-linear model, what the
 * kernels cannot do yet) are thrown as a DiagnosticError.
 */
export function buildPlan(network: Network, steps: number): SimulationPlan {
  const routing = routeNetwork(network);
  const updates = new UpdateCache();
  const inputs: SynapticInputs = {
    routing,
    synapseUpdate: (model) => updates.get(model),
    neuronUpdate: (model, ltcInput) => updates.get(model, ltcInput),
  };
  const preKernels = routing.preSynapses.map((pre) =>
    buildPreSynapseKernel(network, pre, updates.get(pre.route.projection.synapse.model)),
  );
  const populationKernels = network.populations.map((p) =>
    buildPopulationKernel(network, p, inputs),
  );
  if (updates.problems.length > 0) throw new DiagnosticError(updates.problems);
  const traces = traceRequests(network, routing);
  // legalize: drop locals nothing reads (every target then compiles without unused-variable warnings).
  const kernels = [...preKernels, ...populationKernels].map((k) => {
    const live = new Set([
      ...k.states.map(nextName),
      ...(k.spikes ? [SPIKED] : []),
      ...traces
        .filter((t) => t.population === k.population)
        .map((t) => recordedLocal(k, t.variable)),
    ]);
    return { ...k, body: removeDeadLocals(k.body, live) };
  });
  const initial = new Map<string, ReadonlyMap<string, Float64Array>>();
  network.populations.forEach((p, k) => {
    const values = initialStates(network, p, populationKernels[k]!.states);
    for (const group of routing.groups.filter((g) => g.post === p.name)) {
      for (const [name, v] of synapseInitialStates(
        group.synapse.model,
        parameterValues(group.synapse.model, group.synapse.arguments),
        p.size,
        (x) => `${group.owner}.${x}`,
      ))
        values.set(name, v);
    }
    initial.set(p.name, values);
  });
  preKernels.forEach((kernel, k) => {
    const pre = routing.preSynapses[k]!;
    const values = synapseInitialStates(
      pre.route.projection.synapse.model,
      parameterValues(pre.route.projection.synapse.model, pre.route.projection.synapse.arguments),
      kernel.size,
    );
    values.set(DELIVERED_STATE, new Float64Array(kernel.size));
    initial.set(kernel.population, values);
  });
  const spikeRecords = network.recordings
    .filter((r) => r.variable === 'spikes')
    .map((r) => r.population);
  return { network, routing, kernels, initial, traces, spikeRecords, steps };
}

/** Where each recorded value lives in the kernels; a projection's state is in its post population (merged) or its per-pre kernel. */
function traceRequests(network: Network, routing: NetworkRouting): TraceRequest[] {
  const diagnostics = new Diagnostics();
  const requests: TraceRequest[] = [];
  for (const r of network.recordings) {
    if (r.variable === 'spikes') continue;
    const label = `${r.population}.${r.variable}`;
    if (r.of === 'population') {
      requests.push({
        population: r.population,
        variable: r.variable,
        range: r.range ?? { start: 0, end: 0 },
        label,
      });
      continue;
    }
    const route = routing.routes.find((x) => x.projection.name === r.population)!;
    const group = routing.groups.find((g) => g.routes.includes(route));
    const p = route.projection;
    // Merged state is indexed by post neuron (the whole post population), per-pre state by pre neuron of the range.
    const owner = group === undefined ? `@pre${route.index}` : p.post;
    const variable = group === undefined ? r.variable : `${group.owner}.${r.variable}`;
    const size =
      group === undefined
        ? p.preRange.end - p.preRange.start
        : network.populations.find((x) => x.name === p.post)!.size;
    const range = r.range ?? (group === undefined ? { start: 0, end: size } : p.postRange);
    if (range.start >= range.end || range.end > size) {
      diagnostics.error(
        r.span,
        `slice [${range.start}:${range.end}] is out of range: projection ${p.name} keeps ${r.variable} for ${size} ${group === undefined ? 'pre' : 'post'}-synaptic neurons`,
      );
      continue;
    }
    requests.push({ population: owner, variable, range, label });
  }
  if (diagnostics.hasErrors) throw new DiagnosticError(diagnostics.items);
  return requests;
}

/** A network of one population of a model, for inspecting and testing a model on its own. */
export function modelNetwork(model: NeuronModel, size = 1): Network {
  const span = model.span;
  return {
    name: model.name,
    span,
    dt: 0.1,
    duration: 1,
    seed: 0,
    populations: [
      {
        name: model.name,
        span,
        size,
        source: { kind: 'neuron', model },
        parameters: [],
        states: [],
      },
    ],
    projections: [],
    stimuli: [],
    recordings: [
      {
        of: 'population',
        population: model.name,
        variable: 'spikes',
        range: { start: 0, end: size },
        span,
      },
    ],
  };
}

export function layoutOf(plan: SimulationPlan): BufferLayout {
  return new BufferLayout(
    plan.kernels,
    plan.traces.map((t) => ({
      population: t.population,
      variable: t.variable,
      start: t.range.start,
      end: t.range.end,
    })),
    plan.routing,
  );
}

/** Routes whose spikes are delivered to merged (per post neuron) synapse state, in routing order. */
export function mergedRoutes(plan: SimulationPlan): Route[] {
  return plan.routing.groups.flatMap((g) => g.routes).sort((a, b) => a.index - b.index);
}

/** The generated source of a plan for one target. */
export function generateSource(
  plan: SimulationPlan,
  target: Target,
  precision: Precision = 'f32',
): string {
  const layout = layoutOf(plan);
  if (target === 'wgsl')
    return emitWgslModule(
      plan.kernels,
      layout,
      kernelPrinter(new WgslPrinter()),
      plan.network.seed,
      mergedRoutes(plan),
      [...plan.routing.ringSlots.keys()],
    );
  if (target === 'cuda')
    return emitCudaModule(
      plan.kernels,
      layout,
      kernelPrinter(new CudaPrinter({ precision })),
      plan.network.seed,
      precision,
      mergedRoutes(plan),
      [...plan.routing.ringSlots.keys()],
    );
  const printer = kernelPrinter(new JsPrinter({ precision: 'f32' }));
  const bodies = plan.kernels.map(
    (k) =>
      `function ${entryPointName(k.population)}(${JS_KERNEL_PARAMETERS.join(', ')}) {\n${emitJsPopulation(k, layout, printer, 'f32')}\n}`,
  );
  return `// Generated by spikeforge (JavaScript, float32 through Math.fround).\n${printer.prelude()}\n\n${bodies.join('\n\n')}\n`;
}

/** What a host program needs to drive the kernels: buffers, bindings, dispatch order. */
export function manifest(plan: SimulationPlan, target: Target): Record<string, unknown> {
  const layout = layoutOf(plan);
  return {
    network: plan.network.name,
    target,
    dt_ms: plan.network.dt,
    seed: plan.network.seed,
    buffers: {
      state: {
        binding: 0,
        type: 'f32',
        floats: layout.totalStateFloats,
        layout: plan.kernels.flatMap((k) =>
          k.states.map((s) => ({
            population: k.population,
            state: s,
            offset: layout.stateOffset(k.population, s),
            count: k.size,
          })),
        ),
      },
      events: {
        binding: 1,
        type: 'u32 (atomic)',
        rings: Object.fromEntries(
          [...plan.routing.ringSlots.keys()].map((p) => [p, layout.ring(p)]),
        ),
        counters: Object.fromEntries(
          mergedRoutes(plan).map((r) => [
            r.projection.name,
            layout.ringWords + layout.countOffset(r.index),
          ]),
        ),
        spike_list: {
          offset: spikeListBase(layout),
          format: 'count, then (step in chunk, global neuron index) pairs',
        },
        neuron_offsets: Object.fromEntries(
          plan.kernels.map((k) => [k.population, layout.neuronOffset(k.population)]),
        ),
      },
      record: {
        binding: 2,
        type: 'f32',
        row_floats: layout.recordRow,
        traces: layout.traces.map((t, r) => ({ ...t, offset: layout.traceOffset(r) })),
      },
      step_info: {
        binding: 3,
        type: 'uniform {step: u32, chunk_step: u32, pad: u32, pad: u32}',
        dynamic_offset_stride: STEP_UNIFORM_STRIDE,
      },
      connectivity: { binding: 4, type: 'u32', words: layout.connectivity.length },
    },
    projections: plan.routing.routes.map((r) => ({
      name: r.projection.name,
      placement: r.placement.placement,
      reason: r.placement.reason,
      delay_steps: r.delaySteps,
      connectivity: r.connectivity.kind,
    })),
    dispatch_per_step: stepDispatches(layout, plan.kernels, mergedRoutes(plan), [
      ...plan.routing.ringSlots.keys(),
    ]).map((d) => ({
      entry_point: d.entryPoint,
      threads: d.threads,
      ...(target === 'wgsl'
        ? {
            workgroup_size: d.threads === 1 ? 1 : WORKGROUP_SIZE,
            workgroups: Math.ceil(d.threads / (d.threads === 1 ? 1 : WORKGROUP_SIZE)),
          }
        : {}),
      ...(target === 'cuda'
        ? { block_size: CUDA_BLOCK_SIZE, blocks: Math.ceil(d.threads / CUDA_BLOCK_SIZE) }
        : {}),
    })),
  };
}
