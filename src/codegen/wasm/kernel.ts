import { InternalError } from '../../diagnostics/diagnostic.js';
import { PHILOX_ROUND_LOCALS, philoxRoundsX4, u32x4 } from '../../random/philox-wasm.js';
import { SKIP_GUIDE_BITS } from '../connectivity.js';
import {
  type KernelPrinter,
  type StatementSyntax,
  emitStatements,
  gatherSource,
  kernelPrinter,
  neuronStateSource,
} from '../emit.js';
import { recordedLocal } from '../js/kernel.js';
import { readLocals } from '../legalize.js';
import {
  INDEX,
  type KernelStatement,
  type PopulationKernel,
  SPIKED,
  STEP,
  entryPointName,
  nextName,
} from '../kernel-ir.js';
import type { BufferLayout } from '../layout.js';
import {
  RANGE_PARAMS,
  SCRATCH,
  SCRATCH_BYTES,
  counterAddress,
  get,
  i32,
  spikeAppend,
  stateAddress,
  traceStore,
  tracesOf,
} from './element.js';
import { emitWasmDelivery } from './delivery.js';
import { HOST_IMPORT_DECLARATIONS, WASM_HELPERS, WatPrinter } from './printer.js';
import {
  VECTOR_HELPERS,
  VECTOR_SUFFIX,
  emitVectorKernel,
  vectorRandomFunctions,
  vectorizable,
} from './vector.js';

/**
 * Where the buffers of layout.ts live in the module's one memory (byte offsets): SCRATCH_BYTES
 * per thread for Philox's output, state (float32), events (rings and counters), connectivity (the
 * delivery or the kernels read all of it; left out where the host delivers), the record rows
 * of a chunk, and per thread the spikes of one step (a count, then (chunk step, global index)
 * pairs), which the host takes after every step. Each instance of the module (one per thread)
 * imports its own `scratch` and `spikes` addresses as globals.
 */
export interface WasmMemoryPlan {
  /** Threads that run the kernels, each on its part of every kernel (threadRanges). */
  readonly threads: number;
  /** Thread t's bytes for Philox's output are at scratch + SCRATCH_BYTES t. */
  readonly scratch: number;
  readonly state: number;
  readonly events: number;
  readonly conn: number;
  readonly record: number;
  /** Thread t's spikes of a step. */
  readonly spikes: readonly number[];
  readonly bytes: number;
  /** Whether the connectivity is in the memory and the module delivers (`sf_deliver`). */
  readonly deliveryInModule: boolean;
}

/** Kernels smaller than this run on the first thread alone: splitting them costs more than it saves. */
export const PARALLEL_MIN_ELEMENTS = 32_768;

/** A thread's elements [from, to) of one kernel. */
export interface ElementRange {
  readonly from: number;
  readonly to: number;
}

/**
 * Each thread's part of each kernel (ranges[t][k]): consecutive ranges in thread order whose
 * boundaries are multiples of four (the four-lane loop's step), or all of a small kernel on
 * thread 0. When no kernel is split, one thread: the others would have nothing to do.
 */
export function threadRanges(
  kernels: readonly PopulationKernel[],
  threads: number,
  minElements = PARALLEL_MIN_ELEMENTS,
): ElementRange[][] {
  const ranges = Array.from({ length: threads }, (_, t) =>
    kernels.map((k) => {
      if (k.size < minElements || threads === 1)
        return t === 0 ? { from: 0, to: k.size } : { from: 0, to: 0 };
      const share = 4 * Math.ceil(k.size / threads / 4);
      return { from: Math.min(k.size, t * share), to: Math.min(k.size, (t + 1) * share) };
    }),
  );
  const workersIdle = ranges.slice(1).every((own) => own.every((r) => r.to === r.from));
  return threads > 1 && workersIdle ? threadRanges(kernels, 1) : ranges;
}

/**
 * The memory of a module. `deliveryInModule` false leaves the connectivity out, for a network
 * whose connectivity does not fit in 4 GiB: the host then delivers (runtime/cpu-delivery.ts),
 * which only works where no kernel reads the connectivity (kernelsReadConnectivity).
 */
export function wasmMemoryPlan(
  kernels: readonly PopulationKernel[],
  layout: BufferLayout,
  recordSteps: number,
  ranges: readonly (readonly ElementRange[])[] = threadRanges(kernels, 1),
  deliveryInModule = true,
): WasmMemoryPlan {
  if (!deliveryInModule && kernelsReadConnectivity(kernels))
    throw new InternalError('these kernels read the connectivity: it must be in the memory');
  const threads = ranges.length;
  const scratch = 0;
  const state = SCRATCH_BYTES * threads;
  const events = state + 4 * layout.totalStateFloats;
  const conn = events + 4 * (layout.ringWords + layout.countWords);
  const record = conn + (deliveryInModule ? 4 * layout.connectivityWords : 0);
  let next = record + 4 * layout.recordRow * recordSteps;
  const spikes = ranges.map((own) => {
    const at = next;
    const elements = own.reduce((n, r, k) => n + (kernels[k]!.spikes ? r.to - r.from : 0), 0);
    next += 4 * (1 + 2 * elements);
    return at;
  });
  return { threads, scratch, state, events, conn, record, spikes, bytes: next, deliveryInModule };
}

/** Whether a kernel reads the connectivity buffer: gathers, spike-time tables, neuron reads (a synapse's neurons are in its row; a per-pre element's is not, but is counted too). */
export function kernelsReadConnectivity(kernels: readonly PopulationKernel[]): boolean {
  const visit = (list: readonly KernelStatement[]): boolean =>
    list.some(
      (s) =>
        s.kind === 'gather' ||
        s.kind === 'spikeTime' ||
        s.kind === 'neuronState' ||
        (s.kind === 'if' && (visit(s.then) || visit(s.otherwise))),
    );
  return kernels.some((k) => visit(k.body));
}

/** WebAssembly pages (64 KiB) for a plan. */
export function wasmPages(plan: WasmMemoryPlan): number {
  return Math.max(1, Math.ceil(plan.bytes / 65536));
}

/** A condition as emitStatements passes it: printed WAT, or the name of a condition local. */
const conditionValue = (c: string): string => (c.startsWith('(') ? c : get(c));

/** WAT spelling of kernel statements; `declare` collects every local with its type. */
function watSyntax(
  layout: BufferLayout,
  plan: WasmMemoryPlan,
  declare: (name: string, type: 'f32' | 'i32') => void,
): StatementSyntax {
  const set = (name: string, type: 'f32' | 'i32', value: string): string => {
    declare(name, type);
    return `(local.set $${name} ${value})`;
  };
  const connWord = (word: string): string =>
    `(i32.load offset=${plan.conn} (i32.shl ${word} (i32.const 2)))`;
  return {
    declareFloat: (name, value) => set(name, 'f32', value),
    declareBool: (name, value) => set(name, 'i32', conditionValue(value)),
    assign: (name, value) => `(local.set $${name} ${value})`,
    ifOpen: (condition) => `(if ${conditionValue(condition)} (then`,
    elseOpen: ') (else',
    close: '))',
    random: (name, distribution, stream, purpose) =>
      [
        `(call $sf_philox ${get('sf_i')} ${get('sf_step')} ${i32(purpose)} ${i32(stream)})`,
        set(name, 'f32', `(call $sf_${distribution})`),
      ].join(' '),
    count: (name, counter) => {
      const signed = layout.counter(counter).signed;
      declare('sf_w', 'i32');
      return [
        `(local.set $sf_w ${counterAddress(layout, plan, counter)})`,
        set(name, 'f32', `(f32.convert_i32_${signed ? 's' : 'u'} (i32.load ${get('sf_w')}))`),
        `(i32.store ${get('sf_w')} (i32.const 0))`,
      ];
    },
    gather: (name, route, owner, state, over) => {
      const p = layout.route(route).projection;
      const source = plan.state + 4 * layout.stateOffset(owner, state);
      const local = `(i32.sub ${get('sf_i')} ${i32(p.postRange.start)})`;
      const add = (element: string): string =>
        `(local.set $${name} (f32.add ${get(name)} (f32.load offset=${source} (i32.shl ${element} (i32.const 2)))))`;
      declare('sf_k', 'i32');
      declare('sf_end', 'i32');
      const loop = (first: string, end: string, element: string): string[] => [
        `(local.set $sf_k ${first})`,
        `(local.set $sf_end ${end})`,
        '(block $sf_gathered (loop $sf_gather',
        `  (br_if $sf_gathered (i32.ge_u ${get('sf_k')} ${get('sf_end')}))`,
        `  ${add(element)}`,
        `  (local.set $sf_k (i32.add ${get('sf_k')} (i32.const 1)))`,
        '  (br $sf_gather)))',
      ];
      const from = gatherSource(layout, route, over);
      const body =
        from.kind === 'all'
          ? loop(i32(0), i32(from.count), get('sf_k'))
          : from.kind === 'one'
            ? [add(local)]
            : loop(
                connWord(`(i32.add ${i32(from.inStart)} ${local})`),
                connWord(`(i32.add ${i32(from.inStart + 1)} ${local})`),
                connWord(`(i32.add ${i32(from.element)} ${get('sf_k')})`),
              );
      return [
        set(name, 'f32', '(f32.const 0)'),
        `(if (i32.and (i32.ge_u ${get('sf_i')} ${i32(p.postRange.start)}) (i32.lt_u ${get('sf_i')} ${i32(p.postRange.end)})) (then`,
        ...body.map((l) => `  ${l}`),
        '))',
      ];
    },
    neuronState: (name, read) => {
      const { base, row } = neuronStateSource(read, layout);
      const index =
        row === undefined ? get('sf_i') : connWord(`(i32.add ${i32(row)} ${get('sf_i')})`);
      return [
        set(
          name,
          'f32',
          `(f32.load offset=${plan.state + 4 * base} (i32.shl ${index} (i32.const 2)))`,
        ),
      ];
    },
    spikeTime: (name, cursor, next, owner) => {
      const o = layout.spikeTimeOffsets(owner);
      declare('sf_e', 'i32');
      const rowStart = (plus: number): string =>
        connWord(`(i32.add ${i32(o.start + plus)} ${get('sf_i')})`);
      return [
        `(local.set $sf_e (i32.add (i32.add ${i32(o.steps)} ${rowStart(0)}) (i32.trunc_sat_f32_u ${get(cursor)})))`,
        // The table is read only inside the row (JavaScript's && does the same).
        set(
          name,
          'i32',
          `(if (result i32) (i32.lt_u ${get('sf_e')} (i32.add ${i32(o.steps)} ${rowStart(1)})) (then (i32.eq ${connWord(get('sf_e'))} ${get('sf_step')})) (else (i32.const 0)))`,
        ),
        set(
          next,
          'f32',
          `(select (f32.add ${get(cursor)} (f32.const 1)) ${get(cursor)} ${get(name)})`,
        ),
      ];
    },
  };
}

/**
 * One exported function per kernel, `step_<owner>(step, chunkStep, from, to)` for its elements
 * [from, to): what the JavaScript kernel of js/kernel.ts does, in the same order, on the
 * memory of `plan`. A kernel that vector.ts can run four elements at a time calls its
 * four-lane function for the largest multiple of four elements from `from`, then does the
 * rest here, one by one.
 */
function emitWasmKernel(
  kernel: PopulationKernel,
  layout: BufferLayout,
  printer: KernelPrinter,
  plan: WasmMemoryPlan,
  vectorized: boolean,
): string {
  const locals = new Map<string, 'f32' | 'i32'>([
    ['sf_i', 'i32'],
    ['sf_a', 'i32'],
  ]);
  const declare = (name: string, type: 'f32' | 'i32'): void => {
    const before = locals.get(name);
    if (before !== undefined && before !== type)
      throw new InternalError(`WebAssembly local ${name} is both ${before} and ${type}`);
    locals.set(name, type);
  };
  const used = readLocals(kernel.body);
  const body: string[] = [`(local.set $sf_a (i32.shl ${get('sf_i')} (i32.const 2)))`];
  const setF32 = (name: string, value: string): string => {
    declare(name, 'f32');
    return `(local.set $${name} ${value})`;
  };
  if (used.has(INDEX))
    body.push(setF32(printer.local(INDEX), `(f32.convert_i32_u ${get('sf_i')})`));
  if (used.has(STEP))
    body.push(setF32(printer.local(STEP), `(f32.convert_i32_u ${get('sf_step')})`));
  const stateAt = (s: string): number => stateAddress(kernel, layout, plan, s);
  for (const s of kernel.states)
    if (used.has(s))
      body.push(setF32(printer.local(s), `(f32.load offset=${stateAt(s)} ${get('sf_a')})`));
  body.push(...emitStatements(kernel.body, printer, watSyntax(layout, plan, declare), ''));
  for (const s of kernel.states)
    body.push(`(f32.store offset=${stateAt(s)} ${get('sf_a')} ${get(printer.local(nextName(s)))})`);
  if (kernel.spikes) {
    declare('sf_k', 'i32');
    if (layout.ring(kernel.population) !== undefined) declare('sf_w', 'i32');
    const spiked = spikeAppend(kernel, layout, plan, get('sf_i'));
    body.push(`(if ${get(printer.local(SPIKED))} (then`, ...spiked.map((l) => `  ${l}`), '))');
  }
  for (const t of tracesOf(kernel, layout))
    body.push(
      traceStore(
        kernel,
        layout,
        plan,
        t,
        get('sf_i'),
        get(printer.local(recordedLocal(kernel, t.variable))),
      ),
    );
  const name = entryPointName(kernel.population);
  const header = [
    `;; ${kernel.population}: ${kernel.size} elements`,
    `(func $${name} (export "${name}") ${RANGE_PARAMS}`,
  ];
  if (kernel.size === 0) return [...header, ')'].join('\n');
  const loop = [
    `(if (i32.lt_u ${get('sf_i')} ${get('sf_to')}) (then (loop $sf_next`,
    ...body.map((l) => `  ${l}`),
    `  (local.set $sf_i (i32.add ${get('sf_i')} (i32.const 1)))`,
    `  (br_if $sf_next (i32.lt_u ${get('sf_i')} ${get('sf_to')})))))`,
  ];
  // The four-lane function does the largest multiple of four from `from`, this loop the rest.
  const run = !vectorized
    ? [`(local.set $sf_i ${get('sf_from')})`, ...loop]
    : [
        `(local.set $sf_i (i32.add ${get('sf_from')} (i32.and (i32.sub ${get('sf_to')} ${get('sf_from')}) (i32.const -4))))`,
        `(if (i32.gt_u ${get('sf_i')} ${get('sf_from')}) (then`,
        `  (call $${name}${VECTOR_SUFFIX} ${get('sf_step')} ${get('sf_chunk_step')} ${get('sf_from')} ${get('sf_i')})))`,
        ...loop,
      ];
  return [
    ...(vectorized ? [emitVectorKernel(kernel, layout, plan), ''] : []),
    ...header,
    ...[...locals].map(([n, type]) => `  (local $${n} ${type})`),
    ...run.map((l) => `  ${l}`),
    ')',
  ].join('\n');
}

/**
 * The WebAssembly text module of a network's kernels for the CPU backend (float32): the
 * delivery of a step (delivery.ts) and a function per kernel; the memory and the host's Math
 * functions are imported. With `simd` (the default), kernels that vector.ts can vectorize run
 * four elements at a time; without it, every kernel runs one element at a time (the reference
 * the four-lane code is tested against).
 */
export function emitWasmModule(
  kernels: readonly PopulationKernel[],
  layout: BufferLayout,
  plan: WasmMemoryPlan,
  seed: number,
  simd = true,
): string {
  const printer = kernelPrinter(new WatPrinter());
  const vectorized = kernels.map((k) => simd && vectorizable(k));
  const pages = wasmPages(plan);
  return [
    '(module',
    // Several threads share one memory, which must then be declared shared, with its size fixed.
    `(import "env" "memory" (memory ${pages}${plan.threads > 1 ? ` ${pages} shared` : ''}))`,
    HOST_IMPORT_DECLARATIONS,
    THREAD_IMPORT_DECLARATIONS,
    WASM_HELPERS,
    randomFunctions(seed),
    ...(vectorized.some((v) => v) ? [VECTOR_HELPERS, vectorRandomFunctions(), ''] : []),
    ...(plan.deliveryInModule ? [emitWasmDelivery(layout, plan)] : []),
    ...kernels.map((k, n) => emitWasmKernel(k, layout, printer, plan, vectorized[n]!)),
    ')',
  ].join('\n');
}

/** What each instance (thread) of a module imports as its own: its Philox scratch and spike list addresses. */
export const THREAD_IMPORT_DECLARATIONS = [
  '(import "env" "scratch" (global $sf_scratch i32))',
  '(import "env" "spikes" (global $sf_spikes i32))',
].join('\n');

/**
 * Philox-4x32-10 (src/random/philox.ts; 32 x 32 -> 64-bit products are native here) with the
 * network's seed in its key, writing its four words to this thread's bytes at `$sf_scratch`; the
 * uniform and normal draws of philox.ts (u32ToUniform01; boxMuller's first value, which
 * `$sf_normal_of` takes from the module's `$sf_box_muller`); and the targets of a
 * procedural row (geometricRow, skipCount of connectivity.ts), each adding 1 to a counter, or
 * with drawn weights (`$knots` not 0) the connection's weight (drawnWeight of drawn-weights.ts).
 *
 * `$sf_philox_lanes` is Philox on four SIMD lanes, counter (c0, c1, purpose, 0) with one
 * lane of c0 and c1 each, its word w of lane l written at `$to` + 16 w + 4 l: the four-lane
 * kernels' draws of four consecutive elements (vector.ts) and a procedural row's four
 * consecutive blocks.
 */
export function randomFunctions(seed: number): string {
  const word = (k: number): string => `(i32.load offset=${4 * k} ${SCRATCH})`;
  // Blocks c / 4 .. c / 4 + 3 of row $j.
  const rowLanes = `(i32x4.splat (local.get $j)) (i32x4.add (i32x4.splat (i32.shr_u (local.get $c) (i32.const 2))) (v128.const i32x4 0 1 2 3))`;
  const uniform = (w: string): string =>
    `(f32.mul (f32.convert_i32_u (i32.shr_u ${w} (i32.const 8))) (f32.const ${2 ** -24}))`;
  return `(func $sf_philox (param $c0 i32) (param $c1 i32) (param $c2 i32) (param $k1 i32)
  (local $c3 i32) (local $k0 i32) (local $p0 i64) (local $p1 i64) (local $next i32) (local $round i32)
  (local.set $k0 ${i32(seed >>> 0)})
  (loop $rounds
    (local.set $p0 (i64.mul (i64.extend_i32_u (local.get $c0)) (i64.const 0xd2511f53)))
    (local.set $p1 (i64.mul (i64.extend_i32_u (local.get $c2)) (i64.const 0xcd9e8d57)))
    (local.set $next
      (i32.xor (i32.xor (i32.wrap_i64 (i64.shr_u (local.get $p1) (i64.const 32))) (local.get $c1)) (local.get $k0)))
    (local.set $c2
      (i32.xor (i32.xor (i32.wrap_i64 (i64.shr_u (local.get $p0) (i64.const 32))) (local.get $c3)) (local.get $k1)))
    (local.set $c1 (i32.wrap_i64 (local.get $p1)))
    (local.set $c3 (i32.wrap_i64 (local.get $p0)))
    (local.set $c0 (local.get $next))
    (local.set $k0 (i32.add (local.get $k0) (i32.const 0x9e3779b9)))
    (local.set $k1 (i32.add (local.get $k1) (i32.const 0xbb67ae85)))
    (local.set $round (i32.add (local.get $round) (i32.const 1)))
    (br_if $rounds (i32.lt_u (local.get $round) (i32.const 10))))
  (i32.store ${SCRATCH} (local.get $c0))
  (i32.store offset=4 ${SCRATCH} (local.get $c1))
  (i32.store offset=8 ${SCRATCH} (local.get $c2))
  (i32.store offset=12 ${SCRATCH} (local.get $c3)))

(func $sf_uniform (result f32)
  ${uniform(word(0))})

(func $sf_normal_of (param $a i32) (param $b i32) (result f32)
  (call $sf_box_muller (local.get $a) (local.get $b))
  (drop))

(func $sf_normal (result f32)
  (call $sf_normal_of ${word(0)} ${word(1)}))

(func $sf_philox_lanes (param $c0 v128) (param $c1 v128) (param $purpose i32) (param $stream i32) (param $to i32)
  (local $c2 v128) (local $c3 v128) (local $k0 v128) (local $k1 v128)
  ${PHILOX_ROUND_LOCALS}
  (local.set $c2 (i32x4.splat (local.get $purpose)))
  (local.set $k0 ${u32x4(seed >>> 0)})
  (local.set $k1 (i32x4.splat (local.get $stream)))
  ${philoxRoundsX4()}
  (v128.store (local.get $to) (local.get $c0))
  (v128.store offset=16 (local.get $to) (local.get $c1))
  (v128.store offset=32 (local.get $to) (local.get $c2))
  (v128.store offset=48 (local.get $to) (local.get $c3)))

(func $sf_add_geometric (export "sf_add_geometric")
  (param $table i32) (param $guide i32) (param $stream i32) (param $j i32) (param $n i32) (param $base i32)
  (param $knots i32) (param $bits i32)
  (local $i i32) (local $c i32) (local $x i32) (local $from i32) (local $at i32) (local $half i32) (local $size i32)
  (local $weight i32) (local $word i32)
  (local.set $i (i32.const -1))
  (local.set $weight (i32.const 1))
  (loop $draw
    ;; 16 draws at a time: blocks c / 4 .. c / 4 + 3 on four lanes, word w of block c / 4 + l at
    ;; byte 16 w + 4 l; the drawn weights' blocks (counter word 2) 64 bytes on
    (if (i32.eqz (i32.and (local.get $c) (i32.const 15)))
      (then
        (if (local.get $knots) (then
          (call $sf_philox_lanes ${rowLanes} (i32.const 2) (local.get $stream) (i32.add ${SCRATCH} (i32.const 64)))))
        (call $sf_philox_lanes ${rowLanes} (i32.const 1) (local.get $stream) ${SCRATCH})))
    (local.set $word (i32.add ${SCRATCH}
      (i32.or (i32.shl (i32.and (local.get $c) (i32.const 3)) (i32.const 4)) (i32.and (local.get $c) (i32.const 12)))))
    (local.set $x (i32.load (local.get $word)))
    ;; how many entries of the decreasing table exceed x (skipCount): those before guide[b + 1]
    ;; do, those from guide[b] on do not (b: the top bits of x), the ones between are searched
    (local.set $at (i32.add (local.get $guide) (i32.shl (i32.shr_u (local.get $x) (i32.const ${32 - SKIP_GUIDE_BITS})) (i32.const 2))))
    (local.set $from (i32.load offset=4 (local.get $at)))
    (local.set $size (i32.sub (i32.load (local.get $at)) (local.get $from)))
    (local.set $at (i32.add (local.get $table) (i32.shl (local.get $from) (i32.const 2))))
    (block $found (loop $halve
      (br_if $found (i32.le_u (local.get $size) (i32.const 1)))
      (local.set $half (i32.shr_u (local.get $size) (i32.const 1)))
      (if (i32.lt_u (local.get $x) (i32.load (i32.add (local.get $at) (i32.shl (local.get $half) (i32.const 2)))))
        (then (local.set $at (i32.add (local.get $at) (i32.shl (local.get $half) (i32.const 2))))))
      (local.set $size (i32.sub (local.get $size) (local.get $half)))
      (br $halve)))
    ;; the entry at $at is read only when the range is not empty (it may be the first past the table)
    (local.set $i (i32.add (local.get $i) (i32.add
      (i32.shr_u (i32.sub (local.get $at) (local.get $table)) (i32.const 2))
      (i32.add (i32.const 1)
        (if (result i32) (local.get $size)
          (then (i32.lt_u (local.get $x) (i32.load (local.get $at))))
          (else (i32.const 0)))))))
    (if (i32.lt_s (local.get $i) (local.get $n))
      (then
        (if (local.get $knots) (then
          ;; drawnWeight of drawn-weights.ts: knots[b] + (f d + 2^31) >> 32 with f = x << bits and
          ;; d = knots[b + 1] - knots[b] (below 2^64 - 2^33: the sum cannot overflow)
          (local.set $x (i32.load offset=64 (local.get $word)))
          (local.set $at (i32.add (local.get $knots) (i32.shl (i32.shr_u (local.get $x) (i32.sub (i32.const 32) (local.get $bits))) (i32.const 2))))
          (local.set $weight (i32.add (i32.load (local.get $at))
            (i32.wrap_i64 (i64.shr_u
              (i64.add
                (i64.mul
                  (i64.extend_i32_u (i32.shl (local.get $x) (local.get $bits)))
                  (i64.extend_i32_u (i32.sub (i32.load offset=4 (local.get $at)) (i32.load (local.get $at)))))
                (i64.const 0x80000000))
              (i64.const 32)))))))
        (local.set $at (i32.add (local.get $base) (i32.shl (local.get $i) (i32.const 2))))
        (i32.store (local.get $at) (i32.add (i32.load (local.get $at)) (local.get $weight)))
        (local.set $c (i32.add (local.get $c) (i32.const 1)))
        (br $draw)))))`;
}
