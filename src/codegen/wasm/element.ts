import type { PopulationKernel } from '../kernel-ir.js';
import type { BufferLayout } from '../layout.js';
import type { WasmMemoryPlan } from './kernel.js';

/**
 * What a WebAssembly kernel does for one element beside its statements, shared by the
 * one-lane loop (kernel.ts) and the four-lane one (vector.ts), which runs it per lane.
 */

export const i32 = (v: number): string => `(i32.const ${v})`;

/** Every kernel function's parameters: the step, its row in the chunk, and the elements [from, to) to run. */
export const RANGE_PARAMS =
  '(param $sf_step i32) (param $sf_chunk_step i32) (param $sf_from i32) (param $sf_to i32)';
export const get = (name: string): string => `(local.get $${name})`;

/**
 * This thread's SCRATCH_BYTES for Philox's output (the instance imports the address): four
 * words, four words of four lanes, or a procedural row's 16 draws and 16 weight words.
 */
export const SCRATCH = '(global.get $sf_scratch)';
export const SCRATCH_BYTES = 128;

/** Byte offset of state `s` of the kernel's owner in the module's memory (element 0). */
export function stateAddress(
  kernel: PopulationKernel,
  layout: BufferLayout,
  plan: WasmMemoryPlan,
  s: string,
): number {
  return plan.state + 4 * layout.stateOffset(kernel.population, s);
}

/**
 * The address of element `sf_i`'s word of a delivery counter, in the row of step % slots
 * (the word a kernel reads and clears).
 */
export function counterAddress(
  layout: BufferLayout,
  plan: WasmMemoryPlan,
  counter: string,
): string {
  const c = layout.counter(counter);
  const base = `(i32.add ${i32(plan.events + 4 * c.offset)} (i32.shl ${get('sf_i')} (i32.const 2)))`;
  if (c.slots === 1) return base;
  return `(i32.add ${base} (i32.mul (i32.rem_u ${get('sf_step')} ${i32(c.slots)}) ${i32(4 * c.size)}))`;
}

/**
 * Appends element `index` (an i32 expression) to this thread's spikes of the step (at the
 * address the instance imports as `$sf_spikes`: a count, then (chunk step, global index)
 * pairs), and to its population's spike ring when it has one: slot[1 + count] = index, count
 * += 1, the count taken atomically since every thread appends to the same ring (the order
 * within a slot does not matter: deliveries add integers). Uses the i32 locals `sf_k`, `sf_w`.
 */
export function spikeAppend(
  kernel: PopulationKernel,
  layout: BufferLayout,
  plan: WasmMemoryPlan,
  index: string,
): string[] {
  const list = '(global.get $sf_spikes)';
  const pair = `(i32.add ${list} (i32.shl ${get('sf_k')} (i32.const 3)))`;
  const lines = [
    `(local.set $sf_k (i32.load ${list}))`,
    `(i32.store ${list} (i32.add ${get('sf_k')} (i32.const 1)))`,
    `(i32.store offset=4 ${pair} ${get('sf_chunk_step')})`,
    `(i32.store offset=8 ${pair} (i32.add ${i32(layout.neuronOffset(kernel.population))} ${index}))`,
  ];
  const ring = layout.ring(kernel.population);
  if (ring !== undefined)
    lines.push(
      `(local.set $sf_w (i32.add ${i32(plan.events + 4 * ring.offset)} (i32.mul (i32.rem_u ${get('sf_step')} ${i32(ring.slots)}) ${i32(4 * ring.stride)})))`,
      `(local.set $sf_k (i32.atomic.rmw.add ${get('sf_w')} (i32.const 1)))`,
      `(i32.store offset=4 (i32.add ${get('sf_w')} (i32.shl ${get('sf_k')} (i32.const 2))) ${index})`,
    );
  return lines;
}

/** The traces (layout.traces) of the kernel's owner, with their recorded range. */
export function tracesOf(
  kernel: PopulationKernel,
  layout: BufferLayout,
): { readonly row: number; readonly variable: string; start: number; end: number }[] {
  return layout.traces.flatMap((t, row) =>
    t.population === kernel.population
      ? [{ row, variable: t.variable, start: t.start, end: t.end }]
      : [],
  );
}

/**
 * Stores `value` (an f32 expression) as element `index` (an i32 expression) of trace `row`
 * in this chunk step's record row, if the element is in the trace's range [start, end); or,
 * with `type` v128, four values as elements index .. index + 3 of a trace of every element.
 */
export function traceStore(
  kernel: PopulationKernel,
  layout: BufferLayout,
  plan: WasmMemoryPlan,
  trace: { readonly row: number; readonly start: number; readonly end: number },
  index: string,
  value: string,
  type: 'f32' | 'v128' = 'f32',
): string {
  const rowStart = `(i32.mul ${get('sf_chunk_step')} ${i32(layout.recordRow)})`;
  const column = `(i32.add ${i32(layout.traceOffset(trace.row) - trace.start)} ${index})`;
  const store = `(${type}.store offset=${plan.record} (i32.shl (i32.add ${rowStart} ${column}) (i32.const 2)) ${value})`;
  const bounds = [
    ...(trace.start > 0 ? [`(i32.ge_u ${index} ${i32(trace.start)})`] : []),
    ...(trace.end < kernel.size ? [`(i32.lt_u ${index} ${i32(trace.end)})`] : []),
  ];
  if (bounds.length === 0) return store;
  return `(if ${bounds.length === 1 ? bounds[0] : `(i32.and ${bounds.join(' ')})`} (then ${store}))`;
}
