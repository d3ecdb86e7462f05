import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  type CmpOp,
  type Expr,
  add,
  and,
  call,
  children,
  cmp,
  div,
  isNum,
  mapChildren,
  mul,
  num,
  or,
  pow,
  sub,
  sym,
  where,
} from '../src/symbolic/expr.js';
import { simplify } from '../src/symbolic/simplify.js';
import { diff, freeSymbols } from '../src/symbolic/diff.js';
import { linearIn } from '../src/symbolic/linear.js';
import { evaluate } from '../src/symbolic/evaluate.js';
import { exprel32, exprel64 } from '../src/symbolic/exprel.js';

const SEED = 42;

/** Random expressions over the given symbols: + - * /, small integer powers, exp, log, sin, exprel, where. */
function exprArb(names: readonly string[]): fc.Arbitrary<Expr> {
  const leaf = fc.oneof(
    fc.constantFrom(...names).map(sym),
    fc.integer({ min: -4, max: 4 }).map(num),
    fc.constantFrom(0.5, -1.5, 2.25).map(num),
  );
  const { expr } = fc.letrec<{ expr: Expr }>((tie) => {
    const e = tie('expr');
    return {
      expr: fc.oneof(
        { maxDepth: 4, depthIdentifier: 'expr' },
        leaf,
        fc.tuple(e, e).map(([a, b]) => add(a, b)),
        fc.tuple(e, e).map(([a, b]) => sub(a, b)),
        fc.tuple(e, e).map(([a, b]) => mul(a, b)),
        fc.tuple(e, e).map(([a, b]) => div(a, b)),
        fc.tuple(e, fc.integer({ min: -3, max: 3 })).map(([a, k]) => pow(a, num(k))),
        e.map((a) => call('exp', a)),
        // log of a positive subexpression.
        e.map((a) => call('log', add(pow(a, num(2)), num(0.5)))),
        e.map((a) => call('sin', a)),
        e.map((a) => call('exprel', a)),
        fc
          .tuple(fc.constantFrom<CmpOp>('<', '<=', '>', '>='), e, e, e, e)
          .map(([op, a, b, t, f]) => where(cmp(op, a, b), t, f)),
      ),
    };
  });
  return expr;
}

const point = (names: readonly string[]): fc.Arbitrary<Record<string, number>> =>
  fc.record(Object.fromEntries(names.map((n) => [n, fc.double({ min: -3, max: 3, noNaN: true })])));

/** Every node of `e` (a DAG), each once. */
function nodes(e: Expr): Expr[] {
  const seen = new Set<Expr>();
  const visit = (x: Expr): void => {
    if (seen.has(x)) return;
    seen.add(x);
    children(x).forEach(visit);
  };
  visit(e);
  return [...seen];
}

/**
 * Largest |value| of any subexpression at `env` (the scale of rounding errors), or
 * undefined when some subexpression is NaN or infinite there.
 */
function magnitude(e: Expr, env: Record<string, number>): number | undefined {
  let m = 0;
  for (const n of nodes(e)) {
    const v = evaluate(n, env);
    if (!Number.isFinite(v)) return undefined;
    m = Math.max(m, Math.abs(v));
  }
  return m;
}

/** Does some comparison in `e` have (nearly) equal sides at `env`, so that rounding may flip it? */
function nearTie(e: Expr, env: Record<string, number>, rel: number): boolean {
  return nodes(e).some((n) => {
    if (n.kind !== 'cmp') return false;
    const a = evaluate(n.a, env);
    const b = evaluate(n.b, env);
    return !(Math.abs(a - b) > rel * Math.max(1, Math.abs(a), Math.abs(b)));
  });
}

/** Is `e` ill-conditioned at `env`: does a 1e-11 relative nudge of the inputs move it by > 1e-5? */
function illConditioned(e: Expr, env: Record<string, number>): boolean {
  const v = evaluate(e, env);
  const nudged = Object.fromEntries(Object.entries(env).map(([k, x]) => [k, x * (1 + 1e-11)]));
  const w = evaluate(e, nudged);
  return !(Math.abs(w - v) <= 1e-5 * Math.max(1, Math.abs(v)));
}

/** Rebuilds `e` bottom-up, feeding every n-ary constructor its arguments reversed. */
function rebuildReversed(e: Expr): Expr {
  const r = mapChildren(e, rebuildReversed);
  const args = [...children(r)].reverse();
  switch (r.kind) {
    case 'add':
      return add(...args);
    case 'mul':
      return mul(...args);
    case 'and':
      return and(...args);
    case 'or':
      return or(...args);
    default:
      return r;
  }
}

describe('symbolic properties', () => {
  const xyz = ['x', 'y', 'z'] as const;

  it('interns: the same expression built in another order is the same node', () => {
    fc.assert(
      fc.property(exprArb(xyz), (e) => {
        expect(rebuildReversed(e)).toBe(e);
      }),
      { seed: SEED, numRuns: 500 },
    );
  });

  it('simplify is idempotent', () => {
    fc.assert(
      fc.property(exprArb(xyz), (e) => {
        const s = simplify(e);
        expect(simplify(s)).toBe(s);
      }),
      { seed: SEED, numRuns: 500 },
    );
  });

  it('simplify preserves the value wherever the expression is finite', () => {
    let checked = 0;
    fc.assert(
      fc.property(exprArb(xyz), point(xyz), (e, env) => {
        const s = simplify(e);
        const scale = magnitude(e, env);
        // Float overflow is outside the exact-arithmetic contract: (y/z)^2 -> y^2*z^-2 can
        // overflow for subnormal z where y/z did not.
        if (scale === undefined || scale > 1e100) return;
        if (nearTie(e, env, 1e-9) || nearTie(s, env, 1e-9)) return;
        if (illConditioned(e, env)) return;
        checked++;
        const v0 = evaluate(e, env);
        const v1 = evaluate(s, env);
        expect(Math.abs(v1 - v0)).toBeLessThanOrEqual(
          1e-9 * Math.max(1, Math.abs(v0)) + 1e-13 * scale,
        );
      }),
      { seed: SEED, numRuns: 2000 },
    );
    expect(checked).toBeGreaterThan(1000);
  });

  it('diff matches central finite differences', () => {
    let checked = 0;
    fc.assert(
      fc.property(exprArb(xyz), point(xyz), (e, env) => {
        const f = (x: number): number => evaluate(e, { ...env, x });
        const x0 = env.x!;
        const h = 1e-4 * Math.max(1, Math.abs(x0));
        const fd = (k: number): number => (f(x0 + k) - f(x0 - k)) / (2 * k);
        const fd1 = fd(h);
        const fd2 = fd(h / 2);
        // Skip non-smooth or huge points: the two step sizes must agree (a kink or jump inside
        // the stencil makes them differ), and every subexpression must be finite and moderate.
        const scale = magnitude(e, env);
        if (scale === undefined || scale > 1e6 || nearTie(e, env, 1e-3)) return;
        if (!(Math.abs(fd1 - fd2) <= 1e-5 * Math.max(1, Math.abs(fd2)))) return;
        const d = evaluate(diff(e, 'x'), env);
        checked++;
        // Richardson extrapolation cancels the h^2 error term.
        const ref = (4 * fd2 - fd1) / 3;
        expect(Math.abs(d - ref)).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(ref), scale));
      }),
      { seed: SEED, numRuns: 1500 },
    );
    expect(checked).toBeGreaterThan(600);
  });

  it('linearIn recovers a and b from a*x + b', () => {
    const yz = ['y', 'z'] as const;
    let checked = 0;
    fc.assert(
      fc.property(exprArb(yz), exprArb(yz), point(['x', ...yz]), (a, b, env) => {
        // A NaN constant absorbs the whole sum (NaN + anything is NaN).
        fc.pre(![a, b].some((e) => isNum(simplify(e), NaN)));
        const r = linearIn(add(mul(a, sym('x')), b), 'x');
        expect(r.kind).toBe('linear');
        if (r.kind !== 'linear') return;
        expect(freeSymbols(r.coeff).has('x') || freeSymbols(r.rest).has('x')).toBe(false);
        for (const [want, got] of [
          [a, r.coeff],
          [b, r.rest],
        ] as const) {
          const scale = magnitude(want, env);
          if (scale === undefined || scale > 1e100) return;
          if (nearTie(want, env, 1e-9) || illConditioned(want, env)) return;
          const v = evaluate(want, env);
          expect(Math.abs(evaluate(got, env) - v)).toBeLessThanOrEqual(
            1e-9 * Math.max(1, Math.abs(v)) + 1e-13 * scale,
          );
        }
        checked++;
      }),
      { seed: SEED, numRuns: 500 },
    );
    expect(checked).toBeGreaterThan(250);
  });

  it('linearIn reports x^2 and exp(x) as the non-linear terms', () => {
    const x = sym('x');
    fc.assert(
      fc.property(exprArb(['y', 'z']), exprArb(['y', 'z']), (a, b) => {
        // A coefficient that folds to a constant 0 or NaN takes x with it.
        const sa = simplify(a);
        fc.pre(!isNum(sa, 0) && !isNum(sa, NaN));
        expect(linearIn(add(mul(a, x, x), b), 'x')).toEqual({
          kind: 'nonlinear',
          term: pow(x, num(2)),
        });
        expect(linearIn(add(mul(a, call('exp', x)), b, x), 'x')).toEqual({
          kind: 'nonlinear',
          term: call('exp', x),
        });
      }),
      { seed: SEED, numRuns: 300 },
    );
  });
});

describe('exprel accuracy', () => {
  const bits = new Uint32Array(1);
  const f32 = new Float32Array(bits.buffer);
  /** Position of a float32 on the monotone integer line (so ulp distance is a difference). */
  const ordinal = (v: number): number => {
    f32[0] = v;
    const u = bits[0]!;
    return u & 0x80000000 ? -(u & 0x7fffffff) : u;
  };
  const ulps = (a: number, b: number): number => Math.abs(ordinal(a) - ordinal(b));

  it('exprel32 is within a few float32 ulps of exprel64 for 1e-10 <= |z| <= 50', () => {
    let worst = 0;
    fc.assert(
      fc.property(
        fc.double({ min: -10, max: Math.log10(50), noNaN: true }),
        fc.boolean(),
        (e, negative) => {
          const z = Math.fround((negative ? -1 : 1) * 10 ** e);
          const d = ulps(exprel32(z), Math.fround(exprel64(z)));
          worst = Math.max(worst, d);
          expect(d).toBeLessThanOrEqual(3);
        },
      ),
      { seed: SEED, numRuns: 20000 },
    );
    expect(exprel32(0)).toBe(1);
    expect(worst).toBeGreaterThan(0); // the check did compare rounded values
  });

  it('exprel64 matches its Taylor series for tiny z', () => {
    fc.assert(
      fc.property(fc.double({ min: -300, max: -4, noNaN: true }), fc.boolean(), (e, negative) => {
        const z = (negative ? -1 : 1) * 10 ** e;
        const series = 1 + z / 2 + (z * z) / 6 + (z * z * z) / 24;
        // expm1 (< 1 ulp), the division and the series' own rounding: within 3 ulps.
        expect(Math.abs(exprel64(z) - series)).toBeLessThanOrEqual(3 * Number.EPSILON * series);
      }),
      { seed: SEED, numRuns: 5000 },
    );
  });
});
