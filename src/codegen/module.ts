import { totalmem } from 'node:os';
import {
  type Diagnostic,
  DiagnosticError,
  Diagnostics,
  InternalError,
} from '../diagnostics/diagnostic.js';
import { type DerivedUpdate, deriveUpdate } from '../integrate/derive.js';
import type { Network, NeuronModel, Program, SynapseModel } from '../ir/types.js';
import { initialStates, neuronStartValue, synapseInitialStates } from '../runtime/initial-state.js';
import { initialValueExprs, neuronVariablesRead } from '../ir/walk.js';
import { formatDimension } from '../units/dimension.js';
import type { SimulationPlan, TraceRequest } from '../runtime/backend.js';
import type { Expr as SymExpr } from '../symbolic/expr.js';
import { kernelPrinter } from './emit.js';
import { SPIKED, nextName } from './kernel-ir.js';
import { flushSubnormalStates, removeDeadLocals } from './legalize.js';
import {
  type NetworkRouting,
  projectionRecordingProblem,
  recordedSize,
  routeNetwork,
  routingProblems,
} from './network.js';
import { recordingSteps } from './steps.js';
import { networkSizeProblems } from './network-size.js';
import { JS_KERNEL_PARAMETERS, emitJsPopulation, recordedLocal } from './js/kernel.js';
import { JsPrinter } from './js/printer.js';
import {
  BufferLayout,
  BufferTooLargeError,
  CONNECTIVITY_ARRAYS,
  bufferTooLargeMessage,
} from './layout.js';
import {
  DELIVERED_STATE,
  jumpState,
  postChanges,
  type SynapticInputs,
  parameterValues,
  WEIGHT_STATE,
  buildOwnSynapseKernel,
  buildPopulationKernel,
} from './population.js';
import { entryPointName } from './kernel-ir.js';
import {
  STEP_UNIFORM_STRIDE,
  WORKGROUP_SIZE,
  deliveryEntryPoint,
  emitWgslModule,
  spikeListBase,
  stepDispatches,
} from './wgsl/kernel.js';
import { WgslPrinter } from './wgsl/printer.js';
import {
  CUDA_BLOCK_SIZE,
  cudaKernelParameters,
  cudaKernelSignature,
  emitCudaModule,
} from './cuda/kernel.js';
import { CudaPrinter } from './cuda/printer.js';
import { emitWasmModule, wasmMemoryPlan } from './wasm/kernel.js';
import type { Precision } from './printer.js';

export type Target = 'wgsl' | 'js' | 'cuda' | 'wasm';
export const TARGETS: readonly Target[] = ['wgsl', 'js', 'cuda', 'wasm'];

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
 * What buildPlan would refuse in a program, found without building any connectivity: the
 * neuron and synapse models whose update cannot be derived (`method exact` on a non-linear
 * system), the networks too large for 32-bit buffer indices and the projections the kernels
 * cannot route. For `spikeforge check`.
 */
export function planProblems(program: Program): readonly Diagnostic[] {
  const problems: Diagnostic[] = [];
  for (const model of program.models.values()) {
    if (model.kind === 'output') continue;
    const derived = deriveUpdate(model);
    if (derived.kind === 'error') problems.push(...derived.diagnostics);
  }
  for (const network of program.networks.values()) {
    problems.push(...networkSizeProblems(network), ...routingProblems(network));
    // A population that sets parameters per neuron runs a model of its own.
    for (const p of network.populations)
      if (p.source.kind === 'neuron' && p.source.perNeuronParameters.length > 0) {
        const derived = deriveUpdate(p.source.model);
        if (derived.kind === 'error') problems.push(...derived.diagnostics);
      }
  }
  // A synapse model used by several projections would be reported once per projection.
  const seen = new Set<string>();
  return problems.filter((d) => {
    const key = `${d.span.file.path}:${d.span.start}:${d.message}`;
    return !seen.has(key) && (seen.add(key), true);
  });
}

/**
 * The backend-independent plan: routing of the projections, one kernel per
 * projection with per-pre or per-synapse state and per population (in dispatch order), initial values,
 * recordings. Problems (an `exact` method on a non-linear model, what the
 * kernels cannot do yet) are thrown as a DiagnosticError.
 */
export function buildPlan(network: Network, steps: number): SimulationPlan {
  const tooLarge = networkSizeProblems(network, totalmem());
  if (tooLarge.length > 0) throw new DiagnosticError(tooLarge);
  const routing = routeNetwork(network);
  const updates = new UpdateCache();
  const inputs: SynapticInputs = {
    routing,
    synapseUpdate: (model) => updates.get(model),
    neuronUpdate: (model, ltcInput) => updates.get(model, ltcInput),
  };
  const ownSynapses = [...routing.preSynapses, ...routing.synapses].sort(
    (a, b) => a.route.index - b.route.index,
  );
  const synapseKernels = ownSynapses.map((own) =>
    buildOwnSynapseKernel(network, own, updates.get(own.route.projection.synapse.model)),
  );
  const populationKernels = network.populations.map((p) =>
    buildPopulationKernel(network, p, inputs),
  );
  if (updates.problems.length > 0) throw new DiagnosticError(updates.problems);
  const traces = traceRequests(network, routing);
  // legalize: flush subnormal states to 0, then drop locals nothing reads (every target then
  // compiles without unused-variable warnings).
  const kernels = [...synapseKernels, ...populationKernels].map((k) => {
    const live = new Set([
      ...k.states.map(nextName),
      ...(k.spikes ? [SPIKED] : []),
      ...traces
        .filter((t) => t.population === k.population)
        .map((t) => recordedLocal(k, t.variable)),
    ]);
    return { ...k, body: removeDeadLocals(flushSubnormalStates(k.body, k.states), live) };
  });
  const initial = new Map<string, Map<string, Float64Array>>();
  network.populations.forEach((p, k) =>
    initial.set(p.name, initialStates(network, p, populationKernels[k]!)),
  );
  // The neurons' start values that synapse states start from (`x = post.V / (10 mV)`), per element.
  const neuronStarts = (
    model: SynapseModel,
    n: number,
    sides: readonly NeuronSide[],
  ): Map<string, Float64Array> => {
    const reads = new Map<string, Float64Array>();
    for (const symbol of neuronVariablesRead(initialValueExprs(model))) {
      const [side, name] = symbol.split('.') as ['pre' | 'post', string];
      const at = sides.find((s) => s.side === side);
      if (at === undefined) throw new InternalError(`${model.name} cannot start from ${symbol}`);
      const population = network.populations.find((p) => p.name === at.population)!;
      const values = neuronStartValue(network, population, initial.get(population.name)!, name);
      reads.set(
        symbol,
        Float64Array.from({ length: n }, (_, e) => values[at.index(e)]!),
      );
    }
    return reads;
  };
  for (const p of network.populations) {
    const values = initial.get(p.name)!;
    for (const group of routing.groups.filter((g) => g.post === p.name)) {
      for (const [name, v] of synapseInitialStates(
        group.synapse.model,
        parameterValues(group.synapse.model, group.synapse.arguments),
        p.size,
        { seed: network.seed, key: `${network.name}.${p.name}.${group.owner}` },
        (x) => `${group.owner}.${x}`,
        neuronStarts(group.synapse.model, p.size, [
          { side: 'post', population: p.name, index: (j) => j },
        ]),
      ))
        values.set(name, v);
    }
  }
  synapseKernels.forEach((kernel, k) => {
    const { route } = ownSynapses[k]!;
    const projection = route.projection;
    const synapse = projection.synapse;
    const rows = route.connectivity.kind === 'rows' ? route.connectivity.rows : undefined;
    // A per-pre element is its pre neuron; a synapse has both, from its stored row.
    const sides: NeuronSide[] =
      route.placement.placement === 'pre'
        ? [{ side: 'pre', population: projection.pre, index: (i) => projection.preRange.start + i }]
        : [
            {
              side: 'pre',
              population: projection.pre,
              index: (s) => projection.preRange.start + rows!.outSources[s]!,
            },
            {
              side: 'post',
              population: projection.post,
              index: (s) => projection.postRange.start + rows!.outTargets[s]!,
            },
          ];
    // A synapse's states may start from its weight (placement keeps such state per synapse).
    const weights =
      route.placement.placement === 'synapse'
        ? (route.synapticWeights ?? new Float64Array(kernel.size).fill(route.weight))
        : undefined;
    const given = neuronStarts(synapse.model, kernel.size, sides);
    if (weights !== undefined) given.set('w', weights);
    const values = synapseInitialStates(
      synapse.model,
      parameterValues(synapse.model, synapse.arguments),
      kernel.size,
      { seed: network.seed, key: `${network.name}.${projection.name}` },
      (x) => x,
      given,
    );
    values.set(DELIVERED_STATE, new Float64Array(kernel.size));
    for (const x of postChanges(synapse.model))
      values.set(jumpState(x), new Float64Array(kernel.size));
    if (kernel.states.includes(WEIGHT_STATE)) values.set(WEIGHT_STATE, weights!);
    initial.set(kernel.population, values);
  });
  const spikeRecords = network.recordings
    .filter((r) => r.variable === 'spikes')
    .map((r) => r.population);
  return { network, routing, kernels, initial, traces, spikeRecords, steps };
}

/** Which neuron a synapse-state element reads as `side.X`: its index in `population`. */
interface NeuronSide {
  readonly side: 'pre' | 'post';
  readonly population: string;
  readonly index: (element: number) => number;
}

/**
 * Where each recorded value lives in the kernels. A projection's state is in
 * its post population (merged: indexed by post neuron, the whole population),
 * its per-pre kernel (by pre neuron of the range) or its per-synapse kernel (by
 * synapse, in stored-row order; `w` is the synapse's weight).
 */
function traceRequests(network: Network, routing: NetworkRouting): TraceRequest[] {
  const diagnostics = new Diagnostics();
  const requests: TraceRequest[] = [];
  for (const r of network.recordings) {
    if (r.variable === 'spikes') continue;
    const label = `${r.population}.${r.variable}`;
    const every = r.every === undefined ? 1 : recordingSteps(r.every, network.dt);
    if (r.of === 'population') {
      requests.push({
        population: r.population,
        variable: r.variable,
        range: r.range ?? { start: 0, end: 0 },
        label,
        every,
      });
      continue;
    }
    const route = routing.routes.find((x) => x.projection.name === r.population)!;
    const group = routing.groups.find((g) => g.routes.includes(route));
    const p = route.projection;
    const placement = route.placement.placement;
    const owner =
      group !== undefined
        ? p.post
        : placement === 'pre'
          ? `@pre${route.index}`
          : `@synapse${route.index}`;
    const variable =
      group !== undefined
        ? `${group.owner}.${r.variable}`
        : r.variable === 'w' && placement === 'synapse'
          ? WEIGHT_STATE
          : r.variable;
    const size = recordedSize(
      network,
      p,
      placement,
      route.connectivity.kind === 'rows' ? route.connectivity.rows.outTargets.length : 0,
    )!;
    const problem = projectionRecordingProblem(p, r, placement, size);
    if (problem !== undefined) {
      diagnostics.error(problem.span, problem.message);
      continue;
    }
    const range = r.range ?? (group === undefined ? { start: 0, end: size } : p.postRange);
    requests.push({ population: owner, variable, range, label, every });
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
        source: { kind: 'neuron', model, perNeuronParameters: [] },
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
        variableSpan: span,
        sliceSpan: undefined,
        every: undefined,
      },
    ],
  };
}

export function layoutOf(plan: SimulationPlan): BufferLayout {
  try {
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
  } catch (error) {
    if (!(error instanceof BufferTooLargeError)) throw error;
    const diagnostics = new Diagnostics();
    diagnostics.error(
      plan.network.span,
      bufferTooLargeMessage(plan.network.name, error.what, error.words.toLocaleString('en-US')),
    );
    throw new DiagnosticError(diagnostics.items);
  }
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
    );
  if (target === 'cuda')
    return emitCudaModule(
      plan.kernels,
      layout,
      kernelPrinter(new CudaPrinter({ precision })),
      plan.network.seed,
      precision,
    );
  if (target === 'wasm') {
    // One record row: the module as the CPU backend builds it for chunks of one step.
    const memory = wasmMemoryPlan(plan.kernels, layout, 1);
    return `;; Generated by spikeforge (WebAssembly text, float32). Memory (bytes): ${JSON.stringify(memory)}\n${emitWasmModule(plan.kernels, layout, memory, plan.network.seed)}\n`;
  }
  const printer = kernelPrinter(new JsPrinter({ precision }));
  const bodies = plan.kernels.map(
    (k) =>
      `function ${entryPointName(k.population)}(${JS_KERNEL_PARAMETERS.join(', ')}) {\n${emitJsPopulation(k, layout, printer, precision)}\n}`,
  );
  const arithmetic = precision === 'f32' ? 'float32 through Math.fround' : 'float64';
  return `// Generated by spikeforge (JavaScript, ${arithmetic}).\n${printer.prelude()}\n\n${bodies.join('\n\n')}\n`;
}

/**
 * The connectivity buffer's arrays in order, as the manifest lists them (see
 * CONNECTIVITY_ARRAYS): whose they are, and for weights in quanta the quantum.
 */
function connectivityLayout(layout: BufferLayout): Record<string, unknown>[] {
  return layout.connectivitySegments.map((s) => {
    const route = s.route === undefined ? undefined : layout.route(s.route);
    const quantum =
      s.array === 'weights'
        ? route?.weight
        : s.array === 'weightKnots' && route?.connectivity.kind === 'geometric'
          ? route.connectivity.weights?.quantum
          : undefined;
    return {
      array: s.array,
      offset: s.offset,
      words: s.words,
      type: s.type,
      ...(route === undefined ? {} : { projection: route.projection.name }),
      ...(s.delivery === undefined ? {} : { delivery: deliveryEntryPoint(s.delivery) }),
      ...(s.population === undefined ? {} : { population: s.population }),
      ...(quantum === undefined || route === undefined
        ? {}
        : { quantum, quantum_unit: formatDimension(route.projection.weightDimension) }),
    };
  });
}

/** What a host program needs to drive the kernels: buffers, bindings, dispatch order. */
export function manifest(
  plan: SimulationPlan,
  target: Target,
  precision: Precision = 'f32',
): Record<string, unknown> {
  const layout = layoutOf(plan);
  return {
    network: plan.network.name,
    target,
    dt_ms: plan.network.dt,
    seed: plan.network.seed,
    buffers: {
      state: {
        binding: 0,
        type: precision,
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
          plan.routing.deliveries.map((d) => [d.counter.name, layout.counter(d.counter.name)]),
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
        type: precision,
        row_floats: layout.recordRow,
        traces: layout.traces.map((t, r) => ({ ...t, offset: layout.traceOffset(r) })),
      },
      step_info: {
        binding: 3,
        type: 'uniform {step: u32, chunk_step: u32, pad: u32, pad: u32}',
        dynamic_offset_stride: STEP_UNIFORM_STRIDE,
      },
      connectivity: {
        binding: 4,
        type: 'u32',
        words: layout.connectivityWords,
        layout: connectivityLayout(layout),
        // What the arrays of the layout hold.
        arrays: Object.fromEntries(
          Object.entries(CONNECTIVITY_ARRAYS).filter(([array]) =>
            layout.connectivitySegments.some((s) => s.array === array),
          ),
        ),
        indices:
          "neuron indices are local: counted from the first neuron of the projection's pre or post range, or of the SpikeTimes population",
      },
    },
    // WebAssembly: every buffer in one memory, at these byte offsets (chunks of one step).
    ...(target === 'wasm' ? { memory: wasmMemoryPlan(plan.kernels, layout, 1) } : {}),
    projections: plan.routing.routes.map((r) => ({
      name: r.projection.name,
      placement: r.placement.placement,
      reason: r.placement.reason,
      delay_steps: r.delaySteps,
      connectivity: r.connectivity.kind,
    })),
    // The CUDA kernels all take the same parameters.
    ...(target === 'cuda'
      ? {
          kernel_signature: cudaKernelSignature('ENTRY_POINT'),
          kernel_parameters: cudaKernelParameters(),
        }
      : {}),
    dispatch_per_step: stepDispatches(layout, plan.kernels).map((d) => ({
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
