/**
 * Printing symbolic expressions as target source code (WGSL, CUDA C++, JavaScript).
 *
 * One C-like printer configured by tables, in the style of tinygrad's renderers: scalar type
 * names, the function table (symbolic name -> target spelling, template or prelude helper),
 * logic and comparison operators, the `where` form, literal syntax and reserved words. Each
 * target (`wgsl/printer.ts`, `cuda/printer.ts`, `js/printer.ts`) is a thin subclass that
 * supplies its tables and overrides a hook or two. Parenthesisation follows sympy's printers:
 * every printed fragment carries its precedence and `parenthesize(child, level)` wraps it only
 * when it binds more loosely than its position needs, so the code stays readable.
 *
 * Evaluation order is part of the contract: every backend prints the same operations in the
 * same order, so a JavaScript float32 printer (`Math.fround` after every operation) computes
 * bit for bit what a GPU with correctly rounded + - * / computes. The rules:
 *
 * - sums fold left over the canonical argument order (`((t0 + t1) + t2) + ...`); a term with
 *   a negative coefficient is subtracted (`acc - u` for `acc + (-u)`, which IEEE defines as
 *   the same operation), and the first two terms may be swapped (addition is commutative),
 *   so `V_rest - V` prints rather than `-V + V_rest`;
 * - a product is `c * n1 * n2 ... / (d1 * d2 ...)`: the coefficient (if not +-1), then the
 *   numerator factors in canonical order, folded left, then ONE division by the product of the
 *   denominator factors (powers with exponent -1, -2, -3, -4 or -0.5); a negative coefficient
 *   negates the whole product (`-x * y` is `-(x * y)`: sign changes are exact);
 * - `x^2`, `x^3`, `x^4` are `x * x`, `(x * x) * x`, `(x * x) * (x * x)`; `x^0.5` is `sqrt(x)`;
 *   `x^-n` is `1 / x^n` (as a denominator factor above); `x^1` is `x` and `x^0` is `1`; any
 *   other power is the target's `pow`;
 * - comparisons and logic are exact; `where` picks a branch (WGSL's `select` evaluates both,
 *   which is harmless: expressions have no side effects);
 * - a condition used as a number is 1 or 0; a number used as a condition is `x != 0` (NaN is
 *   true, as in {@link ../symbolic/evaluate.ts}).
 *
 * This differs from `evaluate` (which multiplies by `b^-1` and calls `Math.pow`) by a few
 * rounding errors, never structurally. Bit-equality across backends also needs the target
 * compiler to keep the operations as written: nvcc fuses `a * b + c` into an FMA unless given
 * `--fmad=false`, and a WGSL implementation that goes through GLSL (Mesa's llvmpipe) may
 * rewrite `(a + b) - b` to `a` (see test/printer-wgsl.test.ts).
 *
 * A function the target table lacks throws {@link UnsupportedFunctionError}; callers turn it
 * into a diagnostic. Nothing is ever printed silently wrong.
 */

import { type CmpOp, type Expr, type Fn, type Pow, mul, num } from '../symbolic/expr.js';

/** Floating-point precision of the generated code. */
export type Precision = 'f32' | 'f64';

/** Scalar types a kernel generator can ask the spelling of; `float` is the printer's precision. */
export type ScalarType = 'float' | 'f32' | 'f64' | 'u32' | 'i32' | 'bool';

/** Binding strength of printed forms (C, JavaScript and WGSL agree); higher binds tighter. */
export const PREC = {
  ternary: 1,
  or: 2,
  and: 3,
  cmp: 4,
  add: 5,
  /** A leading minus sign (`-x`, `-2.0f * y`): between `+` and `*`, as in sympy. */
  neg: 6,
  mul: 7,
  /** Prefix `!` (and `-` applied to an atom). */
  unary: 8,
  /** Identifiers, literals, calls, parenthesised forms. */
  atom: 9,
} as const;

/** A printed fragment and the precedence of its outermost operator. */
export interface Code {
  readonly text: string;
  readonly prec: number;
}

/** `code` as is, or in parentheses when it binds more loosely than `level`. */
export function parenthesize(code: Code, level: number): Code {
  return code.prec < level ? { text: `(${code.text})`, prec: PREC.atom } : code;
}

/** Thrown when an expression calls a function the target cannot print. */
export class UnsupportedFunctionError extends Error {
  constructor(
    /** The symbolic function name (`exprel`, `log10`...). */
    readonly fn: string,
    /** The target (`wgsl`, `cuda`, `js`). */
    readonly target: string,
    readonly precision: Precision,
  ) {
    super(`function '${fn}' is not supported by the ${target} (${precision}) backend`);
    this.name = 'UnsupportedFunctionError';
  }
}

/** How a function prints on a target. */
export interface FunctionSpec {
  /** Target spelling: printed as `name(arg, ...)`. */
  readonly name: string;
  /** Overrides `name`: builds the call from the printed arguments (must return a primary expression). */
  readonly template?: (args: readonly string[]) => string;
  /** Prelude helper the spelling calls (`sf_exprel`); recorded in the helper sets. */
  readonly helper?: string;
  /**
   * The result is already a value of the printer's precision, so the JavaScript float32 printer
   * does not wrap it in `Math.fround` (abs, floor, min, float32 helpers...).
   */
  readonly exact?: boolean;
}

/** Symbolic function (or `pow`, for general powers) -> target spelling. Missing entry: unsupported. */
export type FunctionTable = Readonly<Partial<Record<Fn | 'pow', FunctionSpec>>>;

/** A non-finite constant's spelling and the helper it needs, if any. */
export interface NonFiniteSpec {
  readonly text: string;
  readonly helper?: string;
}

/** Everything that makes a target: the tables a subclass passes to {@link CLikePrinter}. */
export interface TargetTables {
  /** Short target name (`wgsl`, `cuda`, `js`), for messages. */
  readonly target: string;
  readonly precision: Precision;
  /** Scalar type spellings; a missing one is unsupported on the target. */
  readonly types: Readonly<Partial<Record<Exclude<ScalarType, 'float'>, string>>>;
  readonly functions: FunctionTable;
  readonly operators: {
    readonly and: string;
    readonly or: string;
    readonly not: string;
    readonly cmp: Readonly<Record<CmpOp, string>>;
  };
  /** `select(else, then, cond)` (WGSL) or `(cond ? then : else)` (C, JavaScript). */
  readonly where: 'select' | 'ternary';
  /** A condition used as a number (1 or 0); must return a primary expression. */
  readonly boolToFloat: (cond: string) => string;
  readonly literals: {
    /** Suffix of float literals of the printer's precision (`f` for WGSL/CUDA f32). */
    readonly floatSuffix: string;
    /** Integer-valued floats need a `.0` (C, WGSL); JavaScript prints `2`. */
    readonly floatNeedsPoint: boolean;
    readonly u32Suffix: string;
    readonly i32Suffix: string;
    readonly true: string;
    readonly false: string;
    readonly infinity: NonFiniteSpec;
    readonly nan: NonFiniteSpec;
  };
  /** Words that cannot be identifiers (keywords, reserved words, names the printed code uses). */
  readonly reserved: Iterable<string>;
  /** Identifier prefixes kept for the runtime (`sf_`). */
  readonly reservedPrefixes?: readonly string[];
}

/** How symbols print and where used helpers are recorded, per call. */
export interface PrintContext {
  /**
   * Target spelling of a symbol: an identifier or another primary expression (`s[i]`,
   * `state.V`); wrap anything else in parentheses. Undefined (or a missing entry) falls back
   * to the printer's {@link Namer}.
   */
  readonly symbols?: ReadonlyMap<string, string> | ((name: string) => string | undefined);
  /** Receives the prelude helpers the printed code calls (besides `printer.helpers`). */
  readonly helpers?: Set<string>;
}

// ---------------------------------------------------------------------------------------
// Float literals

const f32Buffer = new Float32Array(1);
const u32View = new Uint32Array(f32Buffer.buffer);

/** The float32 whose bit pattern is `bits`. */
function f32FromBits(bits: number): number {
  u32View[0] = bits;
  return f32Buffer[0]!;
}

/** The bit pattern of float32 `x`. */
function bitsOfF32(x: number): number {
  f32Buffer[0] = x;
  return u32View[0]!;
}

/** Largest finite float32. */
export const F32_MAX = f32FromBits(0x7f7fffff);

/**
 * The open interval of reals that round to the float32 `x` (finite, > 0) when converted
 * from a double, with the top clipped to `x` for the largest float (WGSL rejects literals
 * above it even when they would round down).
 */
function roundingInterval32(x: number): [number, number] {
  const bits = bitsOfF32(x);
  const below = bits === 0 ? 0 : f32FromBits(bits - 1);
  const above = x === F32_MAX ? x : f32FromBits(bits + 1);
  // Midpoints of adjacent floats have 25 significant bits: exact in double.
  return [(below + x) / 2, (x + above) / 2];
}

/**
 * The shortest decimal (as a double, print it with `String`) that reads back as the float32
 * `x`, for finite `x >= 0`. "Reads back" holds both for a compiler that rounds the decimal
 * straight to float32 (C, CUDA) and for one that goes through a double first (Tint, `Math.fround`):
 * the decimal lies strictly inside `x`'s rounding interval, never on a midpoint. The result
 * never exceeds F32_MAX.
 */
export function shortestFloat32(x: number): number {
  if (!(x > 0) || !Number.isFinite(x) || Math.fround(x) !== x) {
    if (x === 0) return 0;
    throw new Error(`shortestFloat32: ${x} is not a positive finite float32`);
  }
  const [lo, hi] = roundingInterval32(x);
  const inside = (d: number): boolean => d === x || (lo < d && d < hi);
  for (let p = 1; p <= 9; p++) {
    // The nearest p-digit decimal, and its neighbours (the interval is lopsided at powers of 2).
    const [mantissa, exponent] = x.toExponential(p - 1).split('e') as [string, string];
    const digits = BigInt(mantissa.replace('.', ''));
    const scale = Number(exponent) - (p - 1);
    let best: number | undefined;
    for (const m of [digits, digits - 1n, digits + 1n]) {
      if (m <= 0n) continue;
      const d = Number(`${m}e${scale}`);
      if (inside(d) && (best === undefined || Math.abs(d - x) < Math.abs(best - x))) best = d;
    }
    if (best !== undefined) return best;
  }
  return x;
}

/**
 * `String(d)` in C/WGSL float syntax without suffix: `2.0`, `1.5`, `1e-8`, `1e21`
 * (no `+` in exponents). `d` is finite and non-negative.
 */
export function cFloatDigits(d: number): string {
  const s = String(d).replace('e+', 'e');
  return /[.e]/.test(s) ? s : `${s}.0`;
}

// ---------------------------------------------------------------------------------------
// Names

/** The whitespace-separated words of `text`, skipping `#` comment lines (for reserved-word tables). */
export function words(text: string): string[] {
  return text
    .split('\n')
    .filter((line) => !line.trim().startsWith('#'))
    .join(' ')
    .split(/\s+/)
    .filter((w) => w !== '');
}

/**
 * Maps source names (`V`, `post.V`, `V@next`, `@step`) to identifiers that are valid on the
 * target, avoid its reserved words and runtime prefixes, and are unique: each name gets one
 * identifier for the life of the namer, and two names never share one (`post.V` -> `post_V`,
 * then `post_V` -> `post_V_2`; `var` -> `var_`). Results depend on the order of first use,
 * so use one namer per generated module.
 */
export class Namer {
  readonly #reserved: ReadonlySet<string>;
  readonly #prefixes: readonly string[];
  readonly #byName = new Map<string, string>();
  readonly #taken = new Set<string>();

  constructor(reserved: Iterable<string>, reservedPrefixes: readonly string[] = ['sf_']) {
    this.#reserved = new Set(reserved);
    this.#prefixes = reservedPrefixes;
  }

  /** Is `id` a word of the target or of the runtime (never handed out)? */
  isReserved(id: string): boolean {
    return this.#reserved.has(id) || this.#prefixes.some((p) => id.startsWith(p));
  }

  /** The identifier of source name `name` (stable: the same every time). */
  identifier(name: string): string {
    const hit = this.#byName.get(name);
    if (hit !== undefined) return hit;
    const id = this.#unique(sanitize(name));
    this.#byName.set(name, id);
    return id;
  }

  /** A new identifier, unused so far, based on `hint` (for temporaries). */
  fresh(hint: string): string {
    return this.#unique(sanitize(hint));
  }

  /**
   * Claims identifiers the generator writes itself (`i`, `state`, `dt`...), so that no name
   * is mapped onto them later. Throws if one was already handed out or is reserved.
   */
  reserve(...ids: readonly string[]): void {
    for (const id of ids) {
      if (this.#taken.has(id) || this.isReserved(id) || sanitize(id) !== id) {
        throw new Error(`Namer.reserve: '${id}' is taken, reserved or not an identifier`);
      }
      this.#taken.add(id);
    }
  }

  #unique(name: string): string {
    // A runtime prefix cannot be fixed by a suffix: `sf_x` -> `v_sf_x`.
    const base = this.#prefixes.some((p) => name.startsWith(p)) ? `v_${name}` : name;
    let id = this.isReserved(base) ? `${base}_` : base;
    // `var_` -> `var_2`, not `var__2` (C reserves `__` anywhere).
    const stem = base.replace(/_+$/, '');
    for (let n = 2; this.#taken.has(id) || this.isReserved(id); n++) id = `${stem}_${n}`;
    this.#taken.add(id);
    return id;
  }
}

/**
 * An ASCII identifier for `name`: runs of other characters become one `_` (so never `__`,
 * which C reserves and WGSL forbids at the start), leading underscores are dropped, and a
 * leading digit or an empty result gets a `v` in front.
 */
function sanitize(name: string): string {
  const s = name
    .replace(/[^A-Za-z0-9_]+/g, '_')
    .replace(/_+/g, '_')
    .replace(/^_+/, '');
  return s === '' ? 'v' : /^[0-9]/.test(s) ? `v${s}` : s;
}

// ---------------------------------------------------------------------------------------
// The printer

/** Denominator exponents: `x^-n` prints as `1 / x^n` for these. */
const DENOMINATOR_EXPONENTS: ReadonlySet<number> = new Set([-1, -2, -3, -4, -0.5]);
/** Exponents printed as repeated multiplication. */
const EXPANDED_EXPONENTS: ReadonlySet<number> = new Set([2, 3, 4]);

const atom = (text: string): Code => ({ text, prec: PREC.atom });

/** Does `e` carry a negative coefficient (a negative constant, or a product led by one)? */
function isNegative(e: Expr): boolean {
  const lead = e.kind === 'mul' ? e.args[0] : e;
  return lead?.kind === 'num' && lead.value < 0;
}

/**
 * The C-like printer, configured by {@link TargetTables}. Subclasses: `WgslPrinter`,
 * `CudaPrinter`, `JsPrinter`. One instance per generated module: it owns the {@link Namer}
 * and collects the prelude helpers the printed code calls in {@link helpers}.
 */
export abstract class CLikePrinter {
  readonly target: string;
  readonly precision: Precision;
  /** Source names -> identifiers, shared by every print of this printer. */
  readonly namer: Namer;
  /** Every prelude helper called by something this printer printed (pass to `prelude`). */
  readonly helpers = new Set<string>();
  protected readonly tables: TargetTables;

  protected constructor(tables: TargetTables) {
    this.tables = tables;
    this.target = tables.target;
    this.precision = tables.precision;
    const reserved = new Set(tables.reserved);
    for (const t of Object.values(tables.types)) reserved.add(t.split(' ')[0]!);
    for (const spec of Object.values(tables.functions)) reserved.add(spec.name.split('.')[0]!);
    this.namer = new Namer(reserved, tables.reservedPrefixes ?? ['sf_']);
  }

  /** Prelude source defining `helpers` (default: every helper used so far) and their dependencies. */
  abstract prelude(helpers?: Iterable<string>): string;

  // --- Public entry points ---------------------------------------------------------------

  /** `e` as a float expression of the printer's precision. */
  printExpr(e: Expr, ctx: PrintContext = {}): string {
    return this.value(e, ctx).text;
  }

  /** `e` as a condition (the target's bool); non-conditions test `!= 0`. */
  printCondition(e: Expr, ctx: PrintContext = {}): string {
    return this.condition(e, ctx).text;
  }

  /** `e` as a float expression with its precedence, for callers that combine fragments. */
  printCode(e: Expr, ctx: PrintContext = {}): Code {
    return this.value(e, ctx);
  }

  /** The spelling of a scalar type; throws if the target has none (WGSL `f64`). */
  typeName(type: ScalarType): string {
    const t = type === 'float' ? this.precision : type;
    const name = this.tables.types[t];
    if (name === undefined) throw new Error(`the ${this.target} backend has no ${t} type`);
    return name;
  }

  /**
   * A literal of `type` (default: the float type). Floats are rounded to the printer's precision
   * and printed with the fewest digits that read back exactly; integers must be in range.
   */
  literal(value: number, type: ScalarType = 'float', ctx: PrintContext = {}): string {
    switch (type) {
      case 'float':
      case this.precision:
        return this.floatLiteral(value, ctx).text;
      case 'bool':
        return value !== 0 ? this.tables.literals.true : this.tables.literals.false;
      case 'u32':
        if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
          throw new RangeError(`${value} is not a u32`);
        }
        return `${value}${this.tables.literals.u32Suffix}`;
      case 'i32':
        if (!Number.isInteger(value) || value < -0x80000000 || value > 0x7fffffff) {
          throw new RangeError(`${value} is not an i32`);
        }
        // 2147483648 itself is out of range for the literal that -2147483648 would negate.
        if (value === -0x80000000)
          return `(-2147483647${this.tables.literals.i32Suffix} - 1${this.tables.literals.i32Suffix})`;
        return `${value}${this.tables.literals.i32Suffix}`;
      default:
        throw new Error(
          `literal: the ${this.target} (${this.precision}) printer has no ${type} literals`,
        );
    }
  }

  /** `value` rounded to the printer's precision (float32 via `Math.fround`). */
  round(value: number): number {
    return this.precision === 'f32' ? Math.fround(value) : value;
  }

  // --- Hooks for subclasses ---------------------------------------------------------------

  /**
   * Applied to the result of every arithmetic operation and every inexact function call.
   * Identity here; the JavaScript float32 printer wraps it in `Math.fround(...)`.
   */
  protected rounded(code: Code): Code {
    return code;
  }

  /** Digits of a finite, positive float literal of the printer's precision (already rounded). */
  protected floatDigits(v: number): Code {
    const { floatSuffix, floatNeedsPoint } = this.tables.literals;
    const d = this.precision === 'f32' ? shortestFloat32(v) : v;
    const s = floatNeedsPoint ? cFloatDigits(d) : String(d);
    return atom(`${s}${floatSuffix}`);
  }

  // --- Printing -----------------------------------------------------------------------------

  /** Records a helper as used. */
  protected use(helper: string | undefined, ctx: PrintContext): void {
    if (helper === undefined) return;
    this.helpers.add(helper);
    ctx.helpers?.add(helper);
  }

  /** A float literal; negative values print as `-` and the magnitude. */
  protected floatLiteral(value: number, ctx: PrintContext): Code {
    const v = this.round(value);
    if (Number.isNaN(v)) return this.nonFinite(this.tables.literals.nan, ctx);
    if (v < 0) return this.negate(this.floatLiteral(-v, ctx));
    if (v === Infinity) return this.nonFinite(this.tables.literals.infinity, ctx);
    return this.floatDigits(v);
  }

  protected nonFinite(spec: NonFiniteSpec, ctx: PrintContext): Code {
    this.use(spec.helper, ctx);
    return atom(spec.text);
  }

  /** `-code`, value for value `-(code)` (sign changes are exact). */
  protected negate(code: Code): Code {
    // `-x * y` reads as (-x) * y, which equals -(x * y) exactly; `- -x` would lex as `--`.
    const inner = code.text.startsWith('-')
      ? parenthesize(code, PREC.atom)
      : parenthesize(code, PREC.mul);
    return { text: `-${inner.text}`, prec: PREC.neg };
  }

  /** `left op right` for a left-associative arithmetic operator at `prec`, rounded. */
  protected binary(left: Code, op: string, right: Code, prec: number): Code {
    const l = parenthesize(left, prec);
    const r = parenthesize(right, prec + 1);
    return this.rounded({ text: `${l.text} ${op} ${r.text}`, prec });
  }

  protected symbol(name: string, ctx: PrintContext): Code {
    const { symbols } = ctx;
    const given =
      symbols === undefined
        ? undefined
        : typeof symbols === 'function'
          ? symbols(name)
          : symbols.get(name);
    return atom(given ?? this.namer.identifier(name));
  }

  /** `e` as a float. */
  protected value(e: Expr, ctx: PrintContext): Code {
    switch (e.kind) {
      case 'num':
        return this.floatLiteral(e.value, ctx);
      case 'sym':
        return this.symbol(e.name, ctx);
      case 'add':
        return this.sum(e.args, ctx);
      case 'mul':
        return this.product(e.args, ctx);
      case 'pow':
        return this.power(e, ctx);
      case 'call':
        return this.call(e.fn, e.args, ctx);
      case 'where': {
        const cond = this.condition(e.cond, ctx).text;
        const then = this.value(e.then, ctx).text;
        const otherwise = this.value(e.else, ctx).text;
        return this.tables.where === 'select'
          ? atom(`select(${otherwise}, ${then}, ${cond})`)
          : atom(`(${cond} ? ${then} : ${otherwise})`);
      }
      case 'cmp':
      case 'and':
      case 'or':
      case 'not':
        return atom(this.tables.boolToFloat(this.condition(e, ctx).text));
    }
  }

  /** `e` as a condition. */
  protected condition(e: Expr, ctx: PrintContext): Code {
    const { operators, literals } = this.tables;
    switch (e.kind) {
      case 'cmp': {
        if (e.a.kind === 'num' && e.b.kind === 'num') {
          const a = this.round(e.a.value);
          const b = this.round(e.b.value);
          const truth = {
            '<': a < b,
            '<=': a <= b,
            '>': a > b,
            '>=': a >= b,
            '==': a === b,
            '!=': a !== b,
          }[e.op];
          return atom(truth ? literals.true : literals.false);
        }
        const a = parenthesize(this.value(e.a, ctx), PREC.cmp + 1);
        const b = parenthesize(this.value(e.b, ctx), PREC.cmp + 1);
        return { text: `${a.text} ${operators.cmp[e.op]} ${b.text}`, prec: PREC.cmp };
      }
      case 'and':
      case 'or': {
        // `&&` inside `||` is always parenthesised: WGSL requires it, and it reads better.
        const parts = e.args.map((a) => parenthesize(this.condition(a, ctx), PREC.and + 1).text);
        const op = e.kind === 'and' ? operators.and : operators.or;
        return { text: parts.join(` ${op} `), prec: e.kind === 'and' ? PREC.and : PREC.or };
      }
      case 'not':
        return {
          text: `${operators.not}${parenthesize(this.condition(e.arg, ctx), PREC.unary).text}`,
          prec: PREC.unary,
        };
      case 'num':
        return atom(e.value !== 0 ? literals.true : literals.false);
      default: {
        const x = parenthesize(this.value(e, ctx), PREC.cmp + 1);
        return {
          text: `${x.text} ${operators.cmp['!=']} ${this.floatLiteral(0, ctx).text}`,
          prec: PREC.cmp,
        };
      }
    }
  }

  /** A sum, folded left in canonical order (see the module comment). */
  protected sum(args: readonly Expr[], ctx: PrintContext): Code {
    const terms = [...args];
    // Positive non-constant terms read best first; only the first pair may move (commutativity).
    const key = (t: Expr): number => (isNegative(t) ? 2 : 0) + (t.kind === 'num' ? 1 : 0);
    const [t0, t1] = terms as [Expr, Expr];
    if (key(t1) < key(t0) && (terms.length === 2 || isNegative(t0))) {
      terms[0] = t1;
      terms[1] = t0;
    }
    let acc = this.value(terms[0]!, ctx);
    for (const t of terms.slice(1)) {
      acc = isNegative(t)
        ? this.binary(acc, '-', this.value(mul(num(-1), t), ctx), PREC.add)
        : this.binary(acc, '+', this.value(t, ctx), PREC.add);
    }
    return acc;
  }

  /** A product of `factors` (a `mul`'s args, or one power): `c * n1 * ... / (d1 * ...)`. */
  protected product(factors: readonly Expr[], ctx: PrintContext): Code {
    let coeff = 1;
    const numer: Expr[] = [];
    const denom: Pow[] = [];
    for (const f of factors) {
      if (f.kind === 'num') coeff = f.value;
      else if (f.kind === 'pow' && f.exp.kind === 'num' && DENOMINATOR_EXPONENTS.has(f.exp.value))
        denom.push(f);
      else numer.push(f);
    }
    const negative = coeff < 0;
    const magnitude = Math.abs(coeff);
    let acc: Code | undefined = magnitude === 1 ? undefined : this.floatLiteral(magnitude, ctx);
    for (const f of numer) {
      const v = this.value(f, ctx);
      acc = acc === undefined ? v : this.binary(acc, '*', v, PREC.mul);
    }
    if (denom.length > 0) {
      let d: Code | undefined;
      for (const p of denom) {
        const v = this.positivePower(p.base, -(p.exp as { value: number }).value, ctx);
        d = d === undefined ? v : this.binary(d, '*', v, PREC.mul);
      }
      acc = this.binary(acc ?? this.floatLiteral(1, ctx), '/', d!, PREC.mul);
    }
    acc ??= this.floatLiteral(1, ctx);
    return negative ? this.negate(acc) : acc;
  }

  /**
   * `base ^ exp` for exp in {0.5, 1, 2, 3, 4}: `sqrt(x)`, `x`, `x * x`, `x * x * x`, and
   * `x * x * (x * x)` (the square squared: two roundings, and what shader compilers turn
   * `x * x * x * x` into anyway).
   */
  protected positivePower(base: Expr, exp: number, ctx: PrintContext): Code {
    if (exp === 0.5) return this.call('sqrt', [base], ctx);
    if (exp === 1) return this.value(base, ctx);
    const b = parenthesize(this.value(base, ctx), PREC.mul + 1);
    const square = this.binary(b, '*', b, PREC.mul);
    if (exp === 2) return square;
    if (exp === 3) return this.binary(square, '*', b, PREC.mul);
    return this.binary(square, '*', square, PREC.mul);
  }

  protected power(e: Pow, ctx: PrintContext): Code {
    if (e.exp.kind === 'num') {
      const v = e.exp.value;
      if (v === 0) return this.floatLiteral(1, ctx);
      if (v === 1) return this.value(e.base, ctx);
      if (v === 0.5 || EXPANDED_EXPONENTS.has(v)) return this.positivePower(e.base, v, ctx);
      if (DENOMINATOR_EXPONENTS.has(v)) return this.product([e], ctx);
    }
    return this.call('pow', [e.base, e.exp], ctx);
  }

  /** A call through the function table; throws {@link UnsupportedFunctionError} when missing. */
  protected call(fn: Fn | 'pow', args: readonly Expr[], ctx: PrintContext): Code {
    const spec = this.tables.functions[fn];
    if (spec === undefined) throw new UnsupportedFunctionError(fn, this.target, this.precision);
    const printed = args.map((a) => this.value(a, ctx).text);
    this.use(spec.helper, ctx);
    const code = atom(
      spec.template ? spec.template(printed) : `${spec.name}(${printed.join(', ')})`,
    );
    return spec.exact ? code : this.rounded(code);
  }
}

// ---------------------------------------------------------------------------------------
// Preludes

/** A runtime helper of a target prelude: its source and the helpers it calls. */
export interface PreludeHelper {
  readonly deps: readonly string[];
  readonly code: string;
}

/**
 * `names` and their dependencies, in the table's order (which lists dependencies first).
 * Throws on a name the table lacks.
 */
export function resolveHelpers(
  table: Readonly<Record<string, PreludeHelper>>,
  names: Iterable<string>,
  target: string,
): string[] {
  const wanted = new Set<string>();
  const visit = (name: string): void => {
    const helper = table[name];
    if (helper === undefined) throw new Error(`unknown ${target} prelude helper '${name}'`);
    if (wanted.has(name)) return;
    wanted.add(name);
    helper.deps.forEach(visit);
  };
  for (const name of names) visit(name);
  return Object.keys(table).filter((n) => wanted.has(n));
}
