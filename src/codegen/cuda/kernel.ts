import { PHILOX_CUDA } from '../../random/philox-cuda.js';
import { type Connectivity, SKIP_GUIDE_BITS } from '../connectivity.js';
import {
  type KernelPrinter,
  type StatementSyntax,
  counterRead,
  deliveryAdds,
  deliveryDescription,
  deliveryReadsLocalIndex,
  emitStatements,
  rangeCondition,
  gatherSource,
  neuronStateSource,
} from '../emit.js';
import { recordedLocal } from '../js/kernel.js';
import { readLocals } from '../legalize.js';
import {
  INDEX,
  type PopulationKernel,
  SPIKED,
  STEP,
  drawsNormal,
  entryPointName,
  nextName,
} from '../kernel-ir.js';
import type { BufferLayout } from '../layout.js';
import type { Delivery, Route } from '../network.js';
import type { Precision } from '../printer.js';
import { CLEAR_RINGS, deliveryEntryPoint, spikeListBase } from '../wgsl/kernel.js';

/** Threads per block for every kernel. */
export const CUDA_BLOCK_SIZE = 128;

/**
 * Where the kernels get the step number (an option of emitCudaModule).
 * - 'argument' (the default; what `compile --target cuda` writes): `const unsigned sf_step`.
 * - 'device': `const unsigned* __restrict__ sf_first_step`, the chunk's first step in device
 *   memory, and sf_step = *sf_first_step + sf_chunk_step. Then a chunk's launches have the same
 *   arguments in every chunk, so the runtime (src/runtime/cuda/backend.ts) captures them once
 *   into a CUDA graph and replays it, writing only the first step before each replay.
 */
export type CudaStepSource = 'argument' | 'device';

/** Options of emitCudaModule; the defaults give the module that `compile --target cuda` writes. */
export interface CudaModuleOptions {
  readonly stepSource?: CudaStepSource;
}

/** One parameter of every CUDA kernel: its C++ type and name, and what a host passes. */
export interface CudaKernelParameter {
  readonly type: string;
  readonly name: string;
  /** What the host passes (the manifest's words; buffers as the manifest's `buffers` name them). */
  readonly argument: string;
}

/**
 * The parameters every kernel takes, in order: they are the same for every kernel, so the host
 * launches them alike. The kernels are printed with them and the manifest lists them, so the
 * two cannot disagree.
 */
export function cudaKernelParameters(
  stepSource: CudaStepSource = 'argument',
): readonly CudaKernelParameter[] {
  return [
    {
      type: 'sf_real* __restrict__',
      name: 'sf_state',
      argument: 'the state buffer (buffers.state; sf_real is float for f32, double for f64)',
    },
    {
      type: 'unsigned* __restrict__',
      name: 'sf_events',
      argument:
        'the events buffer (buffers.events: spike rings, delivery counters, then the spike list)',
    },
    {
      type: 'sf_real* __restrict__',
      name: 'sf_record',
      argument: 'the record buffer: a row of buffers.record.row_floats values per step of a chunk',
    },
    {
      type: 'const unsigned* __restrict__',
      name: 'sf_conn',
      argument: 'the connectivity buffer (buffers.connectivity)',
    },
    stepSource === 'device'
      ? {
          type: 'const unsigned* __restrict__',
          name: 'sf_first_step',
          argument: "one word of device memory: the chunk's first step",
        }
      : {
          type: 'const unsigned',
          name: 'sf_step',
          argument: 'the step, counted from 0 at the start of the run',
        },
    {
      type: 'const unsigned',
      name: 'sf_chunk_step',
      argument:
        'the step within the chunk: the record row it writes and the step its spike list entries carry',
    },
  ];
}

/** A kernel's C++ declaration: `extern "C" __global__ void NAME(PARAMETERS)`. */
export function cudaKernelSignature(
  entryPoint: string,
  stepSource: CudaStepSource = 'argument',
): string {
  const list = cudaKernelParameters(stepSource).map((p) => `${p.type} ${p.name}`);
  return `extern "C" __global__ void ${entryPoint}(${list.join(', ')})`;
}

/** A kernel's lines with `sf_step` defined after the opening line where it is read from device memory. */
function withStep(lines: string[], stepSource: CudaStepSource): string[] {
  if (stepSource === 'argument' || !lines.slice(1).some((l) => /\bsf_step\b/.test(l))) return lines;
  return [
    lines[0]!,
    '  const unsigned sf_step = *sf_first_step + sf_chunk_step;',
    ...lines.slice(1),
  ];
}

function cudaSyntax(layout: BufferLayout): StatementSyntax {
  return {
    declareFloat: (name, value) => `sf_real ${name} = ${value};`,
    declareBool: (name, value) => `const bool ${name} = ${value};`,
    assign: (name, value) => `${name} = ${value};`,
    ifOpen: (condition) => `if (${condition}) {`,
    elseOpen: '} else {',
    close: '}',
    random: (name, distribution, stream, purpose) =>
      `sf_real ${name} = sf_${distribution}(${stream}u, sf_i, sf_step, ${purpose}u);`,
    count: (name, counter) => {
      const value = `atomicExch(&sf_events[${counterRead(layout, counter, 'sf_step', 'u')}], 0u)`;
      return [
        `const sf_real ${name} = (sf_real)${layout.counter(counter).signed ? `(int)${value}` : value};`,
      ];
    },
    gather: (name, route, owner, state, over) => {
      const p = layout.route(route).projection;
      const source = layout.stateOffset(owner, state);
      const from = gatherSource(layout, route, over);
      const lines = [
        `sf_real ${name} = 0;`,
        `if (${rangeCondition('sf_i', p.postRange.start, p.postRange.end, p.postRange.end + 1, 'u') ?? 'true'}) {`,
        ...(from.kind === 'all' ? [] : [`  const unsigned il = sf_i - ${p.postRange.start}u;`]),
      ];
      // Sources in ascending order, as on every backend, so that the float sums agree.
      switch (from.kind) {
        case 'all':
          lines.push(
            `  for (unsigned j = 0u; j < ${from.count}u; j++) ${name} = ${name} + sf_state[${source}u + j];`,
          );
          break;
        case 'one':
          lines.push(`  ${name} = sf_state[${source}u + il];`);
          break;
        case 'rows':
          lines.push(
            `  for (unsigned k = sf_conn[${from.inStart}u + il]; k < sf_conn[${from.inStart}u + il + 1u]; k++) ${name} = ${name} + sf_state[${source}u + sf_conn[${from.element}u + k]];`,
          );
          break;
      }
      lines.push('}');
      return lines;
    },
    neuronState: (name, read) => {
      const { base, row } = neuronStateSource(read, layout);
      const index = row === undefined ? 'sf_i' : `sf_conn[${row}u + sf_i]`;
      return [`const sf_real ${name} = sf_state[${base}u + ${index}];`];
    },
    spikeTime: (name, cursor, next, owner) => {
      const o = layout.spikeTimeOffsets(owner);
      return [
        `const unsigned sf_event = ${o.steps}u + sf_conn[${o.start}u + sf_i] + (unsigned)${cursor};`,
        `const bool ${name} = sf_event < ${o.steps}u + sf_conn[${o.start}u + sf_i + 1u] && sf_conn[sf_event] == sf_step;`,
        `sf_real ${next} = ${name} ? ${cursor} + 1 : ${cursor};`,
      ];
    },
  };
}

/**
 * Statements that call `visit(il, drawn)` for each post target of pre neuron `jl` (see
 * DeliverySyntax.forEachTarget); the same draws as connectivity.ts.
 */
function forEachTarget(
  c: Connectivity,
  layout: BufferLayout,
  route: Route,
  visit: (il: string, drawn: string | undefined) => string,
  indent: string,
): string[] {
  const nPost = route.projection.postRange.end - route.projection.postRange.start;
  switch (c.kind) {
    case 'all':
      return [`${indent}for (unsigned il = 0u; il < ${nPost}u; il++) ${visit('il', undefined)}`];
    case 'one':
      return [`${indent}if (jl < ${nPost}u) ${visit('jl', undefined)}`];
    case 'geometric': {
      const table = layout.tableOffsets(route.index);
      const bits = c.weights?.bits;
      const plain = table.knots === undefined || bits === undefined;
      const philox = (purpose: number): string =>
        `sf_philox4x32_10(make_uint4(jl, c >> 2u, ${purpose}u, 0u), make_uint2(SF_SEED, ${c.stream}u))`;
      const word = (v: string): string =>
        `(c & 3u) == 0u ? ${v}.x : (c & 3u) == 1u ? ${v}.y : (c & 3u) == 2u ? ${v}.z : ${v}.w`;
      return [
        `${indent}int next = -1;`,
        `${indent}uint4 words = make_uint4(0u, 0u, 0u, 0u);`,
        ...(plain ? [] : [`${indent}uint4 weight_words = make_uint4(0u, 0u, 0u, 0u);`]),
        `${indent}for (unsigned c = 0u;; c++) {`,
        ...(plain
          ? [`${indent}  if ((c & 3u) == 0u) words = ${philox(1)};`]
          : [
              `${indent}  if ((c & 3u) == 0u) {`,
              `${indent}    words = ${philox(1)};`,
              `${indent}    weight_words = ${philox(2)};`,
              `${indent}  }`,
            ]),
        `${indent}  const unsigned x = ${word('words')};`,
        // The guide bounds the search (connectivity.ts SkipTable).
        `${indent}  const unsigned bucket = ${table.guide}u + (x >> ${32 - SKIP_GUIDE_BITS}u);`,
        `${indent}  unsigned lo = sf_conn[bucket + 1u], hi = sf_conn[bucket];`,
        `${indent}  while (lo < hi) {`,
        `${indent}    const unsigned mid = (lo + hi) >> 1;`,
        `${indent}    if (x < sf_conn[${table.entries}u + mid]) lo = mid + 1u; else hi = mid;`,
        `${indent}  }`,
        `${indent}  next += (int)lo + 1;`,
        `${indent}  if (next >= ${nPost}) break;`,
        `${indent}  const unsigned il = (unsigned)next;`,
        ...(plain
          ? [`${indent}  ${visit('il', undefined)}`]
          : [
              // drawn-weights.ts drawnWeight: interpolation between two knots, in integers.
              `${indent}  const unsigned wx = ${word('weight_words')};`,
              `${indent}  const unsigned knot = ${table.knots}u + (wx >> ${32 - bits}u);`,
              `${indent}  const unsigned f = wx << ${bits}u, d = sf_conn[knot + 1u] - sf_conn[knot];`,
              `${indent}  const unsigned w = sf_conn[knot] + __umulhi(f, d) + ((f * d) >> 31);`,
              `${indent}  ${visit('il', 'w')}`,
            ]),
        `${indent}}`,
      ];
    }
    case 'rows': {
      const outStart = layout.rowArray(route.index, 'outStart');
      const outTargets = layout.rowArray(route.index, 'outTargets');
      return [
        `${indent}for (unsigned k = sf_conn[${outStart}u + jl]; k < sf_conn[${outStart}u + jl + 1u]; k++) {`,
        `${indent}  const unsigned il = sf_conn[${outTargets}u + k];`,
        `${indent}  ${visit('il', undefined)}`,
        `${indent}}`,
      ];
    }
  }
}

/**
 * The normal draw of kernel statements, for a module whose kernels draw one (after the prelude,
 * which then defines sf_box_muller): float32 at either precision, as on every backend.
 */
const NORMAL_DRAW = `__device__ __forceinline__ sf_real sf_normal(unsigned stream, unsigned index, unsigned step, unsigned purpose) {
  const uint4 w = sf_random_u32x4(SF_SEED, stream, index, step, purpose);
  return (sf_real)sf_box_muller(w.x, w.y).x;
}

`;

function header(
  seed: number,
  layout: BufferLayout,
  precision: Precision,
  prelude: string,
  normal: boolean,
): string {
  return `// Generated by spikeforge (CUDA C++, ${precision === 'f32' ? 'float' : 'double'}). Buffers as in the WGSL
// module: state (structure of arrays), events (spike rings, per-route spike counters, then the
// recorded spike list), record (a row of traces per step), connectivity (read-only).
// Compile without --use_fast_math: the exprel formula needs an accurate logf.
typedef ${precision === 'f32' ? 'float' : 'double'} sf_real;
#define SF_SEED ${seed >>> 0}u
#define SF_SPIKE_LIST ${spikeListBase(layout)}u
${PHILOX_CUDA}
${prelude === '' ? '' : `${prelude}\n`}${normal ? NORMAL_DRAW : ''}__device__ __forceinline__ sf_real sf_uniform(unsigned stream, unsigned index, unsigned step, unsigned purpose) {
  return (sf_real)sf_u32_to_uniform01(sf_random_u32x4(SF_SEED, stream, index, step, purpose).x);
}`;
}

function emitPopulation(
  kernel: PopulationKernel,
  layout: BufferLayout,
  printer: KernelPrinter,
  stepSource: CudaStepSource,
): string {
  const lines = [
    `${cudaKernelSignature(entryPointName(kernel.population), stepSource)} {`,
    '  const unsigned sf_i = blockIdx.x * blockDim.x + threadIdx.x;',
    `  if (sf_i >= ${kernel.size}u) return;`,
  ];
  const used = readLocals(kernel.body);
  if (used.has(INDEX)) lines.push(`  const sf_real ${printer.local(INDEX)} = (sf_real)sf_i;`);
  if (used.has(STEP)) lines.push(`  const sf_real ${printer.local(STEP)} = (sf_real)sf_step;`);
  // A state's start-of-step value is loaded only where the step reads it.
  for (const s of kernel.states)
    if (used.has(s))
      lines.push(
        `  const sf_real ${printer.local(s)} = sf_state[${layout.stateOffset(kernel.population, s)}u + sf_i];`,
      );
  lines.push(...emitStatements(kernel.body, printer, cudaSyntax(layout), '  '));
  for (const s of kernel.states)
    lines.push(
      `  sf_state[${layout.stateOffset(kernel.population, s)}u + sf_i] = ${printer.local(nextName(s))};`,
    );
  if (kernel.spikes) {
    lines.push(
      `  if (${printer.local(SPIKED)}) {`,
      '    const unsigned sf_k = atomicAdd(&sf_events[SF_SPIKE_LIST], 1u);',
      '    sf_events[SF_SPIKE_LIST + 1u + 2u * sf_k] = sf_chunk_step;',
      `    sf_events[SF_SPIKE_LIST + 2u + 2u * sf_k] = ${layout.neuronOffset(kernel.population)}u + sf_i;`,
    );
    const ring = layout.ring(kernel.population);
    if (ring !== undefined) {
      lines.push(
        `    const unsigned sf_slot = ${ring.offset}u + (sf_step % ${ring.slots}u) * ${ring.stride}u;`,
        '    sf_events[sf_slot + 1u + atomicAdd(&sf_events[sf_slot], 1u)] = sf_i;',
      );
    }
    lines.push('  }');
  }
  layout.traces.forEach((t, r) => {
    if (t.population !== kernel.population) return;
    const inRange = rangeCondition('sf_i', t.start, t.end, kernel.size, 'u');
    lines.push(
      `  ${inRange === undefined ? '' : `if (${inRange}) `}sf_record[sf_chunk_step * ${layout.recordRow}u + ${layout.traceOffset(r)}u + sf_i - ${t.start}u] = ${printer.local(recordedLocal(kernel, t.variable))};`,
    );
  });
  lines.push('}');
  return withStep(lines, stepSource).join('\n');
}

/** Step 1 of a step for one delivery (see Delivery in network.ts), as in the WGSL module. */
function emitDelivery(
  delivery: Delivery,
  index: number,
  layout: BufferLayout,
  stepSource: CudaStepSource,
): string {
  const ring = layout.ring(delivery.source)!;
  const { start, end } = delivery.range;
  const inRange = rangeCondition('j', start, end, ring.stride - 1, 'u');
  const d = delivery.ringDelay;
  const lines = [
    `${cudaKernelSignature(deliveryEntryPoint(index), stepSource)} {`,
    `  // ${deliveryDescription(delivery, d)}`,
    `  const unsigned sf_slot = ${ring.offset}u + ((sf_step + ${(ring.slots - d) % ring.slots}u) % ${ring.slots}u) * ${ring.stride}u;`,
    '  const unsigned sf_k = blockIdx.x * blockDim.x + threadIdx.x;',
    '  if (sf_k >= sf_events[sf_slot]) return;',
  ];
  const readsLocal = deliveryReadsLocalIndex(delivery);
  if (readsLocal || inRange !== undefined)
    lines.push('  const unsigned j = sf_events[sf_slot + 1u + sf_k];');
  if (inRange !== undefined) lines.push(`  if (!(${inRange})) return;`);
  if (readsLocal) lines.push(`  const unsigned jl = j - ${start}u;`);
  lines.push(
    ...deliveryAdds(delivery, index, layout, {
      step: 'sf_step',
      loop: (from, to, body, indent) => [
        `${indent}for (unsigned k = ${from}; k < ${to}; k++) ${body}`,
      ],
      forEachTarget: (route, visit, indent) =>
        forEachTarget(route.connectivity, layout, route, visit, indent),
    }),
    '}',
  );
  return withStep(lines, stepSource).join('\n');
}

function emitClearRings(
  layout: BufferLayout,
  populations: readonly string[],
  stepSource: CudaStepSource,
): string {
  const lines = [`${cudaKernelSignature(CLEAR_RINGS, stepSource)} {`];
  for (const p of populations) {
    const ring = layout.ring(p)!;
    lines.push(`  sf_events[${ring.offset}u + (sf_step % ${ring.slots}u) * ${ring.stride}u] = 0u;`);
  }
  lines.push('}');
  return withStep(lines, stepSource).join('\n');
}

/** One CUDA translation unit with the same kernels, in the same step order, as the WGSL module. */
export function emitCudaModule(
  kernels: readonly PopulationKernel[],
  layout: BufferLayout,
  printer: KernelPrinter,
  seed: number,
  precision: Precision,
  options: CudaModuleOptions = {},
): string {
  const stepSource = options.stepSource ?? 'argument';
  const bodies = [
    ...layout.deliveries.map((d, k) => emitDelivery(d, k, layout, stepSource)),
    ...(layout.ringPopulations.length > 0
      ? [emitClearRings(layout, layout.ringPopulations, stepSource)]
      : []),
    ...kernels.map((k) => emitPopulation(k, layout, printer, stepSource)),
  ];
  const normal = drawsNormal(kernels);
  const prelude = printer.prelude(normal ? ['sf_box_muller'] : []);
  return [header(seed, layout, precision, prelude, normal), ...bodies].join('\n\n') + '\n';
}
