import { InternalError } from '../../diagnostics/diagnostic.js';
import { type KernelPrinter, type StatementSyntax, emitStatements } from '../emit.js';
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
import { HOST_FUNCTIONS, WASM_HELPERS } from './printer.js';

/**
 * Where the buffers of layout.ts live in the module's one memory (byte offsets): state
 * (float32), events (rings and counters), connectivity (only when a kernel reads it: gathers,
 * spike-time tables), the record rows of a chunk, and the spikes of one step (a count, then
 * (chunk step, global index) pairs), which the host takes after every step.
 */
export interface WasmMemoryPlan {
  readonly state: number;
  readonly events: number;
  readonly conn: number;
  readonly record: number;
  readonly spikes: number;
  readonly bytes: number;
  /** Whether the connectivity is in memory (some kernel reads it). */
  readonly hasConn: boolean;
}

/** Whether any kernel reads the connectivity buffer. */
function readsConnectivity(kernels: readonly PopulationKernel[]): boolean {
  const visit = (list: readonly KernelStatement[]): boolean =>
    list.some(
      (s) =>
        s.kind === 'gather' ||
        s.kind === 'spikeTime' ||
        (s.kind === 'if' && (visit(s.then) || visit(s.otherwise))),
    );
  return kernels.some((k) => visit(k.body));
}

export function wasmMemoryPlan(
  kernels: readonly PopulationKernel[],
  layout: BufferLayout,
  recordSteps: number,
): WasmMemoryPlan {
  const hasConn = readsConnectivity(kernels);
  const state = 0;
  const events = state + 4 * layout.totalStateFloats;
  const conn = events + 4 * (layout.ringWords + layout.countWords);
  const record = conn + (hasConn ? 4 * layout.connectivity.length : 0);
  const spikes = record + 4 * layout.recordRow * recordSteps;
  const bytes = spikes + 4 * (1 + 2 * layout.totalNeurons);
  return { state, events, conn, record, spikes, bytes, hasConn };
}

/** WebAssembly pages (64 KiB) for a plan. */
export function wasmPages(plan: WasmMemoryPlan): number {
  return Math.max(1, Math.ceil(plan.bytes / 65536));
}

const i32 = (v: number): string => `(i32.const ${v})`;
const get = (name: string): string => `(local.get $${name})`;
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
      set(
        name,
        'f32',
        `(f32.demote_f64 (call $rt_${distribution} ${i32(stream)} ${get('sf_i')} ${get('sf_step')} ${i32(purpose)}))`,
      ),
    count: (name, counter) => {
      const c = layout.counter(counter);
      declare('sf_w', 'i32');
      const row =
        c.slots === 1
          ? ''
          : ` (i32.mul (i32.rem_u ${get('sf_step')} ${i32(c.slots)}) ${i32(4 * c.size)})`;
      const base = `(i32.add ${i32(plan.events + 4 * c.offset)} (i32.shl ${get('sf_i')} (i32.const 2)))`;
      return [
        `(local.set $sf_w ${row === '' ? base : `(i32.add ${base}${row})`})`,
        set(name, 'f32', `(f32.convert_i32_${c.signed ? 's' : 'u'} (i32.load ${get('sf_w')}))`),
        `(i32.store ${get('sf_w')} (i32.const 0))`,
      ];
    },
    gather: (name, route, owner, state, over) => {
      const r = layout.route(route);
      const p = r.projection;
      const source = plan.state + 4 * layout.stateOffset(owner, state);
      const nPre = p.preRange.end - p.preRange.start;
      const local = `(i32.sub ${get('sf_i')} ${i32(p.postRange.start)})`;
      const add = (element: string): string =>
        `(local.set $${name} (f32.add ${get(name)} (f32.load offset=${source} (i32.shl ${element} (i32.const 2)))))`;
      declare('sf_k', 'i32');
      declare('sf_end', 'i32');
      const loop = (from: string, to: string, element: string): string[] => [
        `(local.set $sf_k ${from})`,
        `(local.set $sf_end ${to})`,
        '(block $sf_gathered (loop $sf_gather',
        `  (br_if $sf_gathered (i32.ge_u ${get('sf_k')} ${get('sf_end')}))`,
        `  ${add(element)}`,
        `  (local.set $sf_k (i32.add ${get('sf_k')} (i32.const 1)))`,
        '  (br $sf_gather)))',
      ];
      const body: string[] = [];
      const c = r.connectivity;
      switch (c.kind) {
        case 'all':
          body.push(...loop(i32(0), i32(nPre), get('sf_k')));
          break;
        case 'one':
          body.push(add(local));
          break;
        case 'geometric':
          throw new InternalError(
            'procedural rows cannot be gathered by post neuron (routing refuses them)',
          );
        case 'rows': {
          const inStart = layout.rowArray(route, 'inStart');
          const element = layout.rowArray(route, over === 'sources' ? 'inSources' : 'inSynapses');
          body.push(
            ...loop(
              connWord(`(i32.add ${i32(inStart)} ${local})`),
              connWord(`(i32.add ${i32(inStart + 1)} ${local})`),
              connWord(`(i32.add ${i32(element)} ${get('sf_k')})`),
            ),
          );
          break;
        }
      }
      return [
        set(name, 'f32', '(f32.const 0)'),
        `(if (i32.and (i32.ge_u ${get('sf_i')} ${i32(p.postRange.start)}) (i32.lt_u ${get('sf_i')} ${i32(p.postRange.end)})) (then`,
        ...body.map((l) => `  ${l}`),
        '))',
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
 * One exported function per kernel, `step_<owner>(step, chunkStep)`: what the JavaScript
 * kernel of js/kernel.ts does, in the same order, on the memory of `plan`.
 */
function emitWasmKernel(
  kernel: PopulationKernel,
  layout: BufferLayout,
  printer: KernelPrinter,
  plan: WasmMemoryPlan,
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
  const stateAt = (s: string): number => plan.state + 4 * layout.stateOffset(kernel.population, s);
  for (const s of kernel.states)
    if (used.has(s))
      body.push(setF32(printer.local(s), `(f32.load offset=${stateAt(s)} ${get('sf_a')})`));
  body.push(...emitStatements(kernel.body, printer, watSyntax(layout, plan, declare), ''));
  for (const s of kernel.states)
    body.push(`(f32.store offset=${stateAt(s)} ${get('sf_a')} ${get(printer.local(nextName(s)))})`);
  if (kernel.spikes) {
    declare('sf_k', 'i32');
    const spiked = [
      `(local.set $sf_k (i32.load ${i32(plan.spikes)}))`,
      `(i32.store ${i32(plan.spikes)} (i32.add ${get('sf_k')} (i32.const 1)))`,
      `(i32.store offset=${plan.spikes + 4} (i32.shl ${get('sf_k')} (i32.const 3)) ${get('sf_chunk_step')})`,
      `(i32.store offset=${plan.spikes + 8} (i32.shl ${get('sf_k')} (i32.const 3)) (i32.add ${i32(layout.neuronOffset(kernel.population))} ${get('sf_i')}))`,
    ];
    const ring = layout.ring(kernel.population);
    if (ring !== undefined) {
      declare('sf_w', 'i32');
      // The slot's count word, then its list: slot[1 + count] = i, count += 1.
      spiked.push(
        `(local.set $sf_w (i32.add ${i32(plan.events + 4 * ring.offset)} (i32.mul (i32.rem_u ${get('sf_step')} ${i32(ring.slots)}) ${i32(4 * ring.stride)})))`,
        `(local.set $sf_k (i32.load ${get('sf_w')}))`,
        `(i32.store offset=4 (i32.add ${get('sf_w')} (i32.shl ${get('sf_k')} (i32.const 2))) ${get('sf_i')})`,
        `(i32.store ${get('sf_w')} (i32.add ${get('sf_k')} (i32.const 1)))`,
      );
    }
    body.push(`(if ${get(printer.local(SPIKED))} (then`, ...spiked.map((l) => `  ${l}`), '))');
  }
  layout.traces.forEach((t, r) => {
    if (t.population !== kernel.population) return;
    const row = `(i32.mul ${get('sf_chunk_step')} ${i32(layout.recordRow)})`;
    const column = `(i32.add ${i32(layout.traceOffset(r) - t.start)} ${get('sf_i')})`;
    const store = `(f32.store offset=${plan.record} (i32.shl (i32.add ${row} ${column}) (i32.const 2)) ${get(printer.local(recordedLocal(kernel, t.variable)))})`;
    const bounds = [
      ...(t.start > 0 ? [`(i32.ge_u ${get('sf_i')} ${i32(t.start)})`] : []),
      ...(t.end < kernel.size ? [`(i32.lt_u ${get('sf_i')} ${i32(t.end)})`] : []),
    ];
    body.push(
      bounds.length === 0
        ? store
        : `(if ${bounds.length === 1 ? bounds[0] : `(i32.and ${bounds.join(' ')})`} (then ${store}))`,
    );
  });
  const name = entryPointName(kernel.population);
  const header = [
    `;; ${kernel.population}: ${kernel.size} elements`,
    `(func $${name} (export "${name}") (param $sf_step i32) (param $sf_chunk_step i32)`,
  ];
  if (kernel.size === 0) return [...header, ')'].join('\n');
  return [
    ...header,
    ...[...locals].map(([n, type]) => `  (local $${n} ${type})`),
    '  (loop $sf_next',
    ...body.map((l) => `    ${l}`),
    `    (local.set $sf_i (i32.add ${get('sf_i')} (i32.const 1)))`,
    `    (br_if $sf_next (i32.lt_u ${get('sf_i')} ${i32(kernel.size)})))`,
    ')',
  ].join('\n');
}

/**
 * The WebAssembly text module of a network's kernels for the CPU backend (float32): the
 * memory and the host's random draws and Math functions are imported.
 */
export function emitWasmModule(
  kernels: readonly PopulationKernel[],
  layout: BufferLayout,
  printer: KernelPrinter,
  plan: WasmMemoryPlan,
): string {
  const draw = '(param i32 i32 i32 i32) (result f64)';
  return [
    '(module',
    `(import "env" "memory" (memory ${wasmPages(plan)}))`,
    `(import "rt" "normal" (func $rt_normal ${draw}))`,
    `(import "rt" "uniform" (func $rt_uniform ${draw}))`,
    ...HOST_FUNCTIONS.map(
      (f) =>
        `(import "math" "${f}" (func $host_${f} (param f64${f === 'pow' ? ' f64' : ''}) (result f64)))`,
    ),
    WASM_HELPERS,
    ...kernels.map((k) => emitWasmKernel(k, layout, printer, plan)),
    ')',
  ].join('\n');
}
