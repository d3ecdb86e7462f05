/**
 * Four-lane kernels for the CPU backend: WebAssembly SIMD (`v128` as `f32x4`), four elements
 * of a kernel per iteration, each lane computing bit for bit what the one-lane kernel of
 * kernel.ts computes for its element.
 *
 * Branches are if-converted: both sides of an `if` run on every lane, and an assignment
 * inside keeps its new value only in the lanes whose condition mask is set
 * (`v128.bitselect`). That equals branching because kernel statements other than counters
 * have no side effects: float operations do not trap, and a random draw or a helper call
 * made for a lane that does not need it is thrown away. Counters are read and cleared, so a
 * kernel that reads one inside a branch stays one-lane, as do gathers and spike-time tables
 * (per-element loops over connectivity). Spikes and traces are written lane by lane, in
 * element order, so the spike lists come out in the same order as the one-lane kernel's.
 */
import { InternalError, assertNever } from '../../diagnostics/diagnostic.js';
import type { Expr as SymExpr } from '../../symbolic/expr.js';
import { type KernelPrinter, kernelPrinter, neuronStateSource } from '../emit.js';
import { recordedLocal } from '../js/kernel.js';
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
import { readLocals } from '../legalize.js';
import {
  RANGE_PARAMS,
  SCRATCH,
  counterAddress,
  get,
  i32,
  spikeAppend,
  stateAddress,
  traceStore,
  tracesOf,
} from './element.js';
import type { WasmMemoryPlan } from './kernel.js';
import { EXP32 as E } from '../math32.js';
import { FOUR_LANES, HOST_FUNCTIONS, ONE_LANE, WatPrinter, f32Const } from './printer.js';

const LANES = 4;
const LANE_INDICES = [0, 1, 2, 3] as const;

/** The four-lane function of kernel `step_X` is `$step_X_x4`, as helpers get `$sf_exp_x4`. */
export const VECTOR_SUFFIX = '_x4';

/**
 * Whether a kernel runs four elements at a time: at least four elements; only float and
 * condition locals, random draws, counters and neuron reads (none of the last two inside a
 * branch); and every local declared once, so that running both sides of a branch cannot
 * overwrite one.
 */
export function vectorizable(kernel: PopulationKernel): boolean {
  const declared = new Set<string>();
  const declareOnce = (name: string): boolean => {
    if (declared.has(name)) return false;
    declared.add(name);
    return true;
  };
  const visit = (list: readonly KernelStatement[], inBranch: boolean): boolean =>
    list.every((s) => {
      switch (s.kind) {
        case 'let':
        case 'letBool':
        case 'random':
          return declareOnce(s.name);
        case 'set':
          return true;
        case 'count':
        case 'neuronState':
          return !inBranch && declareOnce(s.name);
        case 'if':
          return visit(s.then, true) && visit(s.otherwise, true);
        case 'gather':
        case 'spikeTime':
          return false;
        default:
          return assertNever(s);
      }
    });
  return kernel.size >= LANES && visit(kernel.body, false);
}

const lane = (v: string, k: number): string => `(f32x4.extract_lane ${k} ${v})`;

/** The element index of lane k. */
const laneIndex = (k: number): string =>
  k === 0 ? get('sf_i') : `(i32.add ${get('sf_i')} ${i32(k)})`;

/** A four-lane value built from one f32 expression per lane (evaluated in lane order). */
function fromLanes(values: readonly string[]): string {
  return values
    .slice(1)
    .reduce(
      (acc, v, k) => `(f32x4.replace_lane ${k + 1} ${acc} ${v})`,
      `(f32x4.splat ${values[0]})`,
    );
}

/** A four-lane function that calls a one-lane function `call` on each lane of its parameters. */
function perLane(name: string, parameters: number, call: (args: string[]) => string): string {
  const names = ['$a', '$b'].slice(0, parameters);
  const params = names.map((p) => `(param ${p} v128)`).join(' ');
  const values = LANE_INDICES.map((k) => call(names.map((p) => lane(`(local.get ${p})`, k))));
  return `(func $${name}${VECTOR_SUFFIX} ${params} (result v128)\n  ${fromLanes(values)})`;
}

const splat = (value: number): string => `(f32x4.splat ${f32Const(value)})`;

/**
 * The uniform and normal draws of four consecutive elements from the words that
 * `$sf_philox_lanes` (kernel.ts randomFunctions) left at $sf_scratch, word w of lane l at
 * 16 w + 4 l, with the one-lane functions' operations (the normal is `$sf_normal_of`, lane
 * by lane).
 */
export function vectorRandomFunctions(): string {
  const word = (w: number): string => `(v128.load offset=${16 * w} ${SCRATCH})`;
  const laneWord = (w: number, k: number): string =>
    `(i32.load offset=${16 * w + 4 * k} ${SCRATCH})`;
  return `(func $sf_uniform_x4 (result v128)
  (f32x4.mul (f32x4.convert_i32x4_u (i32x4.shr_u ${word(0)} (i32.const 8))) ${splat(2 ** -24)}))

(func $sf_normal_x4 (result v128)
  ${fromLanes(LANE_INDICES.map((k) => `(call $sf_normal_of ${laneWord(0, k)} ${laneWord(1, k)})`))})`;
}

/**
 * The module's four-lane helpers: `$sf_exp_x4`, the operations of `$sf_exp` on four lanes
 * (its two early returns become selects of the computed value); `$sf_log_x4`,
 * `$sf_exprel32_x4` and the host's Math functions (`$host_sin_x4`, ...) call the one-lane
 * function on each lane.
 */
export const VECTOR_HELPERS = [
  `(func $sf_exp_x4 (param $x v128) (result v128)
  (local $k v128) (local $r v128) (local $z v128) (local $p v128) (local $t v128)
  (local $ki v128) (local $h v128) (local $scale v128) (local $y v128)
  (local.set $k (f32x4.floor (f32x4.add (f32x4.mul (local.get $x) ${splat(E.LOG2E)}) ${splat(0.5)})))
  (local.set $r (f32x4.sub (local.get $x) (f32x4.mul (local.get $k) ${splat(E.C1)})))
  (local.set $r (f32x4.sub (local.get $r) (f32x4.mul (local.get $k) ${splat(E.C2)})))
  (local.set $z (f32x4.mul (local.get $r) (local.get $r)))
  (local.set $p
    (f32x4.add
      (f32x4.mul
        (f32x4.add
          (f32x4.mul (f32x4.add (f32x4.mul ${splat(E.P0)} (local.get $r)) ${splat(E.P1)}) (local.get $z))
          (f32x4.add (f32x4.mul ${splat(E.P2)} (local.get $r)) ${splat(E.P3)}))
        (local.get $z))
      (f32x4.add (f32x4.mul ${splat(E.P4)} (local.get $r)) ${splat(E.P5)})))
  (local.set $t (f32x4.add (f32x4.mul (local.get $p) (local.get $z)) (local.get $r)))
  (local.set $ki (i32x4.trunc_sat_f32x4_s (local.get $k)))
  (local.set $h (i32x4.shr_s (local.get $ki) (i32.const 1)))
  ;; 2^h, and 2^(ki - h), as float32 bit patterns
  (local.set $scale (i32x4.shl (i32x4.add (local.get $h) (i32x4.splat (i32.const 127))) (i32.const 23)))
  (local.set $y
    (f32x4.mul
      (f32x4.add (local.get $scale) (f32x4.mul (local.get $t) (local.get $scale)))
      (i32x4.shl
        (i32x4.add (i32x4.sub (local.get $ki) (local.get $h)) (i32x4.splat (i32.const 127)))
        (i32.const 23))))
  (local.set $y (v128.bitselect ${splat(Infinity)} (local.get $y) (f32x4.ge (local.get $x) ${splat(E.OVERFLOW)})))
  (v128.bitselect ${splat(0)} (local.get $y) (f32x4.le (local.get $x) ${splat(E.UNDERFLOW)})))`,
  perLane('sf_log', 1, (args) => `(call $sf_log ${args.join(' ')})`),
  perLane('sf_exprel32', 1, (args) => `(call $sf_exprel32 ${args.join(' ')})`),
  ...HOST_FUNCTIONS.map((f) =>
    perLane(`host_${f}`, f === 'pow' ? 2 : 1, (args) => ONE_LANE.host(f, args)),
  ),
].join('\n\n');

/** Emits kernel statements on four lanes, if-converted under the lane mask `mask`. */
class VectorStatements {
  readonly locals = new Set<string>();
  /** Mask locals made so far (their names are numbered). */
  private masks = 0;
  private readonly conditionLocals = new Set<string>();

  constructor(
    private readonly printer: KernelPrinter,
    private readonly layout: BufferLayout,
    private readonly plan: WasmMemoryPlan,
  ) {}

  /** A new v128 local, or a named one. */
  local(name: string): string {
    this.locals.add(name);
    return name;
  }

  private condition(e: SymExpr): string {
    return e.kind === 'sym' && this.conditionLocals.has(e.name)
      ? get(this.printer.local(e.name))
      : this.printer.condition(e);
  }

  private fresh(hint: string): string {
    return this.local(`sf_${hint}${this.masks++}`);
  }

  emit(list: readonly KernelStatement[], mask: string | undefined): string[] {
    const lines: string[] = [];
    for (const s of list) {
      switch (s.kind) {
        case 'let':
          lines.push(
            `(local.set $${this.local(this.printer.local(s.name))} ${this.printer.expr(s.value)})`,
          );
          break;
        case 'letBool':
          lines.push(
            `(local.set $${this.local(this.printer.local(s.name))} ${this.condition(s.value)})`,
          );
          this.conditionLocals.add(s.name);
          break;
        case 'set': {
          const name = this.printer.local(s.name);
          const value = this.printer.expr(s.value);
          lines.push(
            `(local.set $${name} ${mask === undefined ? value : `(v128.bitselect ${value} ${get(name)} ${mask})`})`,
          );
          break;
        }
        case 'random': {
          const name = this.local(this.printer.local(s.name));
          const lanes = `(i32x4.add (i32x4.splat ${get('sf_i')}) (v128.const i32x4 0 1 2 3))`;
          lines.push(
            `(call $sf_philox_lanes ${lanes} (i32x4.splat ${get('sf_step')}) ${i32(s.purpose)} ${i32(s.stream)} ${SCRATCH})`,
            `(local.set $${name} (call $sf_${s.distribution}_x4))`,
          );
          break;
        }
        case 'count': {
          if (mask !== undefined)
            throw new InternalError('a counter read inside a four-lane branch');
          const signed = this.layout.counter(s.counter).signed;
          const name = this.local(this.printer.local(s.name));
          lines.push(
            `(local.set $sf_w ${counterAddress(this.layout, this.plan, s.counter)})`,
            `(local.set $${name} (f32x4.convert_i32x4_${signed ? 's' : 'u'} (v128.load ${get('sf_w')})))`,
            `(v128.store ${get('sf_w')} ${FOUR_LANES.false})`,
          );
          break;
        }
        case 'if': {
          // The condition is taken before either side runs, as the branch does (a condition
          // local is never assigned again).
          const c = s.condition;
          let taken: string;
          if (c.kind === 'sym' && this.conditionLocals.has(c.name))
            taken = this.printer.local(c.name);
          else {
            taken = this.fresh('if');
            lines.push(`(local.set $${taken} ${this.condition(c)})`);
          }
          if (mask === undefined) lines.push(...this.emit(s.then, get(taken)));
          else {
            const then = this.fresh('then');
            lines.push(
              `(local.set $${then} (v128.and ${mask} ${get(taken)}))`,
              ...this.emit(s.then, get(then)),
            );
          }
          if (s.otherwise.length > 0) {
            const otherwise = this.fresh('else');
            lines.push(
              `(local.set $${otherwise} ${mask === undefined ? `(v128.not ${get(taken)})` : `(v128.andnot ${mask} ${get(taken)})`})`,
              ...this.emit(s.otherwise, get(otherwise)),
            );
          }
          break;
        }
        case 'neuronState': {
          if (mask !== undefined)
            throw new InternalError('a neuron read inside a four-lane branch');
          const name = this.local(this.printer.local(s.name));
          const { base, row } = neuronStateSource(s, this.layout);
          const offset = this.plan.state + 4 * base;
          if (row === undefined) {
            // A per-pre element's own neuron: four consecutive floats.
            lines.push(
              `(local.set $${name} (v128.load offset=${offset} (i32.shl ${get('sf_i')} (i32.const 2))))`,
            );
            break;
          }
          // A synapse's neurons, one per lane, from its row.
          const lane = (k: number): string =>
            `(f32.load offset=${offset} (i32.shl (i32.load offset=${this.plan.conn + 4 * (row + k)} (i32.shl ${get('sf_i')} (i32.const 2))) (i32.const 2)))`;
          let value = `(f32x4.splat ${lane(0)})`;
          for (const k of [1, 2, 3]) value = `(f32x4.replace_lane ${k} ${value} ${lane(k)})`;
          lines.push(`(local.set $${name} ${value})`);
          break;
        }
        case 'gather':
        case 'spikeTime':
          throw new InternalError(`a ${s.kind} in a four-lane kernel`);
        default:
          assertNever(s);
      }
    }
    return lines;
  }
}

/**
 * `$step_X_x4(step, chunkStep, from, to)`: the kernel's elements [from, to), four at a time
 * (to - from a positive multiple of four; the caller does the rest one by one). Only for
 * kernels that are `vectorizable`.
 */
export function emitVectorKernel(
  kernel: PopulationKernel,
  layout: BufferLayout,
  plan: WasmMemoryPlan,
): string {
  const printer = kernelPrinter(new WatPrinter(FOUR_LANES));
  const statements = new VectorStatements(printer, layout, plan);
  const v = (name: string): string => statements.local(printer.local(name));
  const used = readLocals(kernel.body);
  const body: string[] = [`(local.set $sf_a (i32.shl ${get('sf_i')} (i32.const 2)))`];
  if (used.has(INDEX))
    body.push(
      `(local.set $${v(INDEX)} (f32x4.convert_i32x4_u (i32x4.add (i32x4.splat ${get('sf_i')}) (v128.const i32x4 0 1 2 3))))`,
    );
  if (used.has(STEP))
    body.push(`(local.set $${v(STEP)} (f32x4.splat (f32.convert_i32_u ${get('sf_step')})))`);
  const stateAt = (s: string): number => stateAddress(kernel, layout, plan, s);
  for (const s of kernel.states)
    if (used.has(s))
      body.push(`(local.set $${v(s)} (v128.load offset=${stateAt(s)} ${get('sf_a')}))`);
  body.push(...statements.emit(kernel.body, undefined));
  for (const s of kernel.states)
    body.push(
      `(v128.store offset=${stateAt(s)} ${get('sf_a')} ${get(printer.local(nextName(s)))})`,
    );
  if (kernel.spikes) {
    const spiked = get(printer.local(SPIKED));
    body.push(`(if (v128.any_true ${spiked}) (then`);
    for (const k of LANE_INDICES) {
      const append = spikeAppend(kernel, layout, plan, laneIndex(k));
      body.push(
        `  (if (i32x4.extract_lane ${k} ${spiked}) (then`,
        ...append.map((l) => `    ${l}`),
        '  ))',
      );
    }
    body.push('))');
  }
  for (const t of tracesOf(kernel, layout)) {
    const value = get(printer.local(recordedLocal(kernel, t.variable)));
    if (t.start === 0 && t.end === kernel.size)
      body.push(traceStore(kernel, layout, plan, t, get('sf_i'), value, 'v128'));
    else
      for (const k of LANE_INDICES)
        body.push(traceStore(kernel, layout, plan, t, laneIndex(k), lane(value, k)));
  }
  const name = `${entryPointName(kernel.population)}${VECTOR_SUFFIX}`;
  return [
    `(func $${name} ${RANGE_PARAMS}`,
    ...['sf_i', 'sf_a', 'sf_k', 'sf_w'].map((n) => `  (local $${n} i32)`),
    ...[...statements.locals].map((n) => `  (local $${n} v128)`),
    `  (local.set $sf_i ${get('sf_from')})`,
    '  (loop $sf_next',
    ...body.map((l) => `    ${l}`),
    `    (local.set $sf_i (i32.add ${get('sf_i')} ${i32(LANES)}))`,
    `    (br_if $sf_next (i32.lt_u ${get('sf_i')} ${get('sf_to')})))`,
    ')',
  ].join('\n');
}
