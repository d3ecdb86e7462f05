import fc from 'fast-check';
import wabt from 'wabt';
import { describe, expect, it } from 'vitest';
import { CudaPrinter } from '../src/codegen/cuda/printer.js';
import { cudaPrelude } from '../src/codegen/cuda/prelude.js';
import { JsPrinter } from '../src/codegen/js/printer.js';
import { jsPrelude } from '../src/codegen/js/prelude.js';
import {
  CLikePrinter,
  F32_MAX,
  Namer,
  UnsupportedFunctionError,
  shortestFloat32,
} from '../src/codegen/printer.js';
import {
  FOUR_LANES,
  HOST_IMPORT_DECLARATIONS,
  WASM_HELPERS,
  WatPrinter,
  hostMath,
} from '../src/codegen/wasm/printer.js';
import { VECTOR_HELPERS } from '../src/codegen/wasm/vector.js';
import { WgslPrinter } from '../src/codegen/wgsl/printer.js';
import { wgslPrelude } from '../src/codegen/wgsl/prelude.js';
import { applyFn, compare, evaluate, truthy } from '../src/symbolic/evaluate.js';
import * as S from '../src/symbolic/expr.js';
import { exprel32, exprel64 } from '../src/symbolic/exprel.js';

// ---------------------------------------------------------------------------------------
// Random expressions and the float32 emulation of the printed evaluation order

const SYMBOLS = ['a', 'b', 'c', 'x'] as const;
type Inputs = Readonly<Record<(typeof SYMBOLS)[number], number>>;

const CONSTANTS = [0.5, 1, 2, 3, -1, -2, 0.1, 1.5, -0.25, 7, 1e-3, 0.3];
const EXPONENTS = [2, 3, 4, -1, -2, -3, -4, 0.5, -0.5, 1.5, 0, 1];
const UNARY: readonly S.UnaryFn[] = S.UNARY_FNS;
const CMP_OPS: readonly S.CmpOp[] = ['<', '<=', '>', '>=', '==', '!='];

interface ExprOptions {
  /** Functions allowed in calls (default: all). */
  readonly unary?: readonly S.UnaryFn[];
  readonly binary?: readonly S.BinaryFn[];
  /** Exponents allowed in powers (default: integer, half-integer and general ones). */
  readonly exponents?: readonly number[];
  readonly maxDepth?: number;
}

/** Random expressions over SYMBOLS built through the canonicalising constructors. */
function exprArbitrary(options: ExprOptions = {}): fc.Arbitrary<S.Expr> {
  const unary = options.unary ?? UNARY;
  const binary = options.binary ?? S.BINARY_FNS;
  const exponents = options.exponents ?? EXPONENTS;
  const leaf = fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...SYMBOLS).map((s) => S.sym(s) as S.Expr) },
    { weight: 1, arbitrary: fc.constantFrom(...CONSTANTS).map((v) => S.num(v) as S.Expr) },
  );
  const { expr } = fc.letrec<{ expr: S.Expr; cond: S.Expr }>((tie) => {
    const e = tie('expr');
    const cond = tie('cond');
    const nodes: fc.Arbitrary<S.Expr>[] = [
      fc.tuple(e, e).map(([p, q]) => S.add(p, q)),
      fc.tuple(e, e, e).map(([p, q, r]) => S.add(p, q, r)),
      fc.tuple(e, e).map(([p, q]) => S.sub(p, q)),
      fc.tuple(e, e).map(([p, q]) => S.mul(p, q)),
      fc.tuple(fc.constantFrom(...CONSTANTS), e, e).map(([k, p, q]) => S.mul(S.num(k), p, q)),
      fc.tuple(e, e).map(([p, q]) => S.div(p, q)),
      e.map((p) => S.neg(p)),
      fc.tuple(e, fc.constantFrom(...exponents)).map(([p, k]) => S.pow(p, S.num(k))),
      fc.tuple(cond, e, e).map(([c, p, q]) => S.where(c, p, q) as S.Expr),
      cond,
    ];
    if (unary.length > 0) {
      nodes.push(fc.tuple(fc.constantFrom(...unary), e).map(([f, p]) => S.call(f, p) as S.Expr));
    }
    if (binary.length > 0) {
      nodes.push(
        fc.tuple(fc.constantFrom(...binary), e, e).map(([f, p, q]) => S.call(f, p, q) as S.Expr),
      );
    }
    return {
      expr: fc.oneof({ maxDepth: options.maxDepth ?? 4, depthSize: 'small' }, leaf, ...nodes),
      cond: fc.oneof(
        fc.tuple(fc.constantFrom(...CMP_OPS), e, e).map(([op, p, q]) => S.cmp(op, p, q) as S.Expr),
        fc.tuple(cond, cond).map(([p, q]) => S.and(p, q)),
        fc.tuple(cond, cond).map(([p, q]) => S.or(p, q)),
        cond.map((p) => S.not(p) as S.Expr),
        e,
      ),
    };
  });
  return expr;
}

/** Rounding to the emulated precision: Math.fround for float32, nothing for float64. */
type Round = (v: number) => number;
const f32: Round = Math.fround;
const f64: Round = (v) => v;

/** The JavaScript prelude's float32 exp, log and exprel (src/codegen/math32.ts). */
const [sfExp, sfLog, sfExprel32] = new Function(
  `${jsPrelude(['sf_exp', 'sf_log', 'sf_exprel32'])}\nreturn [sf_exp, sf_log, sf_exprel32];`,
)() as [(x: number) => number, (x: number) => number, (z: number) => number];

/** The math functions as the JavaScript printer of that precision spells them. */
function applyPrinted(fn: S.Fn, args: readonly number[], r: Round): number {
  const x = args[0]!;
  const y = args[1] ?? NaN;
  switch (fn) {
    case 'exprel':
      return r === f32 ? sfExprel32(x) : exprel64(x);
    case 'exp':
      return r === f32 ? sfExp(x) : Math.exp(x);
    case 'log':
      return r === f32 ? sfLog(x) : Math.log(x);
    case 'abs':
      return Math.abs(x);
    case 'floor':
      return Math.floor(x);
    case 'ceil':
      return Math.ceil(x);
    case 'min':
      return Math.min(x, y);
    case 'max':
      return Math.max(x, y);
    default:
      return r(Math[fn](x));
  }
}

/**
 * Value of `e` computed in the printers' documented order: sums folded left in canonical
 * order; products as coefficient * numerators / (denominators), sign applied last; x^2..4 as
 * x*x, x*x*x, (x*x)*(x*x), x^0.5 as sqrt, x^-n in the denominator; every + - * / and inexact
 * function rounded by `r` (Math.fround: the float32 emulation; exp, log and exprel are then
 * the prelude's float32 helpers). `env` must hold values of that precision.
 */
function emulate(e: S.Expr, env: Inputs, r: Round): number {
  const ev = (x: S.Expr): number => emulate(x, env, r);
  const posPow = (base: S.Expr, k: number): number => {
    if (k === 0.5) return r(Math.sqrt(ev(base)));
    const b = ev(base);
    if (k === 1) return b;
    const square = r(b * b);
    return k === 2 ? square : k === 3 ? r(square * b) : r(square * square);
  };
  const product = (factors: readonly S.Expr[]): number => {
    let coeff = 1;
    const numer: S.Expr[] = [];
    const denom: S.Pow[] = [];
    for (const x of factors) {
      if (x.kind === 'num') coeff = x.value;
      else if (
        x.kind === 'pow' &&
        x.exp.kind === 'num' &&
        [-1, -2, -3, -4, -0.5].includes(x.exp.value)
      )
        denom.push(x);
      else numer.push(x);
    }
    let acc: number | undefined = Math.abs(coeff) === 1 ? undefined : r(Math.abs(coeff));
    for (const x of numer) acc = acc === undefined ? ev(x) : r(acc * ev(x));
    if (denom.length > 0) {
      let d: number | undefined;
      for (const p of denom) {
        const v = posPow(p.base, -(p.exp as S.Num).value);
        d = d === undefined ? v : r(d * v);
      }
      acc = r((acc ?? 1) / d!);
    }
    acc ??= 1;
    return coeff < 0 ? -acc : acc;
  };
  const cond = (x: S.Expr): boolean => truthy(ev(x));
  switch (e.kind) {
    case 'num':
      return r(e.value);
    case 'sym':
      return env[e.name as keyof Inputs];
    case 'add': {
      // a - u and a + (-u) are the same IEEE operation, and swapping the first pair is exact.
      let acc = ev(e.args[0]!);
      for (const t of e.args.slice(1)) acc = r(acc + ev(t));
      return acc;
    }
    case 'mul':
      return product(e.args);
    case 'pow': {
      if (e.exp.kind === 'num') {
        const k = e.exp.value;
        if (k === 0) return 1;
        if (k === 1) return ev(e.base);
        if ([0.5, 2, 3, 4].includes(k)) return posPow(e.base, k);
        if ([-1, -2, -3, -4, -0.5].includes(k)) return product([e]);
      }
      return r(Math.pow(ev(e.base), ev(e.exp)));
    }
    case 'call':
      return applyPrinted(e.fn, e.args.map(ev), r);
    case 'where':
      return cond(e.cond) ? ev(e.then) : ev(e.else);
    case 'cmp':
      return compare(e.op, ev(e.a), ev(e.b));
    case 'and':
      return e.args.every(cond) ? 1 : 0;
    case 'or':
      return e.args.some(cond) ? 1 : 0;
    case 'not':
      return cond(e.arg) ? 0 : 1;
  }
}

/**
 * evaluate() with every arithmetic result and function value moved by 4 ulps (float64), up or
 * down at random: if that moves the result by more than 1e-13 relative, the expression is too
 * ill-conditioned at `env` (cancellation, tan near a pole) for printed code and evaluate() to
 * agree to 1e-12, since they round differently. Steps count as ill-conditioned outright: a
 * comparison of nearly equal operands, floor/ceil of a near-integer, a nearly-zero condition.
 */
function wellConditioned(e: S.Expr, env: Inputs, want: number, seed: number): boolean {
  let state = seed >>> 0 || 1;
  const coin = (): number => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return state & 1 ? 1 : -1;
  };
  const p = (v: number): number => v * (1 + coin() * 4 * 2 ** -53);
  let step = false;
  const near = (u: number, v: number): boolean =>
    Math.abs(u - v) <= 1e-9 * Math.max(Math.abs(u), Math.abs(v));
  const truth = (x: S.Expr): boolean => {
    const v = ev(x);
    if (
      x.kind !== 'cmp' &&
      x.kind !== 'and' &&
      x.kind !== 'or' &&
      x.kind !== 'not' &&
      Math.abs(v) < 1e-9
    )
      step = true;
    return truthy(v);
  };
  const ev = (x: S.Expr): number => {
    switch (x.kind) {
      case 'num':
        return x.value;
      case 'sym':
        return env[x.name as keyof Inputs];
      case 'add':
        return x.args.reduce((acc, a) => p(acc + ev(a)), 0);
      case 'mul':
        return x.args.reduce((acc, a) => p(acc * ev(a)), 1);
      case 'pow':
        return p(Math.pow(ev(x.base), ev(x.exp)));
      case 'call': {
        const args = x.args.map(ev);
        if ((x.fn === 'floor' || x.fn === 'ceil') && near(args[0]!, Math.round(args[0]!)))
          step = true;
        return p(applyFn(x.fn, args));
      }
      case 'where':
        return truth(x.cond) ? ev(x.then) : ev(x.else);
      case 'cmp': {
        const [u, v] = [ev(x.a), ev(x.b)];
        if (near(u, v)) step = true;
        return compare(x.op, u, v);
      }
      case 'and':
        return x.args.every(truth) ? 1 : 0;
      case 'or':
        return x.args.some(truth) ? 1 : 0;
      case 'not':
        return truth(x.arg) ? 0 : 1;
    }
  };
  for (let trial = 0; trial < 4; trial++) {
    const moved = ev(e);
    if (step) return false;
    if (!(same(moved, want) || Math.abs(moved - want) <= 1e-13 * Math.abs(want))) return false;
  }
  return true;
}

/** Input tuples for the symbols: float32 values in +-[1/8, 8] and a few special ones. */
function inputsArbitrary(): fc.Arbitrary<Inputs> {
  const value = fc
    .oneof(
      fc.double({ min: 0.125, max: 8, noNaN: true }),
      fc.double({ min: -8, max: -0.125, noNaN: true }),
      fc.constantFrom(0, 1, -1, 0.5, 2),
    )
    .map(Math.fround);
  return fc.record({ a: value, b: value, c: value, x: value });
}

// ---------------------------------------------------------------------------------------
// Printed forms

const { sym, num, add, mul, sub, div, pow, call, where, cmp, and, or, not, neg } = S;
const [V, V_rest, V_th, tau, dt, x, a, b, c, z] = [
  'V',
  'V_rest',
  'V_th',
  'tau',
  'dt',
  'x',
  'a',
  'b',
  'c',
  'z',
].map((n) => sym(n)) as [S.Sym, S.Sym, S.Sym, S.Sym, S.Sym, S.Sym, S.Sym, S.Sym, S.Sym, S.Sym];

/** Fresh printers for every target and precision. */
function printers(): CLikePrinter[] {
  return [
    new WgslPrinter(),
    new CudaPrinter(),
    new CudaPrinter({ precision: 'f64' }),
    new JsPrinter(),
    new JsPrinter({ precision: 'f32' }),
  ];
}

/** `e` printed by every target, one `target/precision: code` line each. */
function everywhere(e: S.Expr): string {
  return printers()
    .map((p) => `${p.target}/${p.precision}: ${p.printExpr(e)}`)
    .join('\n');
}

describe('printed forms', () => {
  it('-(V - V_rest)/tau', () => {
    expect(everywhere(div(neg(sub(V, V_rest)), tau))).toMatchInlineSnapshot(`
      "wgsl/f32: -(V - V_rest) / tau
      cuda/f32: -(V - V_rest) / tau
      cuda/f64: -(V - V_rest) / tau
      js/f64: -(V - V_rest) / tau
      js/f32: -Math.fround(Math.fround(V - V_rest) / tau)"
    `);
  });

  it('a*x^2 + b', () => {
    expect(everywhere(add(mul(a, pow(x, num(2))), b))).toMatchInlineSnapshot(`
      "wgsl/f32: b + a * (x * x)
      cuda/f32: b + a * (x * x)
      cuda/f64: b + a * (x * x)
      js/f64: b + a * (x * x)
      js/f32: Math.fround(b + Math.fround(a * Math.fround(x * x)))"
    `);
  });

  it('exp(-dt/tau), log(x): float32 code calls the prelude helpers, float64 the native functions', () => {
    expect(everywhere(call('exp', div(neg(dt), tau)))).toMatchInlineSnapshot(`
      "wgsl/f32: sf_exp(-dt / tau)
      cuda/f32: sf_exp(-dt / tau)
      cuda/f64: exp(-dt / tau)
      js/f64: Math.exp(-dt / tau)
      js/f32: sf_exp(-Math.fround(dt / tau))"
    `);
    expect(everywhere(call('log', x))).toMatchInlineSnapshot(`
      "wgsl/f32: sf_log(x)
      cuda/f32: sf_log(x)
      cuda/f64: log(x)
      js/f64: Math.log(x)
      js/f32: sf_log(x)"
    `);
    // The other functions stay the target's own.
    expect(
      everywhere(
        add(
          call('sin', x),
          call('tanh', a),
          call('log10', b),
          call('cosh', c),
          pow(x, a),
          call('sqrt', z),
        ),
      ),
    ).toMatchInlineSnapshot(`
      "wgsl/f32: pow(x, a) + cosh(c) + sf_log10(b) + sin(x) + sqrt(z) + tanh(a)
      cuda/f32: powf(x, a) + coshf(c) + log10f(b) + sinf(x) + sqrtf(z) + tanhf(a)
      cuda/f64: pow(x, a) + cosh(c) + log10(b) + sin(x) + sqrt(z) + tanh(a)
      js/f64: Math.pow(x, a) + Math.cosh(c) + Math.log10(b) + Math.sin(x) + Math.sqrt(z) + Math.tanh(a)
      js/f32: Math.fround(Math.fround(Math.fround(Math.fround(Math.fround(Math.fround(Math.pow(x, a)) + Math.fround(Math.cosh(c))) + Math.fround(Math.log10(b))) + Math.fround(Math.sin(x))) + Math.fround(Math.sqrt(z))) + Math.fround(Math.tanh(a)))"
    `);
    for (const p of printers()) {
      const helpers = new Set<string>();
      p.printExpr(add(call('exp', x), call('log', a)), { helpers });
      expect([...helpers].sort()).toEqual(p.precision === 'f32' ? ['sf_exp', 'sf_log'] : []);
    }
  });

  it('where(V >= V_th, a, b)', () => {
    expect(everywhere(where(cmp('>=', V, V_th), a, b))).toMatchInlineSnapshot(`
      "wgsl/f32: select(b, a, V >= V_th)
      cuda/f32: (V >= V_th ? a : b)
      cuda/f64: (V >= V_th ? a : b)
      js/f64: (V >= V_th ? a : b)
      js/f32: (V >= V_th ? a : b)"
    `);
  });

  it('exprel(z)', () => {
    expect(everywhere(call('exprel', z))).toMatchInlineSnapshot(`
      "wgsl/f32: sf_exprel(z)
      cuda/f32: sf_exprel(z)
      cuda/f64: sf_exprel(z)
      js/f64: sf_exprel(z)
      js/f32: sf_exprel32(z)"
    `);
  });

  it('x^-1, x^-2, x^-0.5, x^0.5, x^3, x^1.5', () => {
    expect(everywhere(pow(x, num(-1)))).toMatchInlineSnapshot(`
      "wgsl/f32: 1.0f / x
      cuda/f32: 1.0f / x
      cuda/f64: 1.0 / x
      js/f64: 1 / x
      js/f32: Math.fround(1 / x)"
    `);
    const powers = [-2, -0.5, 0.5, 3, 1.5].map((k) => pow(x, num(k)));
    expect(powers.map((p) => new CudaPrinter().printExpr(p))).toMatchInlineSnapshot(`
      [
        "1.0f / (x * x)",
        "1.0f / sqrtf(x)",
        "sqrtf(x)",
        "x * x * x",
        "powf(x, 1.5f)",
      ]
    `);
  });

  it('nested precedence', () => {
    expect(everywhere(div(add(a, b), mul(c, sub(x, num(1)))))).toMatchInlineSnapshot(`
      "wgsl/f32: (a + b) / (c * (x - 1.0f))
      cuda/f32: (a + b) / (c * (x - 1.0f))
      cuda/f64: (a + b) / (c * (x - 1.0))
      js/f64: (a + b) / (c * (x - 1))
      js/f32: Math.fround(Math.fround(a + b) / Math.fround(c * Math.fround(x - 1)))"
    `);
    expect(everywhere(sub(a, sub(b, mul(num(2), x))))).toMatchInlineSnapshot(`
      "wgsl/f32: a - (b - 2.0f * x)
      cuda/f32: a - (b - 2.0f * x)
      cuda/f64: a - (b - 2.0 * x)
      js/f64: a - (b - 2 * x)
      js/f32: Math.fround(a - Math.fround(b - Math.fround(2 * x)))"
    `);
    expect(everywhere(mul(num(-0.5), pow(add(a, b), num(2)), c))).toMatchInlineSnapshot(`
      "wgsl/f32: -0.5f * c * ((a + b) * (a + b))
      cuda/f32: -0.5f * c * ((a + b) * (a + b))
      cuda/f64: -0.5 * c * ((a + b) * (a + b))
      js/f64: -0.5 * c * ((a + b) * (a + b))
      js/f32: -Math.fround(Math.fround(0.5 * c) * Math.fround(Math.fround(a + b) * Math.fround(a + b)))"
    `);
    expect(everywhere(pow(neg(x), num(3)))).toMatchInlineSnapshot(`
      "wgsl/f32: (-x) * (-x) * (-x)
      cuda/f32: (-x) * (-x) * (-x)
      cuda/f64: (-x) * (-x) * (-x)
      js/f64: (-x) * (-x) * (-x)
      js/f32: Math.fround(Math.fround((-x) * (-x)) * (-x))"
    `);
    expect(everywhere(pow(add(a, b), add(c, x)))).toMatchInlineSnapshot(`
      "wgsl/f32: pow(a + b, c + x)
      cuda/f32: powf(a + b, c + x)
      cuda/f64: pow(a + b, c + x)
      js/f64: Math.pow(a + b, c + x)
      js/f32: Math.fround(Math.pow(Math.fround(a + b), Math.fround(c + x)))"
    `);
  });

  it('conditions: comparisons, and/or/not, conditions as numbers, numbers as conditions', () => {
    const cond = or(and(cmp('<', a, b), cmp('>', x, num(0))), not(cmp('==', V, num(1))));
    expect(everywhere(where(cond, a, b))).toMatchInlineSnapshot(`
      "wgsl/f32: select(b, a, !(V == 1.0f) || (a < b && x > 0.0f))
      cuda/f32: (!(V == 1.0f) || (a < b && x > 0.0f) ? a : b)
      cuda/f64: (!(V == 1.0) || (a < b && x > 0.0) ? a : b)
      js/f64: (!(V === 1) || (a < b && x > 0) ? a : b)
      js/f32: (!(V === 1) || (a < b && x > 0) ? a : b)"
    `);
    expect(everywhere(mul(num(3), cmp('<', a, b)))).toMatchInlineSnapshot(`
      "wgsl/f32: 3.0f * f32(a < b)
      cuda/f32: 3.0f * (a < b ? 1.0f : 0.0f)
      cuda/f64: 3.0 * (a < b ? 1.0 : 0.0)
      js/f64: 3 * (a < b ? 1 : 0)
      js/f32: Math.fround(3 * (a < b ? 1 : 0))"
    `);
    expect(everywhere(where(sub(x, a), a, b))).toMatchInlineSnapshot(`
      "wgsl/f32: select(b, a, x - a != 0.0f)
      cuda/f32: (x - a != 0.0f ? a : b)
      cuda/f64: (x - a != 0.0 ? a : b)
      js/f64: (x - a !== 0 ? a : b)
      js/f32: (Math.fround(x - a) !== 0 ? a : b)"
    `);
    // Constant comparisons fold (at the printer's precision: 0.1 == float32(0.1) in f32).
    expect(new WgslPrinter().printCondition(cmp('==', num(0.1), num(Math.fround(0.1))))).toBe(
      'true',
    );
    expect(
      new CudaPrinter({ precision: 'f64' }).printCondition(
        cmp('==', num(0.1), num(Math.fround(0.1))),
      ),
    ).toBe('false');
  });

  it('reserved words and odd characters in symbol names', () => {
    const e = add(
      sym('var'),
      sym('let'),
      sym('float'),
      sym('post.V'),
      sym('post_V'),
      sym('V@next'),
      sym('sf_x'),
    );
    expect(everywhere(e)).toMatchInlineSnapshot(`
      "wgsl/f32: V_next + float + let_ + post_V + post_V_2 + v_sf_x + var_
      cuda/f32: V_next + float_ + let + post_V + post_V_2 + v_sf_x + var
      cuda/f64: V_next + float_ + let + post_V + post_V_2 + v_sf_x + var
      js/f64: V_next + float + let_ + post_V + post_V_2 + v_sf_x + var_
      js/f32: Math.fround(Math.fround(Math.fround(Math.fround(Math.fround(Math.fround(V_next + float) + let_) + post_V) + post_V_2) + v_sf_x) + var_)"
    `);
  });

  it('symbols can be mapped to any primary expression', () => {
    const p = new WgslPrinter();
    const symbols = new Map([['V', 's[i].V']]);
    expect(p.printExpr(sub(V, V_rest), { symbols })).toBe('s[i].V - V_rest');
    expect(p.printExpr(sub(V, V_rest), { symbols: (n) => `p_${n}` })).toBe('p_V - p_V_rest');
  });
});

describe('literals', () => {
  it('are the shortest decimals that read back exactly, in target syntax', () => {
    const values = [1.5, -0.25, 2, 0.1, 1e-8, 1e21, 1 / 3, 100, F32_MAX, 2 ** -149, -7];
    const show = (p: CLikePrinter): string => values.map((v) => p.literal(v)).join(' ');
    expect(printers().map(show)).toMatchInlineSnapshot(`
      [
        "1.5f -0.25f 2.0f 0.1f 1e-8f 1e21f 0.33333334f 100.0f 3.4028234e38f 1e-45f -7.0f",
        "1.5f -0.25f 2.0f 0.1f 1e-8f 1e21f 0.33333334f 100.0f 3.4028234e38f 1e-45f -7.0f",
        "1.5 -0.25 2.0 0.1 1e-8 1e21 0.3333333333333333 100.0 3.4028234663852886e38 1.401298464324817e-45 -7.0",
        "1.5 -0.25 2 0.1 1e-8 1e+21 0.3333333333333333 100 3.4028234663852886e+38 1.401298464324817e-45 -7",
        "1.5 -0.25 2 Math.fround(0.1) Math.fround(1e-8) Math.fround(1e+21) Math.fround(0.33333334) 100 Math.fround(3.4028234e+38) Math.fround(1e-45) -7",
      ]
    `);
  });

  it('non-finite values', () => {
    const values = [Infinity, -Infinity, NaN];
    expect(printers().map((p) => values.map((v) => p.literal(v)).join(' '))).toMatchInlineSnapshot(`
      [
        "sf_inf() -sf_inf() sf_nan()",
        "INFINITY -INFINITY NAN",
        "HUGE_VAL -HUGE_VAL static_cast<double>(NAN)",
        "Infinity -Infinity NaN",
        "Infinity -Infinity NaN",
      ]
    `);
    const p = new WgslPrinter();
    p.printExpr(add(x, num(Infinity)));
    expect([...p.helpers]).toEqual(['sf_inf']);
  });

  it('integer and boolean literals', () => {
    const show = (p: CLikePrinter): string =>
      [
        p.literal(3, 'u32'),
        p.literal(-3, 'i32'),
        p.literal(-(2 ** 31), 'i32'),
        p.literal(1, 'bool'),
      ].join(' ');
    expect(printers().map(show)).toMatchInlineSnapshot(`
      [
        "3u -3i (-2147483647i - 1i) true",
        "3u -3 (-2147483647 - 1) true",
        "3u -3 (-2147483647 - 1) true",
        "3 -3 (-2147483647 - 1) true",
        "3 -3 (-2147483647 - 1) true",
      ]
    `);
    expect(() => new WgslPrinter().literal(-1, 'u32')).toThrow(RangeError);
    expect(() => new WgslPrinter().literal(0.5, 'i32')).toThrow(RangeError);
  });

  it('shortestFloat32 reads back to the same float32, inside its rounding interval, at most 9 digits', () => {
    expect(shortestFloat32(Math.fround(0.1))).toBe(0.1);
    expect(shortestFloat32(Math.fround(1 / 3))).toBe(0.33333334);
    expect(shortestFloat32(F32_MAX)).toBe(3.4028234e38); // below F32_MAX: WGSL accepts it
    expect(shortestFloat32(2 ** -149)).toBe(1e-45);
    const bits = new Uint32Array(1);
    const view = new Float32Array(bits.buffer);
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 0x7f7fffff }), (pattern) => {
        bits[0] = pattern;
        const v = view[0]!;
        const d = shortestFloat32(v);
        expect(Math.fround(d)).toBe(v);
        expect(d).toBeLessThanOrEqual(F32_MAX);
        const digits = d.toExponential().split('e')[0]!.replace('.', '');
        expect(digits.length).toBeLessThanOrEqual(9);
        // Never on a midpoint between v and a neighbour (it would read back differently in C).
        const below = pattern === 1 ? 0 : ((bits[0] = pattern - 1), view[0]!);
        const above = ((bits[0] = pattern + 1), view[0]!);
        expect([(below + v) / 2, (v + above) / 2]).not.toContain(d);
        // No shorter decimal reads back: with one digit fewer, the nearest decimals on either
        // side of v round to another float32 (or sit on a midpoint).
        if (digits.length > 1) {
          const p = digits.length - 1;
          const [m, e] = v.toExponential(p - 1).split('e') as [string, string];
          const base = BigInt(m.replace('.', ''));
          for (const cand of [base - 1n, base, base + 1n]) {
            const shorter = Number(`${cand}e${Number(e) - (p - 1)}`);
            const readsBack =
              Math.fround(shorter) === v &&
              shorter !== (below + v) / 2 &&
              shorter !== (v + above) / 2;
            expect(readsBack).toBe(false);
          }
        }
      }),
      { seed: 11, numRuns: 3000 },
    );
  });
});

describe('types and names', () => {
  it('scalar type names per target', () => {
    const show = (p: CLikePrinter): string =>
      (['float', 'u32', 'i32', 'bool'] as const).map((t) => p.typeName(t)).join(' ');
    expect(printers().map(show)).toMatchInlineSnapshot(`
      [
        "f32 u32 i32 bool",
        "float unsigned int int bool",
        "double unsigned int int bool",
        "number number number boolean",
        "number number number boolean",
      ]
    `);
    expect(() => new WgslPrinter().typeName('f64')).toThrow(/no f64/);
    expect(() => new WgslPrinter({ precision: 'f64' })).toThrow(/no f64/);
  });

  it('the namer is stable, injective and avoids reserved words and runtime prefixes', () => {
    const namer = new Namer(['var', 'float']);
    expect(namer.identifier('post.V')).toBe('post_V');
    expect(namer.identifier('post_V')).toBe('post_V_2');
    expect(namer.identifier('post.V')).toBe('post_V');
    expect(namer.identifier('var')).toBe('var_');
    expect(namer.identifier('var_')).toBe('var_2');
    expect(namer.identifier('sf_philox')).toBe('v_sf_philox');
    expect(namer.identifier('@step')).toBe('step');
    expect(namer.identifier('V@next')).toBe('V_next');
    expect(namer.identifier('2x')).toBe('v2x');
    expect(namer.identifier('τ')).toBe('v');
    expect(namer.identifier('a..b')).toBe('a_b');
    namer.reserve('i', 'state');
    expect(namer.identifier('i')).toBe('i_2');
    expect(() => namer.reserve('post_V')).toThrow(/taken/);
    expect(() => namer.reserve('float')).toThrow(/reserved/);
    expect(namer.fresh('tmp')).toBe('tmp');
    expect(namer.fresh('tmp')).toBe('tmp_2');
  });

  it('target names of functions and types are reserved too', () => {
    expect(new WgslPrinter().printExpr(add(sym('exp'), sym('select'), sym('f32')))).toBe(
      'exp_ + f32_ + select_',
    );
    expect(new CudaPrinter().printExpr(add(sym('expf'), sym('threadIdx')))).toBe(
      'expf_ + threadIdx_',
    );
    expect(new JsPrinter().printExpr(add(sym('Math'), sym('NaN')))).toBe('Math_ + NaN_');
  });
});

describe('unsupported functions and helpers', () => {
  /** A bare target: only exp, so everything else is unsupported. */
  class TinyPrinter extends CLikePrinter {
    constructor() {
      super({
        target: 'tiny',
        precision: 'f32',
        types: { f32: 'float' },
        functions: { exp: { name: 'exp' } },
        operators: {
          and: '&&',
          or: '||',
          not: '!',
          cmp: { '<': '<', '<=': '<=', '>': '>', '>=': '>=', '==': '==', '!=': '!=' },
        },
        where: 'ternary',
        boolToFloat: (s) => `float(${s})`,
        literals: {
          floatSuffix: 'f',
          floatNeedsPoint: true,
          u32Suffix: 'u',
          i32Suffix: '',
          true: 'true',
          false: 'false',
          infinity: { text: 'INF' },
          nan: { text: 'NAN' },
        },
        reserved: [],
      });
    }
    prelude(): string {
      return '';
    }
  }

  it('throw UnsupportedFunctionError carrying the function name', () => {
    const p = new TinyPrinter();
    expect(p.printExpr(call('exp', x))).toBe('exp(x)');
    let caught: unknown;
    try {
      p.printExpr(add(x, call('tanh', x)));
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(UnsupportedFunctionError);
    expect(caught).toMatchObject({ fn: 'tanh', target: 'tiny', precision: 'f32' });
    expect(String(caught)).toMatch(/function 'tanh' is not supported by the tiny \(f32\) backend/);
    // A general power needs the table's `pow`.
    expect(() => p.printExpr(pow(x, num(2.5)))).toThrow(UnsupportedFunctionError);
    expect(p.printExpr(pow(x, num(2)))).toBe('x * x');
  });

  it('a function unknown to the tables (added to the symbolic engine later) throws too', () => {
    const erf = { kind: 'call', id: -1, fn: 'erf', args: [x] } as unknown as S.Expr;
    for (const p of printers()) {
      expect(() => p.printExpr(erf)).toThrow(
        expect.objectContaining({ fn: 'erf', target: p.target }),
      );
    }
  });

  it('every symbolic function prints on every real target', () => {
    for (const p of printers()) {
      for (const fn of S.UNARY_FNS) expect(() => p.printExpr(call(fn, x))).not.toThrow();
      for (const fn of S.BINARY_FNS) expect(() => p.printExpr(call(fn, x, a))).not.toThrow();
    }
  });

  it('records the helpers printed code calls, and the preludes define them', () => {
    for (const p of printers()) {
      const helpers = new Set<string>();
      p.printExpr(add(call('exprel', x), call('log10', a)), { helpers });
      expect([...helpers]).toEqual([...p.helpers]);
      const prelude = p.prelude();
      for (const h of helpers) expect(prelude).toContain(h);
    }
    expect([...new WgslPrinter().helpers]).toEqual([]);
    expect(wgslPrelude(['sf_exprel'])).toContain('fn sf_log(');
    expect(wgslPrelude(['sf_exprel'])).toContain('fn sf_exp(');
    expect(wgslPrelude([])).toBe('');
    expect(() => cudaPrelude(['sf_nope'])).toThrow(/unknown CUDA prelude helper 'sf_nope'/);
  });
});

// ---------------------------------------------------------------------------------------
// Numbers

/** Compiles printed JavaScript over the symbols, with the whole prelude. */
function compileJs(code: string): (env: Inputs) => number {
  const fn = new Function(...SYMBOLS, `${jsPrelude()}\nreturn ${code};`) as (
    ...args: number[]
  ) => number;
  return (env) => fn(...SYMBOLS.map((s) => env[s]));
}

const assembler = await wabt();

/** Assembles a printed WAT expression over the symbols into a function (with the module's helpers). */
function compileWat(code: string): (env: Inputs) => number {
  const params = SYMBOLS.map((s) => `(param $${s} f32)`).join(' ');
  const text = `(module ${HOST_IMPORT_DECLARATIONS}\n${WASM_HELPERS}\n(func (export "f") ${params} (result f32) ${code}))`;
  const parsed = assembler.parseWat('expression.wat', text);
  const binary = new Uint8Array(parsed.toBinary({}).buffer);
  parsed.destroy();
  const instance = new WebAssembly.Instance(new WebAssembly.Module(binary), { math: hostMath() });
  const f = instance.exports['f'] as (...args: number[]) => number;
  return (env) => f(...SYMBOLS.map((s) => env[s]));
}

/**
 * A four-lane printed expression (WatPrinter(FOUR_LANES)) as a function of four inputs, one
 * per lane: the symbols' lanes are read from memory, the result's lanes written back.
 */
function compileWatFourLanes(code: string): (envs: readonly Inputs[]) => number[] {
  const locals = SYMBOLS.map((s) => `(local $${s} v128)`).join(' ');
  const loads = SYMBOLS.map((s, j) => `(local.set $${s} (v128.load (i32.const ${16 * j})))`);
  const text = `(module ${HOST_IMPORT_DECLARATIONS}\n(memory (export "memory") 1)\n${WASM_HELPERS}\n${VECTOR_HELPERS}
    (func (export "f") ${locals} ${loads.join(' ')} (v128.store (i32.const 256) ${code})))`;
  const parsed = assembler.parseWat('expression-x4.wat', text);
  const binary = new Uint8Array(parsed.toBinary({}).buffer);
  parsed.destroy();
  const instance = new WebAssembly.Instance(new WebAssembly.Module(binary), { math: hostMath() });
  const memory = new Float32Array((instance.exports['memory'] as WebAssembly.Memory).buffer);
  const f = instance.exports['f'] as () => void;
  return (envs) => {
    SYMBOLS.forEach((s, j) => envs.forEach((env, lane) => (memory[4 * j + lane] = env[s])));
    f();
    return Array.from(memory.subarray(64, 68));
  };
}

/**
 * `e` with x^0.5 as sqrt(x) and x^-0.5 as 1/sqrt(x), the printers' spelling: they differ from
 * Math.pow at -0 and -infinity only (Math.pow(-Infinity, 0.5) is +Infinity, sqrt gives NaN).
 */
function sqrtForHalfPowers(e: S.Expr): S.Expr {
  const r = S.mapChildren(e, sqrtForHalfPowers);
  if (r.kind !== 'pow' || r.exp.kind !== 'num' || Math.abs(r.exp.value) !== 0.5) return r;
  const root = S.call('sqrt', r.base);
  return r.exp.value > 0 ? root : S.pow(root, S.num(-1));
}

/** Same number, NaN equal to NaN (signed zeros equal). */
const same = (p: number, q: number): boolean => p === q || (Number.isNaN(p) && Number.isNaN(q));

describe('JavaScript printers compute what they promise', () => {
  it('float64: equals evaluate() to 1e-12 relative where well-conditioned, and the printed order exactly', () => {
    let checked = 0;
    let total = 0;
    fc.assert(
      fc.property(
        exprArbitrary(),
        fc.array(inputsArbitrary(), { minLength: 8, maxLength: 8 }),
        (e, envs) => {
          const code = new JsPrinter().printExpr(e);
          const run = compileJs(code);
          const reference = sqrtForHalfPowers(e);
          envs.forEach((env, i) => {
            const got = run(env);
            const order = emulate(e, env, f64);
            if (!same(got, order))
              throw new Error(`${code} at ${JSON.stringify(env)}: ${got}, printed order ${order}`);
            const want = evaluate(reference, env);
            total++;
            if (!wellConditioned(reference, env, want, e.id * 8 + i)) return;
            checked++;
            const ok =
              same(got, want) ||
              Math.abs(got - want) <= 1e-12 * Math.max(Math.abs(want), Math.abs(got));
            if (!ok)
              throw new Error(`${code} at ${JSON.stringify(env)}: ${got}, evaluate() ${want}`);
          });
        },
      ),
      { seed: 20240611, numRuns: 1500 },
    );
    // Most cases are well-conditioned: the tolerance check is not vacuous.
    expect(checked).toBeGreaterThan(0.8 * total);
  });

  it('float32: equals a float32 emulation (Math.fround after every operation) exactly', () => {
    fc.assert(
      fc.property(
        exprArbitrary(),
        fc.array(inputsArbitrary(), { minLength: 8, maxLength: 8 }),
        (e, envs) => {
          const code = new JsPrinter({ precision: 'f32' }).printExpr(e);
          const run = compileJs(code);
          for (const env of envs) {
            const got = run(env);
            const want = emulate(e, env, f32);
            if (!same(got, want))
              throw new Error(`${code} at ${JSON.stringify(env)}: ${got} vs ${want}`);
            // Every printed value is a float32.
            if (!same(Math.fround(got), got)) throw new Error(`${code} is not float32: ${got}`);
          }
        },
      ),
      { seed: 20240612, numRuns: 1500 },
    );
  });

  it('WebAssembly (float32 instructions): the JavaScript float32 printer bit for bit', () => {
    fc.assert(
      fc.property(
        exprArbitrary(),
        fc.array(inputsArbitrary(), { minLength: 8, maxLength: 8 }),
        (e, envs) => {
          const js = compileJs(new JsPrinter({ precision: 'f32' }).printExpr(e));
          const code = new WatPrinter().printExpr(e);
          const wasm = compileWat(code);
          for (const env of envs) {
            const got = wasm(env);
            const want = js(env);
            // Bit for bit: signed zeros differ here; any NaN equals any NaN.
            if (!(Object.is(got, want) || (Number.isNaN(got) && Number.isNaN(want))))
              throw new Error(`${code} at ${JSON.stringify(env)}: ${got}, JavaScript ${want}`);
          }
        },
      ),
      { seed: 20261123, numRuns: 400 },
    );
  });

  it('WebAssembly on four lanes (f32x4): each lane is the one-lane code bit for bit', () => {
    fc.assert(
      fc.property(
        exprArbitrary(),
        fc.array(inputsArbitrary(), { minLength: 4, maxLength: 4 }),
        (e, envs) => {
          const one = compileWat(new WatPrinter().printExpr(e));
          const code = new WatPrinter(FOUR_LANES).printExpr(e);
          const lanes = compileWatFourLanes(code)(envs);
          envs.forEach((env, lane) => {
            const got = lanes[lane]!;
            const want = one(env);
            if (!(Object.is(got, want) || (Number.isNaN(got) && Number.isNaN(want))))
              throw new Error(
                `${code} lane ${lane} at ${JSON.stringify(env)}: ${got}, one lane ${want}`,
              );
          });
        },
      ),
      { seed: 20261124, numRuns: 300 },
    );
  });

  it("the JavaScript exprel helpers: exprel64 bit for bit, and exprel32's formula with sf_exp / sf_log", () => {
    const helpers = new Function(
      `${jsPrelude(['sf_exprel', 'sf_exprel32'])}\nreturn [sf_exprel, sf_exprel32];`,
    )() as [(z: number) => number, (z: number) => number];
    const [sf64, sf32] = helpers;
    /** src/symbolic/exprel.ts's float32 formula, with the prelude's exp and log. */
    const kahan = (z: number): number => {
      const u = sfExp(z);
      if (u === 1) return 1;
      const um1 = Math.fround(u - 1);
      if (um1 === -1) return Math.fround(-1 / z);
      if (u === Infinity) return Infinity;
      return Math.fround(um1 / sfLog(u));
    };
    const special = [
      0,
      -0,
      1e-30,
      -1e-30,
      2 ** -25,
      -(2 ** -25),
      1e-8,
      17.3,
      -17.3,
      -20,
      88.7,
      89,
      100,
      -100,
      Infinity,
      -Infinity,
      NaN,
    ];
    const zs = [
      ...special,
      ...fc.sample(fc.double({ min: -120, max: 120, noNaN: true }), { seed: 5, numRuns: 5000 }),
    ];
    let worst = 0;
    for (const zz of zs) {
      const z32 = Math.fround(zz);
      expect(same(sf64(zz), exprel64(zz)), `exprel64(${zz})`).toBe(true);
      expect(same(sf32(z32), kahan(z32)), `sf_exprel32(${z32})`).toBe(true);
      // exprel32 (Math.exp and Math.log, correctly rounded) is a few ulps away at most.
      const want = exprel32(z32);
      if (Number.isFinite(want)) worst = Math.max(worst, ulpDistance(sf32(z32), want));
      else expect(same(sf32(z32), want), `exprel32(${z32})`).toBe(true);
    }
    expect(worst).toBeLessThanOrEqual(4);
  });
});

// ---------------------------------------------------------------------------------------
// Float32 exp and log

/** Float32 bits of `x`. */
function bits32(x: number): number {
  const f = new Float32Array([x]);
  return new Uint32Array(f.buffer)[0]!;
}

/** The float32 with bits `b`. */
function fromBits32(b: number): number {
  const u = new Uint32Array([b >>> 0]);
  return new Float32Array(u.buffer)[0]!;
}

/**
 * Distance in float32 steps between two float32 values of the same sign or zero (infinity
 * counts as the step after the largest float, so test finiteness separately).
 */
function ulpDistance(p: number, q: number): number {
  if (same(p, q)) return 0;
  const ordinal = (v: number): number => {
    const b = bits32(v);
    return b >= 0x80000000 ? -(b - 0x80000000) : b;
  };
  return Math.abs(ordinal(p) - ordinal(q));
}

describe('float32 exp and log (sf_exp, sf_log: src/codegen/math32.ts)', () => {
  /** Every `stride`-th float32 bit pattern from `from` to `to` (inclusive, same sign). */
  const floats = (from: number, to: number, stride: number): number[] => {
    const out: number[] = [];
    for (let b = from; b <= to; b += stride) out.push(fromBits32(b));
    return out;
  };

  /**
   * Worst distance from the correctly rounded float32 of `ref`, the share exactly right, and
   * the inputs where the result is not a float32 or disagrees about overflow, underflow to 0
   * or NaN (none expected).
   */
  function accuracy(
    fn: (x: number) => number,
    ref: (x: number) => number,
    xs: readonly number[],
  ): { worst: number; worstAt: number; exact: number; wrong: string[] } {
    let worst = 0;
    let worstAt = NaN;
    let exact = 0;
    const wrong: string[] = [];
    for (const x of xs) {
      const have = fn(x);
      const want = Math.fround(ref(x));
      const special = !Number.isFinite(want) || want === 0 || !Number.isFinite(have) || have === 0;
      if (!same(Math.fround(have), have) || (special && !same(have, want))) {
        if (wrong.length < 8) wrong.push(`at ${x}: ${have}, correctly rounded ${want}`);
        continue;
      }
      const d = ulpDistance(have, want);
      if (d === 0) exact++;
      if (d > worst) [worst, worstAt] = [d, x];
    }
    return { worst, worstAt, exact: exact / xs.length, wrong };
  }

  it('sf_exp: within 1 ulp of the correctly rounded value over [-104, 89], subnormal results included', () => {
    // ~1.1 million inputs: a dense sample of both signs, then every float near the edges.
    const xs = [
      ...floats(0, 0x42b20000, 2039),
      ...floats(0x80000000, 0xc2d00000, 2039),
      ...floats(0x42b17000, 0x42b17400, 1), // around the overflow threshold, 88.7228
      ...floats(0xc2ae0000, 0xc2ae0400, 1), // exp(x) becomes subnormal below -87.34
      ...floats(0xc2cff000, 0xc2cff400, 1), // around the underflow threshold, -103.972
    ];
    const { worst, worstAt, exact, wrong } = accuracy(sfExp, Math.exp, xs);
    expect(wrong).toEqual([]);
    console.info(
      `sf_exp: ${xs.length} inputs, worst ${worst} ulp (at ${worstAt}), ${(100 * exact).toFixed(2)} % correctly rounded`,
    );
    expect(worst).toBeLessThanOrEqual(1);
    expect(exact).toBeGreaterThan(0.99);
  });

  it('sf_exp: special values and the overflow and underflow edges', () => {
    const cases: [number, number][] = [
      [0, 1],
      [-0, 1],
      [1, Math.fround(Math.E)],
      [Infinity, Infinity],
      [-Infinity, 0],
      [NaN, NaN],
      [1000, Infinity],
      [-1000, 0],
      [fromBits32(0x42b17217), fromBits32(0x7f7fff84)], // 88.72283: the last finite result
      [fromBits32(0x42b17218), Infinity], // 88.72284
      [fromBits32(0xc2cff1b4), 2 ** -149], // -103.97207: the smallest subnormal
      [fromBits32(0xc2cff1b5), 0], // -103.97208
    ];
    for (const [x, want] of cases) expect(sfExp(x), `sf_exp(${x})`).toBe(want);
    expect(Math.fround(Math.exp(fromBits32(0x42b17217)))).toBe(fromBits32(0x7f7fff84));
  });

  it('sf_log: within 1 ulp of the correctly rounded value for every positive float32, subnormals included', () => {
    const xs = [
      ...floats(1, 0x7f7fffff, 2039),
      ...floats(1, 0x400, 1), // the smallest subnormals
      ...floats(0x3f7ffc00, 0x3f800400, 1), // around 1, where the result is tiny
      ...floats(0x7f7ffc00, 0x7f7fffff, 1), // up to the largest float
    ];
    const { worst, worstAt, exact, wrong } = accuracy(sfLog, Math.log, xs);
    expect(wrong).toEqual([]);
    console.info(
      `sf_log: ${xs.length} inputs, worst ${worst} ulp (at ${worstAt}), ${(100 * exact).toFixed(2)} % correctly rounded`,
    );
    expect(worst).toBeLessThanOrEqual(1);
    expect(exact).toBeGreaterThan(0.99);
  });

  it('sf_log: special values', () => {
    const cases: [number, number][] = [
      [1, 0],
      [0, -Infinity],
      [-0, -Infinity],
      [-1, NaN],
      [-(2 ** -149), NaN],
      [-Infinity, NaN],
      [Infinity, Infinity],
      [NaN, NaN],
      [2, Math.fround(Math.LN2)],
      [2 ** -149, Math.fround(Math.log(2 ** -149))],
      [fromBits32(0x7f7fffff), Math.fround(Math.log(fromBits32(0x7f7fffff)))],
    ];
    for (const [x, want] of cases)
      expect(same(sfLog(x), want), `sf_log(${x}) = ${sfLog(x)}`).toBe(true);
  });

  it('float64 code keeps Math.exp and Math.log', () => {
    const p = new JsPrinter({ precision: 'f64' });
    expect(p.printExpr(add(call('exp', x), call('log', a)))).toBe('Math.exp(x) + Math.log(a)');
    expect([...p.helpers]).toEqual([]);
  });
});
