/**
 * WebAssembly text (WAT) printer for the CPU backend's float32 kernels.
 *
 * WebAssembly has float32 arithmetic of its own, correctly rounded like the GPU's + - * / and
 * sqrt: `(f32.add a b)` computes what the JavaScript float32 printer spells
 * `Math.fround(a + b)`, without the two conversions per operation that cost the JavaScript
 * kernels most of their time (docs/benchmarks.md, (d)). The printer base decides the order
 * of operations (sums folded left, products, powers), so a WAT expression is the same tree as
 * the JavaScript and WGSL ones, printed prefix: every fragment is an atom, and `parenthesize`
 * never adds anything.
 *
 * `exp`, `log` and `exprel` call the module's `$sf_exp`, `$sf_log` and `$sf_exprel32` (the
 * operations of src/codegen/math32.ts, as every target computes them), and the normal draws its
 * `$sf_box_muller` (src/codegen/normal32.ts); the other inexact
 * functions call the host's `Math` (imported, in double) and round the result once, as
 * `Math.fround(Math.sin(x))` does. Float32 only: the float64 reference mode stays JavaScript.
 */

import type { Expr, Fn } from '../../symbolic/expr.js';
import {
  CLikePrinter,
  type Code,
  type FunctionSpec,
  PREC,
  type PrintContext,
  UnsupportedFunctionError,
} from '../printer.js';
import { EXP32 as E, LOG32 as L } from '../math32.js';
import { NORMAL32 as N, UNIFORM_STEP } from '../normal32.js';
import { JS_RESERVED } from '../js/printer.js';

const atom = (text: string): Code => ({ text, prec: PREC.atom });

/** Functions the module imports from the host's Math (double in, double out). */
export const HOST_FUNCTIONS = [
  'sin',
  'cos',
  'tan',
  'tanh',
  'sinh',
  'cosh',
  'atan',
  'log10',
  'pow',
] as const;

/** The module's import declarations of the host's Math (`$host_sin`, ...). */
export const HOST_IMPORT_DECLARATIONS = HOST_FUNCTIONS.map(
  (f) =>
    `(import "math" "${f}" (func $host_${f} (param f64${f === 'pow' ? ' f64' : ''}) (result f64)))`,
).join('\n');

/** What a module's `math` imports are bound to. */
export function hostMath(): Record<string, (...args: number[]) => number> {
  return Object.fromEntries(HOST_FUNCTIONS.map((f) => [f, Math[f]]));
}

/** Functions that are one float32 instruction (`f32.sqrt`, `f32x4.sqrt`), exact or correctly rounded. */
const NATIVE: ReadonlySet<Fn> = new Set(['sqrt', 'abs', 'floor', 'ceil', 'min', 'max']);

/** Functions defined in the module (WASM_HELPERS; VECTOR_HELPERS for four lanes). */
const HELPERS: Readonly<Partial<Record<Fn, string>>> = {
  exp: 'sf_exp',
  log: 'sf_log',
  exprel: 'sf_exprel32',
};

const OPERATORS: Readonly<Record<string, string>> = {
  '+': 'add',
  '-': 'sub',
  '*': 'mul',
  '/': 'div',
};

const COMPARISONS = {
  '<': 'lt',
  '<=': 'le',
  '>': 'gt',
  '>=': 'ge',
  '==': 'eq',
  '!=': 'ne',
} as const;

/** A float32 constant, exactly (every float32 is a double whose shortest spelling reads back to it). */
export function f32Const(value: number): string {
  return `(f32.const ${f32Digits(value)})`;
}

function f32Digits(value: number): string {
  if (Number.isNaN(value)) return 'nan';
  if (value === Infinity) return 'inf';
  if (value === -Infinity) return '-inf';
  return Object.is(value, -0) ? '-0' : String(Math.fround(value));
}

/**
 * How a WAT printer spells its values: one float32 (`f32`, conditions as `i32` 0 or 1), or four
 * float32 lanes (WebAssembly SIMD: `v128` as `f32x4`, conditions as lane masks of all ones or
 * all zeros). Every f32x4 instruction used rounds each lane as its f32 namesake does, so a
 * lane computes what the one-lane code computes.
 */
export interface WatLanes {
  /** Prefix of the float instructions: `f32.add`, `f32x4.add`. */
  readonly float: 'f32' | 'f32x4';
  /** A constant from its digits (`f32Digits`). */
  constant(digits: string): string;
  readonly true: string;
  readonly false: string;
  readonly and: string;
  readonly or: string;
  not(condition: string): string;
  select(then: string, otherwise: string, condition: string): string;
  boolToFloat(condition: string): string;
  /** The module's function for a helper or a host Math function (`$sf_exp`, `$host_sin_x4`). */
  callee(name: string): string;
  /** A call of the host's Math function `fn` (double in and out), rounded once per lane. */
  host(fn: string, args: readonly string[]): string;
}

export const ONE_LANE: WatLanes = {
  float: 'f32',
  constant: (d) => `(f32.const ${d})`,
  true: '(i32.const 1)',
  false: '(i32.const 0)',
  and: 'i32.and',
  or: 'i32.or',
  not: (c) => `(i32.eqz ${c})`,
  select: (t, o, c) => `(select ${t} ${o} ${c})`,
  boolToFloat: (c) => `(f32.convert_i32_u ${c})`,
  callee: (name) => `$${name}`,
  host: (fn, args) =>
    `(f32.demote_f64 (call $host_${fn} ${args.map((a) => `(f64.promote_f32 ${a})`).join(' ')}))`,
};

const ZERO_X4 = '(v128.const f32x4 0 0 0 0)';

export const FOUR_LANES: WatLanes = {
  float: 'f32x4',
  constant: (d) => `(v128.const f32x4 ${d} ${d} ${d} ${d})`,
  true: '(v128.const i32x4 -1 -1 -1 -1)',
  false: '(v128.const i32x4 0 0 0 0)',
  and: 'v128.and',
  or: 'v128.or',
  not: (c) => `(v128.not ${c})`,
  // Picking +0 is clearing bits: one instruction instead of bitselect's three, the same bits.
  select: (t, o, c) =>
    t === ZERO_X4
      ? `(v128.andnot ${o} ${c})`
      : o === ZERO_X4
        ? `(v128.and ${t} ${c})`
        : `(v128.bitselect ${t} ${o} ${c})`,
  // The mask's all-ones lanes keep 1.0's bits, the others become +0.
  boolToFloat: (c) => `(v128.and ${c} (v128.const f32x4 1 1 1 1))`,
  callee: (name) => `$${name}_x4`,
  host: (fn, args) => `(call $host_${fn}_x4 ${args.join(' ')})`,
};

/** Prints symbolic expressions as folded WAT float32 instructions over `$locals`, on one lane or four. */
export class WatPrinter extends CLikePrinter {
  /** Constants printed so far, text -> digits, so that negating one gives a constant. */
  private readonly constants = new Map<string, string>();

  constructor(readonly lanes: WatLanes = ONE_LANE) {
    const unused: FunctionSpec = { name: 'unused' };
    super({
      target: 'wasm',
      precision: 'f32',
      types: { f32: 'f32', u32: 'i32', i32: 'i32', bool: 'i32' },
      // Calls are printed by `call` below; the table only names what exists.
      functions: Object.fromEntries(
        [...NATIVE, ...Object.keys(HELPERS), ...HOST_FUNCTIONS].map((f) => [f, unused]),
      ),
      operators: { and: lanes.and, or: lanes.or, not: 'unused', cmp: COMPARISONS },
      where: 'select',
      boolToFloat: lanes.boolToFloat,
      literals: {
        floatSuffix: '',
        floatNeedsPoint: false,
        u32Suffix: '',
        i32Suffix: '',
        true: lanes.true,
        false: lanes.false,
        infinity: { text: lanes.constant('inf') },
        nan: { text: lanes.constant('nan') },
      },
      // WAT names are `$`-prefixed and cannot clash with instructions; JavaScript's list keeps
      // the locals' names the same as in the JavaScript kernels, which reads better side by side.
      reserved: JS_RESERVED,
    });
    this.constants.set(lanes.constant('inf'), 'inf');
  }

  prelude(): string {
    return '';
  }

  protected override floatDigits(v: number): Code {
    const digits = f32Digits(v);
    const text = this.lanes.constant(digits);
    this.constants.set(text, digits);
    return atom(text);
  }

  protected override negate(code: Code): Code {
    // A negative literal is a constant of its own; anything else is negated (exact either way).
    const digits = this.constants.get(code.text);
    if (digits === undefined || digits.startsWith('-'))
      return atom(`(${this.lanes.float}.neg ${code.text})`);
    return atom(this.lanes.constant(`-${digits}`));
  }

  protected override binary(left: Code, op: string, right: Code): Code {
    const instruction = OPERATORS[op];
    if (instruction === undefined) throw new Error(`WatPrinter: no float32 operator '${op}'`);
    return atom(`(${this.lanes.float}.${instruction} ${left.text} ${right.text})`);
  }

  protected override symbol(name: string, _ctx: PrintContext): Code {
    return atom(`(local.get $${this.namer.identifier(name)})`);
  }

  protected override value(e: Expr, ctx: PrintContext): Code {
    if (e.kind !== 'where') return super.value(e, ctx);
    // Both sides are pure float expressions, so evaluating both (select) equals a branch.
    const cond = this.condition(e.cond, ctx).text;
    return atom(
      this.lanes.select(this.value(e.then, ctx).text, this.value(e.else, ctx).text, cond),
    );
  }

  protected override condition(e: Expr, ctx: PrintContext): Code {
    switch (e.kind) {
      case 'cmp':
        if (e.a.kind === 'num' && e.b.kind === 'num') return super.condition(e, ctx);
        return atom(
          `(${this.lanes.float}.${COMPARISONS[e.op]} ${this.value(e.a, ctx).text} ${this.value(e.b, ctx).text})`,
        );
      case 'and':
      case 'or': {
        // Conditions are pure, so evaluating every operand equals short-circuiting.
        const op = e.kind === 'and' ? this.lanes.and : this.lanes.or;
        return e.args
          .map((a) => this.condition(a, ctx))
          .reduce((acc, c) => atom(`(${op} ${acc.text} ${c.text})`));
      }
      case 'not':
        return atom(this.lanes.not(this.condition(e.arg, ctx).text));
      case 'num':
        return super.condition(e, ctx);
      default:
        return atom(
          `(${this.lanes.float}.ne ${this.value(e, ctx).text} ${this.floatDigits(0).text})`,
        );
    }
  }

  protected override call(fn: Fn | 'pow', args: readonly Expr[], ctx: PrintContext): Code {
    const printed = args.map((a) => this.value(a, ctx).text);
    if (fn !== 'pow' && NATIVE.has(fn))
      return atom(`(${this.lanes.float}.${fn} ${printed.join(' ')})`);
    const helper = fn === 'pow' ? undefined : HELPERS[fn];
    if (helper !== undefined)
      return atom(`(call ${this.lanes.callee(helper)} ${printed.join(' ')})`);
    if ((HOST_FUNCTIONS as readonly string[]).includes(fn))
      return atom(this.lanes.host(fn, printed));
    throw new UnsupportedFunctionError(fn, this.target, this.precision);
  }
}

const c = f32Const;

/**
 * The module's float32 helpers: src/codegen/math32.ts's `sf_exp`, `sf_log` and `exprel`, and
 * normal32.ts's `sf_box_muller` (both values: the kernels use the first), the operations of the
 * WGSL, CUDA and JavaScript helpers in the same order. Where the JavaScript helper computes an
 * exact step in double, the float32 instruction gives the same value; `i32.trunc_sat_f32_s`
 * takes NaN to 0 where JavaScript's `>>` does the same; `f32.sqrt` is the IEEE square root.
 */
export const WASM_HELPERS = `(func $sf_exp (param $x f32) (result f32)
  (local $k f32) (local $r f32) (local $z f32) (local $p f32) (local $t f32)
  (local $ki i32) (local $h i32)
  (if (f32.ge (local.get $x) ${c(E.OVERFLOW)}) (then (return (f32.const inf))))
  (if (f32.le (local.get $x) ${c(E.UNDERFLOW)}) (then (return (f32.const 0))))
  (local.set $k (f32.floor (f32.add (f32.mul (local.get $x) ${c(E.LOG2E)}) (f32.const 0.5))))
  (local.set $r (f32.sub (local.get $x) (f32.mul (local.get $k) ${c(E.C1)})))
  (local.set $r (f32.sub (local.get $r) (f32.mul (local.get $k) ${c(E.C2)})))
  (local.set $z (f32.mul (local.get $r) (local.get $r)))
  (local.set $p
    (f32.add
      (f32.mul
        (f32.add
          (f32.mul (f32.add (f32.mul ${c(E.P0)} (local.get $r)) ${c(E.P1)}) (local.get $z))
          (f32.add (f32.mul ${c(E.P2)} (local.get $r)) ${c(E.P3)}))
        (local.get $z))
      (f32.add (f32.mul ${c(E.P4)} (local.get $r)) ${c(E.P5)})))
  (local.set $t (f32.add (f32.mul (local.get $p) (local.get $z)) (local.get $r)))
  (local.set $ki (i32.trunc_sat_f32_s (local.get $k)))
  (local.set $h (i32.shr_s (local.get $ki) (i32.const 1)))
  (f32.mul
    (f32.add
      (f32.reinterpret_i32 (i32.shl (i32.add (local.get $h) (i32.const 127)) (i32.const 23)))
      (f32.mul (local.get $t)
        (f32.reinterpret_i32 (i32.shl (i32.add (local.get $h) (i32.const 127)) (i32.const 23)))))
    (f32.reinterpret_i32
      (i32.shl (i32.add (i32.sub (local.get $ki) (local.get $h)) (i32.const 127)) (i32.const 23)))))

(func $sf_log (param $x f32) (result f32)
  (local $ix i32) (local $k i32) (local $f f32) (local $s f32) (local $z f32) (local $w f32)
  (local $r f32) (local $hfsq f32)
  (local.set $ix (i32.reinterpret_f32 (local.get $x)))
  (if (i32.or (i32.lt_u (local.get $ix) (i32.const 0x00800000))
              (i32.ge_u (local.get $ix) (i32.const 0x7f800000)))
    (then
      (if (i32.eqz (i32.and (local.get $ix) (i32.const 0x7fffffff))) (then (return (f32.const -inf))))
      (if (i32.gt_u (local.get $ix) (i32.const 0x7f800000)) (then (return (f32.const nan))))
      (if (i32.eq (local.get $ix) (i32.const 0x7f800000)) (then (return (f32.const inf))))
      (local.set $ix (i32.reinterpret_f32 (f32.mul (local.get $x) (f32.const 33554432))))
      (local.set $k (i32.const -25))))
  (local.set $ix (i32.add (local.get $ix) (i32.const ${0x3f800000 - 0x3f3504f3})))
  (local.set $k
    (i32.sub (i32.add (local.get $k) (i32.shr_u (local.get $ix) (i32.const 23))) (i32.const 127)))
  (local.set $f
    (f32.sub
      (f32.reinterpret_i32
        (i32.add (i32.and (local.get $ix) (i32.const 0x007fffff)) (i32.const 0x3f3504f3)))
      (f32.const 1)))
  (local.set $s (f32.div (local.get $f) (f32.add (f32.const 2) (local.get $f))))
  (local.set $z (f32.mul (local.get $s) (local.get $s)))
  (local.set $w (f32.mul (local.get $z) (local.get $z)))
  (local.set $r
    (f32.add
      (f32.mul (local.get $z) (f32.add ${c(L.Lg1)} (f32.mul (local.get $w) ${c(L.Lg3)})))
      (f32.mul (local.get $w) (f32.add ${c(L.Lg2)} (f32.mul (local.get $w) ${c(L.Lg4)})))))
  (local.set $hfsq (f32.mul (f32.mul (f32.const 0.5) (local.get $f)) (local.get $f)))
  (f32.add
    (f32.add
      (f32.sub
        (f32.add
          (f32.mul (local.get $s) (f32.add (local.get $hfsq) (local.get $r)))
          (f32.mul (f32.convert_i32_s (local.get $k)) ${c(L.LN2_LO)}))
        (local.get $hfsq))
      (local.get $f))
    (f32.mul (f32.convert_i32_s (local.get $k)) ${c(L.LN2_HI)})))

(func $sf_exprel32 (param $z f32) (result f32)
  (local $u f32)
  (local.set $u (call $sf_exp (local.get $z)))
  (if (f32.eq (local.get $u) (f32.const 1)) (then (return (f32.const 1))))
  (if (f32.le (local.get $u) ${c(2 ** -25)})
    (then (return (f32.div (f32.const -1) (local.get $z)))))
  (if (f32.eq (local.get $u) (f32.const inf)) (then (return (f32.const inf))))
  (f32.div (f32.sub (local.get $u) (f32.const 1)) (call $sf_log (local.get $u))))

(func $sf_box_muller (param $a i32) (param $b i32) (result f32 f32)
  (local $radius f32) (local $m i32) (local $t i32) (local $r f32) (local $z f32) (local $sin_r f32)
  (local $cos_r f32) (local $q i32) (local $x f32) (local $y f32)
  (local.set $radius
    (f32.sqrt (f32.mul (f32.const -2) (call $sf_log
      (f32.mul (f32.convert_i32_u (i32.add (i32.shr_u (local.get $a) (i32.const 8)) (i32.const 1))) ${c(UNIFORM_STEP)})))))
  (local.set $m (i32.shr_u (local.get $b) (i32.const 8)))
  (local.set $t (i32.shr_u (i32.add (local.get $m) (i32.const 0x200000)) (i32.const 22)))
  (local.set $r
    (f32.mul (f32.convert_i32_s (i32.sub (local.get $m) (i32.shl (local.get $t) (i32.const 22)))) ${c(UNIFORM_STEP)}))
  (local.set $z (f32.mul (local.get $r) (local.get $r)))
  (local.set $sin_r
    (f32.add
      (f32.mul (local.get $r) (f32.const 6))
      (f32.add
        (f32.mul (f32.mul (local.get $r) (local.get $z))
          (f32.add ${c(N.S1)} (f32.mul (local.get $z) (f32.add ${c(N.S2)} (f32.mul (local.get $z) ${c(N.S3)})))))
        (f32.mul (local.get $r) ${c(N.S0)}))))
  (local.set $cos_r
    (f32.add (f32.const 1)
      (f32.mul (local.get $z)
        (f32.add ${c(N.C1)}
          (f32.mul (local.get $z)
            (f32.add ${c(N.C2)}
              (f32.mul (local.get $z) (f32.add ${c(N.C3)} (f32.mul (local.get $z) ${c(N.C4)})))))))))
  (local.set $q (i32.and (i32.add (local.get $t) (i32.const 2)) (i32.const 3)))
  (local.set $x
    (f32.mul (local.get $radius)
      (select (local.get $sin_r) (local.get $cos_r) (i32.and (local.get $q) (i32.const 1)))))
  (local.set $y
    (f32.mul (local.get $radius)
      (select (local.get $cos_r) (local.get $sin_r) (i32.and (local.get $q) (i32.const 1)))))
  (select (f32.neg (local.get $x)) (local.get $x) (i32.and (i32.add (local.get $q) (i32.const 1)) (i32.const 2)))
  (select (f32.neg (local.get $y)) (local.get $y) (i32.and (local.get $q) (i32.const 2))))`;
