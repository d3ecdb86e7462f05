import { PHILOX_WGSL } from '../../random/philox-wgsl.js';
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
import { recordedLocal } from '../js/kernel.js';

/** Threads per workgroup: within the 128 that WebGPU compatibility mode (and llvmpipe) allows. */
export const WORKGROUP_SIZE = 64;
/** Byte stride of the per-step uniform block: WebGPU's minimum dynamic-offset alignment. */
export const STEP_UNIFORM_STRIDE = 256;
/** The kernel that empties this step's spike-ring slots. */
export const CLEAR_RINGS = 'clear_rings';

/** Entry point of a delivery kernel (its position in the routing's deliveries). */
export function deliveryEntryPoint(delivery: number): string {
  return `deliver_${delivery}`;
}

/**
 * The events buffer (u32 atomics) holds, in order: the spike rings, the
 * delivery counters, then the recording spike list (count, then
 * pairs). Ring and counters come first because the spike list's length
 * depends on the chunk size.
 */
export function spikeListBase(layout: BufferLayout): number {
  return layout.ringWords + layout.countWords;
}

/**
 * Statements that loop over the post targets of pre neuron `jl` (local), calling `visit(il,
 * drawn)` (see DeliverySyntax.forEachTarget).
 */
function forEachTarget(
  c: Connectivity,
  layout: BufferLayout,
  route: Route,
  visit: (il: string, drawn: string | undefined) => string,
  indent: string,
): string[] {
  const p = route.projection;
  const nPost = p.postRange.end - p.postRange.start;
  switch (c.kind) {
    case 'all':
      return [
        `${indent}for (var il = 0u; il < ${nPost}u; il++) {`,
        `${indent}  ${visit('il', undefined)}`,
        `${indent}}`,
      ];
    case 'one':
      return [
        `${indent}if (jl < ${nPost}u) {`,
        `${indent}  ${visit('jl', undefined)}`,
        `${indent}}`,
      ];
    case 'geometric': {
      // Same draws, binary search and weights as connectivity.ts geometricRow.
      const table = layout.tableOffsets(route.index);
      const bits = c.weights?.bits;
      const philox = (purpose: number): string =>
        `sf_philox4x32_10(vec4<u32>(jl, c >> 2u, ${purpose}u, 0u), vec2<u32>(SF_SEED, ${c.stream}u))`;
      const plain = table.knots === undefined || bits === undefined;
      return [
        `${indent}var sf_next: i32 = -1;`,
        `${indent}var sf_words = vec4<u32>(0u, 0u, 0u, 0u);`,
        ...(plain ? [] : [`${indent}var sf_weight_words = vec4<u32>(0u, 0u, 0u, 0u);`]),
        `${indent}for (var c = 0u; ; c++) {`,
        `${indent}  if ((c & 3u) == 0u) {`,
        `${indent}    sf_words = ${philox(1)};`,
        ...(plain ? [] : [`${indent}    sf_weight_words = ${philox(2)};`]),
        `${indent}  }`,
        `${indent}  let x = sf_words[c & 3u];`,
        // The guide bounds the search (connectivity.ts SkipTable).
        `${indent}  let bucket = ${table.guide}u + (x >> ${32 - SKIP_GUIDE_BITS}u);`,
        `${indent}  var lo = sf_conn[bucket + 1u];`,
        `${indent}  var hi = sf_conn[bucket];`,
        `${indent}  while (lo < hi) {`,
        `${indent}    let mid = (lo + hi) >> 1u;`,
        `${indent}    if (x < sf_conn[${table.entries}u + mid]) {`,
        `${indent}      lo = mid + 1u;`,
        `${indent}    } else {`,
        `${indent}      hi = mid;`,
        `${indent}    }`,
        `${indent}  }`,
        `${indent}  sf_next = sf_next + i32(lo) + 1;`,
        `${indent}  if (sf_next >= ${nPost}) {`,
        `${indent}    break;`,
        `${indent}  }`,
        `${indent}  let il = u32(sf_next);`,
        ...(plain
          ? [`${indent}  ${visit('il', undefined)}`]
          : [
              // drawn-weights.ts drawnWeight: interpolation between two knots, in integers.
              `${indent}  let sf_x = sf_weight_words[c & 3u];`,
              `${indent}  let sf_knot = ${table.knots}u + (sf_x >> ${32 - bits}u);`,
              `${indent}  let sf_f = sf_x << ${bits}u;`,
              `${indent}  let sf_d = sf_conn[sf_knot + 1u] - sf_conn[sf_knot];`,
              `${indent}  let sf_w = sf_conn[sf_knot] + sf_mulhi32(sf_f, sf_d) + ((sf_f * sf_d) >> 31u);`,
              `${indent}  ${visit('il', 'sf_w')}`,
            ]),
        `${indent}}`,
      ];
    }
    case 'rows': {
      const outStart = layout.rowArray(route.index, 'outStart');
      const outTargets = layout.rowArray(route.index, 'outTargets');
      return [
        `${indent}for (var k = sf_conn[${outStart}u + jl]; k < sf_conn[${outStart}u + jl + 1u]; k++) {`,
        `${indent}  let il = sf_conn[${outTargets}u + k];`,
        `${indent}  ${visit('il', undefined)}`,
        `${indent}}`,
      ];
    }
  }
}

function wgslSyntax(layout: BufferLayout): StatementSyntax {
  return {
    declareFloat: (name, value) => `var ${name}: f32 = ${value};`,
    declareBool: (name, value) => `let ${name}: bool = ${value};`,
    assign: (name, value) => `${name} = ${value};`,
    ifOpen: (condition) => `if (${condition}) {`,
    elseOpen: '} else {',
    close: '}',
    random: (name, distribution, stream, purpose) =>
      `var ${name}: f32 = sf_${distribution}(${stream}u, sf_i, sf_info.step, ${purpose}u);`,
    count: (name, counter) => {
      const value = `atomicExchange(&sf_events[${counterRead(layout, counter, 'sf_info.step', 'u')}], 0u)`;
      return [
        `let ${name} = f32(${layout.counter(counter).signed ? `bitcast<i32>(${value})` : value});`,
      ];
    },
    gather: (name, route, owner, state, over) => {
      const p = layout.route(route).projection;
      const source = layout.stateOffset(owner, state);
      const from = gatherSource(layout, route, over);
      const lines = [
        `var ${name}: f32 = 0.0f;`,
        `if (${rangeCondition('sf_i', p.postRange.start, p.postRange.end, p.postRange.end + 1, 'u') ?? 'true'}) {`,
        ...(from.kind === 'all' ? [] : [`  let il = sf_i - ${p.postRange.start}u;`]),
      ];
      // Sources in ascending order, as on every backend, so that the float sums agree.
      switch (from.kind) {
        case 'all':
          lines.push(
            `  for (var j = 0u; j < ${from.count}u; j++) {`,
            `    ${name} = ${name} + sf_state[${source}u + j];`,
            '  }',
          );
          break;
        case 'one':
          lines.push(`  ${name} = sf_state[${source}u + il];`);
          break;
        case 'rows':
          lines.push(
            `  for (var k = sf_conn[${from.inStart}u + il]; k < sf_conn[${from.inStart}u + il + 1u]; k++) {`,
            `    ${name} = ${name} + sf_state[${source}u + sf_conn[${from.element}u + k]];`,
            '  }',
          );
          break;
      }
      lines.push('}');
      return lines;
    },
    neuronState: (name, read) => {
      const { base, row } = neuronStateSource(read, layout);
      const index = row === undefined ? 'sf_i' : `sf_conn[${row}u + sf_i]`;
      return [`let ${name} = sf_state[${base}u + ${index}];`];
    },
    spikeTime: (name, cursor, next, owner) => {
      const o = layout.spikeTimeOffsets(owner);
      return [
        `let sf_event = ${o.steps}u + sf_conn[${o.start}u + sf_i] + u32(${cursor});`,
        `let ${name}: bool = sf_event < ${o.steps}u + sf_conn[${o.start}u + sf_i + 1u] && sf_conn[sf_event] == sf_info.step;`,
        `var ${next}: f32 = select(${cursor}, ${cursor} + 1.0f, ${name});`,
      ];
    },
  };
}

/** The normal draw of kernel statements, for a module whose kernels draw one (its prelude has sf_box_muller). */
const NORMAL_DRAW = `fn sf_normal(stream: u32, index: u32, step: u32, purpose: u32) -> f32 {
  let w = sf_random_u32x4(SF_SEED, stream, index, step, purpose);
  return sf_box_muller(w.x, w.y).x;
}

`;

/** Bindings shared by every kernel; four storage buffers fit compatibility-mode limits. */
function moduleHeader(
  seed: number,
  layout: BufferLayout,
  prelude: string,
  normal: boolean,
): string {
  return `// Generated by spikeforge. Bindings: 0 state (f32, structure of arrays); 1 events (u32 atomics:
// spike rings, spike counters per merged projection, then the recorded spike list: count, then
// (step in chunk, global index) pairs); 2 record (one row of traced values per step); 3 step info;
// 4 connectivity (stored rows, u32).
struct SfStepInfo {
  step: u32,
  chunk_step: u32,
  pad0: u32,
  pad1: u32,
}

@group(0) @binding(0) var<storage, read_write> sf_state: array<f32>;
@group(0) @binding(1) var<storage, read_write> sf_events: array<atomic<u32>>;
@group(0) @binding(2) var<storage, read_write> sf_record: array<f32>;
@group(0) @binding(3) var<uniform> sf_info: SfStepInfo;
@group(0) @binding(4) var<storage, read> sf_conn: array<u32>;

const SF_SEED: u32 = ${seed >>> 0}u;
const SF_SPIKE_LIST: u32 = ${spikeListBase(layout)}u;
${PHILOX_WGSL}
${normal ? NORMAL_DRAW : ''}fn sf_uniform(stream: u32, index: u32, step: u32, purpose: u32) -> f32 {
  return sf_u32_to_uniform01(sf_random_u32x4(SF_SEED, stream, index, step, purpose).x);
}
${prelude}`;
}

function emitPopulation(
  kernel: PopulationKernel,
  layout: BufferLayout,
  printer: KernelPrinter,
): string {
  const lines = [
    `@compute @workgroup_size(${WORKGROUP_SIZE})`,
    `fn ${entryPointName(kernel.population)}(@builtin(global_invocation_id) sf_gid: vec3<u32>) {`,
    '  let sf_i = sf_gid.x;',
    `  if (sf_i >= ${kernel.size}u) {`,
    '    return;',
    '  }',
  ];
  const used = readLocals(kernel.body);
  if (used.has(INDEX)) lines.push(`  let ${printer.local(INDEX)} = f32(sf_i);`);
  if (used.has(STEP)) lines.push(`  let ${printer.local(STEP)} = f32(sf_info.step);`);
  // A state's start-of-step value is loaded only where the step reads it.
  for (const s of kernel.states)
    if (used.has(s))
      lines.push(
        `  let ${printer.local(s)} = sf_state[${layout.stateOffset(kernel.population, s)}u + sf_i];`,
      );
  lines.push(...emitStatements(kernel.body, printer, wgslSyntax(layout), '  '));
  for (const s of kernel.states)
    lines.push(
      `  sf_state[${layout.stateOffset(kernel.population, s)}u + sf_i] = ${printer.local(nextName(s))};`,
    );
  if (kernel.spikes) {
    lines.push(
      `  if (${printer.local(SPIKED)}) {`,
      '    let sf_k = atomicAdd(&sf_events[SF_SPIKE_LIST], 1u);',
      '    atomicStore(&sf_events[SF_SPIKE_LIST + 1u + 2u * sf_k], sf_info.chunk_step);',
      `    atomicStore(&sf_events[SF_SPIKE_LIST + 2u + 2u * sf_k], ${layout.neuronOffset(kernel.population)}u + sf_i);`,
    );
    const ring = layout.ring(kernel.population);
    if (ring !== undefined) {
      lines.push(
        `    let sf_slot = ${ring.offset}u + (sf_info.step % ${ring.slots}u) * ${ring.stride}u;`,
        '    let sf_r = atomicAdd(&sf_events[sf_slot], 1u);',
        '    atomicStore(&sf_events[sf_slot + 1u + sf_r], sf_i);',
      );
    }
    lines.push('  }');
  }
  layout.traces.forEach((t, r) => {
    if (t.population !== kernel.population) return;
    const store = `sf_record[sf_info.chunk_step * ${layout.recordRow}u + ${layout.traceOffset(r)}u + sf_i - ${t.start}u] = ${printer.local(recordedLocal(kernel, t.variable))};`;
    const inRange = rangeCondition('sf_i', t.start, t.end, kernel.size, 'u');
    lines.push(
      ...(inRange === undefined ? [`  ${store}`] : [`  if (${inRange}) {`, `    ${store}`, '  }']),
    );
  });
  lines.push('}');
  return lines.join('\n');
}

/** Step 1 of a step for one delivery (see Delivery in network.ts): each spike in its ring slot adds to its counter. */
function emitDelivery(delivery: Delivery, index: number, layout: BufferLayout): string {
  const ring = layout.ring(delivery.source)!;
  const { start, end } = delivery.range;
  const inRange = rangeCondition('j', start, end, ring.stride - 1, 'u');
  const d = delivery.ringDelay;
  const lines = [
    `@compute @workgroup_size(${WORKGROUP_SIZE})`,
    `fn ${deliveryEntryPoint(index)}(@builtin(global_invocation_id) sf_gid: vec3<u32>) {`,
    `  // ${deliveryDescription(delivery, d)}`,
    `  let sf_slot = ${ring.offset}u + ((sf_info.step + ${(ring.slots - d) % ring.slots}u) % ${ring.slots}u) * ${ring.stride}u;`,
    '  if (sf_gid.x >= atomicLoad(&sf_events[sf_slot])) {',
    '    return;',
    '  }',
  ];
  const readsLocal = deliveryReadsLocalIndex(delivery);
  if (readsLocal || inRange !== undefined)
    lines.push('  let j = atomicLoad(&sf_events[sf_slot + 1u + sf_gid.x]);');
  if (inRange !== undefined) lines.push(`  if (!(${inRange})) {`, '    return;', '  }');
  if (readsLocal) lines.push(`  let jl = j - ${start}u;`);
  lines.push(
    ...deliveryAdds(delivery, index, layout, {
      step: 'sf_info.step',
      loop: (from, to, body, indent) => [
        `${indent}for (var k = ${from}; k < ${to}; k++) {`,
        `${indent}  ${body}`,
        `${indent}}`,
      ],
      forEachTarget: (route, visit, indent) =>
        forEachTarget(route.connectivity, layout, route, visit, indent),
    }),
    '}',
  );
  return lines.join('\n');
}

/** Empties this step's slot of every spike ring before the populations append to it. */
function emitClearRings(layout: BufferLayout, populations: readonly string[]): string {
  const lines = [`@compute @workgroup_size(1)`, `fn ${CLEAR_RINGS}() {`];
  for (const p of populations) {
    const ring = layout.ring(p)!;
    lines.push(
      `  atomicStore(&sf_events[${ring.offset}u + (sf_info.step % ${ring.slots}u) * ${ring.stride}u], 0u);`,
    );
  }
  lines.push('}');
  return lines.join('\n');
}

/** The entry points of one step, in dispatch order, with their thread counts. */
export function stepDispatches(
  layout: BufferLayout,
  kernels: readonly PopulationKernel[],
): { entryPoint: string; threads: number }[] {
  return [
    ...layout.deliveries.map((d, k) => ({
      entryPoint: deliveryEntryPoint(k),
      threads: layout.ring(d.source)!.stride - 1,
    })),
    ...(layout.ringPopulations.length > 0 ? [{ entryPoint: CLEAR_RINGS, threads: 1 }] : []),
    ...kernels.map((k) => ({ entryPoint: entryPointName(k.population), threads: k.size })),
  ];
}

/** One WGSL module: delivery kernels, the ring clear, and a step kernel per population and per-pre or per-synapse state. */
export function emitWgslModule(
  kernels: readonly PopulationKernel[],
  layout: BufferLayout,
  printer: KernelPrinter,
  seed: number,
): string {
  // Kernels first: the prelude holds only the helpers they call.
  const bodies = [
    ...layout.deliveries.map((d, k) => emitDelivery(d, k, layout)),
    ...(layout.ringPopulations.length > 0 ? [emitClearRings(layout, layout.ringPopulations)] : []),
    ...kernels.map((k) => emitPopulation(k, layout, printer)),
  ];
  const normal = drawsNormal(kernels);
  const prelude = printer.prelude(normal ? ['sf_box_muller'] : []);
  return [moduleHeader(seed, layout, prelude, normal), ...bodies].join('\n\n') + '\n';
}
