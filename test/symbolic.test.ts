import { describe, expect, it } from 'vitest';
import {
  type Expr,
  add,
  and,
  call,
  children,
  cmp,
  compareExpr,
  div,
  isBoolean,
  mapChildren,
  mul,
  neg,
  not,
  num,
  or,
  pow,
  sub,
  sym,
  where,
} from '../src/symbolic/expr.js';
import { type Rule, rules, simplify } from '../src/symbolic/simplify.js';
import { dependsOn, diff, exprelPrime, freeSymbols, substitute } from '../src/symbolic/diff.js';
import { linearIn, linearSystem } from '../src/symbolic/linear.js';
import { evaluate } from '../src/symbolic/evaluate.js';
import { exprel32, exprel64 } from '../src/symbolic/exprel.js';
import { formatMath } from '../src/symbolic/print.js';

const x = sym('x');
const y = sym('y');
const z = sym('z');
const a = sym('a');
const b = sym('b');
const V = sym('V');
const V_rest = sym('V_rest');
const tau = sym('tau');
const exp = (e: Expr): Expr => call('exp', e);
const log = (e: Expr): Expr => call('log', e);
const show = (e: Expr): string => formatMath(simplify(e));

describe('interning and canonical form', () => {
  it('gives identical nodes for structurally equal expressions built in different orders', () => {
    expect(add(x, mul(num(2), y))).toBe(add(mul(y, num(2)), x));
    expect(add(add(a, b), z)).toBe(add(z, add(b, a)));
    expect(mul(x, mul(y, z))).toBe(mul(mul(z, x), y));
    expect(call('min', x, y)).toBe(call('min', x, y));
    expect(where(cmp('<', x, y), a, b)).toBe(where(cmp('<', x, y), a, b));
    expect(and(cmp('<', x, y), or(a, b))).toBe(and(or(b, a), cmp('<', x, y)));
    expect(sym('x')).toBe(x);
    expect(num(-0)).toBe(num(0));
  });

  it('keeps order-sensitive nodes apart', () => {
    expect(pow(x, y)).not.toBe(pow(y, x));
    expect(cmp('<', x, y)).not.toBe(cmp('>', y, x));
    expect(call('min', x, y)).not.toBe(call('min', y, x));
  });

  it('flattens, folds constants and drops identities', () => {
    const s = add(num(1), x, add(num(2), y));
    expect(s.kind).toBe('add');
    expect(children(s)).toEqual([num(3), x, y]);
    expect(add(x, num(0))).toBe(x);
    expect(mul(x, num(1))).toBe(x);
    expect(mul(num(2), x, num(0.5))).toBe(x);
    expect(add()).toBe(num(0));
    expect(mul()).toBe(num(1));
    expect(pow(num(2), num(10))).toBe(num(1024));
    expect(and()).toBe(num(1));
    expect(or()).toBe(num(0));
    expect(and(cmp('<', x, y))).toBe(cmp('<', x, y));
    expect(and(x).kind).toBe('and'); // x itself is not 0/1-valued
  });

  it('expresses sub, neg and div through add, mul and pow', () => {
    expect(sub(x, y)).toBe(add(x, mul(num(-1), y)));
    expect(neg(x)).toBe(mul(num(-1), x));
    expect(div(x, y)).toBe(mul(x, pow(y, num(-1))));
    expect(div(x, num(4))).toBe(mul(num(0.25), x));
  });

  it('folds 0*x to 0 and keeps NaN from constants', () => {
    expect(mul(num(0), exp(x))).toBe(num(0));
    expect(Number.isNaN((mul(num(0), num(Infinity)) as { value: number }).value)).toBe(true);
    expect(add(num(NaN), x)).toBe(num(NaN));
    expect(div(num(1), num(0))).toBe(num(Infinity));
  });

  it('has frozen nodes and a structural comparator independent of creation order', () => {
    const e = add(x, y);
    expect(Object.isFrozen(e)).toBe(true);
    expect(Object.isFrozen(children(e))).toBe(true);
    // A node created later can still sort first.
    const late = sym('aaa_created_late');
    expect(compareExpr(late, x)).toBeLessThan(0);
    expect(children(add(x, late))[0]).toBe(late);
    expect(compareExpr(num(1), x)).toBeLessThan(0);
    expect(compareExpr(x, x)).toBe(0);
  });

  it('checks call arity', () => {
    expect(() => call('min', x)).toThrow(/min takes 2/);
    expect(() => call('exp', x, y)).toThrow(/exp takes 1/);
  });

  it('rebuilds through the constructors in mapChildren', () => {
    const e = add(x, mul(num(2), y));
    expect(mapChildren(e, (c) => c)).toBe(e);
    expect(mapChildren(e, (c) => (c === x ? num(1) : c))).toBe(add(num(1), mul(num(2), y)));
    expect(isBoolean(not(x))).toBe(true);
    expect(isBoolean(x)).toBe(false);
  });
});

describe('simplify', () => {
  it('collects like terms', () => {
    expect(simplify(add(mul(num(2), x), mul(num(3), x)))).toBe(mul(num(5), x));
    expect(simplify(sub(mul(x, y), mul(y, x)))).toBe(num(0));
    expect(simplify(add(x, x, y))).toBe(add(mul(num(2), x), y));
  });

  it('combines equal bases in products', () => {
    expect(simplify(mul(x, x))).toBe(pow(x, num(2)));
    expect(simplify(mul(pow(x, num(2)), pow(x, num(-3))))).toBe(pow(x, num(-1)));
    expect(simplify(mul(x, y, pow(x, num(0.5))))).toBe(mul(y, pow(x, num(1.5))));
    expect(simplify(div(x, x))).toBe(num(1));
  });

  it('simplifies powers', () => {
    expect(simplify(pow(x, num(1)))).toBe(x);
    expect(simplify(pow(x, num(0)))).toBe(num(1));
    expect(simplify(pow(pow(x, num(2)), num(3)))).toBe(pow(x, num(6)));
    expect(simplify(pow(pow(x, num(0.5)), num(2)))).toBe(x);
    // (x^2)^0.5 is |x|: not rewritten.
    expect(simplify(pow(pow(x, num(2)), num(0.5)))).toBe(pow(pow(x, num(2)), num(0.5)));
    expect(simplify(pow(mul(x, y), num(2)))).toBe(mul(pow(x, num(2)), pow(y, num(2))));
  });

  it('evaluates calls on constants and cancels exp/log', () => {
    expect(simplify(exp(num(0)))).toBe(num(1));
    expect(simplify(log(num(1)))).toBe(num(0));
    expect(simplify(call('exprel', num(0)))).toBe(num(1));
    expect(simplify(call('max', num(2), num(3)))).toBe(num(3));
    expect(simplify(exp(log(x)))).toBe(x);
    expect(simplify(log(exp(add(x, y))))).toBe(add(x, y));
    // A constant call with a non-finite value stays visible.
    expect(simplify(log(num(-1)))).toBe(log(num(-1)));
  });

  it('folds comparisons, logic and where', () => {
    expect(simplify(where(num(1), a, b))).toBe(a);
    expect(simplify(where(num(0), a, b))).toBe(b);
    expect(simplify(where(cmp('<', num(1), num(2)), a, b))).toBe(a);
    expect(simplify(where(cmp('<', x, y), a, a))).toBe(a);
    expect(simplify(and(cmp('<', x, y), num(1)))).toBe(cmp('<', x, y));
    expect(simplify(and(cmp('<', x, y), num(0)))).toBe(num(0));
    expect(simplify(or(cmp('<', x, y), num(2)))).toBe(num(1));
    expect(simplify(not(num(0)))).toBe(num(1));
  });

  it('is idempotent and accepts a custom rule table', () => {
    const e = add(mul(x, x, num(3)), mul(num(2), pow(x, num(2))), exp(num(0)));
    const s = simplify(e);
    expect(s).toBe(add(num(1), mul(num(5), pow(x, num(2)))));
    expect(simplify(s)).toBe(s);
    const only: readonly Rule[] = rules.filter((r) => r.name === 'pow-one');
    expect(simplify(add(pow(x, num(1)), x), only)).toBe(add(x, x));
  });
});

describe('diff, substitute, freeSymbols', () => {
  it('differentiates polynomials and products', () => {
    expect(diff(pow(x, num(3)), 'x')).toBe(mul(num(3), pow(x, num(2))));
    expect(diff(mul(x, y), 'x')).toBe(y);
    expect(diff(add(mul(a, pow(x, num(2))), b), 'x')).toBe(mul(num(2), a, x));
    expect(diff(y, 'x')).toBe(num(0));
  });

  it('gives the exp_euler Jacobians of LIF and ExpIF', () => {
    const lif = div(add(neg(sub(V, V_rest)), mul(sym('R'), sym('I'))), tau);
    expect(formatMath(diff(lif, 'V'))).toBe('-1/tau');
    const dT = sym('delta_T');
    const expif = div(add(neg(sub(V, V_rest)), mul(dT, exp(div(sub(V, sym('V_T')), dT)))), tau);
    expect(formatMath(diff(expif, 'V'))).toBe('(exp((V - V_T)/delta_T) - 1)/tau');
  });

  it('differentiates calls and general powers', () => {
    const env = { x: 0.7, y: 1.3 };
    const cases: [Expr, number][] = [
      [call('sin', x), Math.cos(0.7)],
      [call('tanh', x), 1 - Math.tanh(0.7) ** 2],
      [call('sqrt', x), 0.5 / Math.sqrt(0.7)],
      [call('log10', x), 1 / (0.7 * Math.LN10)],
      [call('atan', x), 1 / (1 + 0.49)],
      [call('tan', x), 1 / Math.cos(0.7) ** 2],
      [pow(x, x), 0.7 ** 0.7 * (Math.log(0.7) + 1)],
      [pow(y, x), 1.3 ** 0.7 * Math.log(1.3)],
    ];
    for (const [e, d] of cases) expect(evaluate(diff(e, 'x'), env)).toBeCloseTo(d, 12);
  });

  it('uses where for min, max, abs and differentiates where branch-wise', () => {
    const mn = diff(call('min', x, mul(num(2), y)), 'x');
    expect(evaluate(mn, { x: 1, y: 1 })).toBe(1);
    expect(evaluate(mn, { x: 3, y: 1 })).toBe(0);
    const ab = diff(call('abs', x), 'x');
    expect(evaluate(ab, { x: -2 })).toBe(-1);
    expect(evaluate(ab, { x: 2 })).toBe(1);
    expect(diff(where(cmp('<', x, num(0)), pow(x, num(2)), x), 'x')).toBe(
      where(cmp('<', x, num(0)), mul(num(2), x), num(1)),
    );
    expect(diff(cmp('<', x, y), 'x')).toBe(num(0));
    expect(diff(call('floor', x), 'x')).toBe(num(0));
  });

  it('keeps the derivative of exprel finite and accurate at and around 0', () => {
    const d = diff(call('exprel', x), 'x');
    expect(evaluate(d, { x: 0 })).toBe(0.5);
    const exact = (u: number): number => (Math.exp(u) * (u - 1) + 1) / (u * u);
    for (const u of [1e-12, -1e-7, 0.05, -0.0999, 0.1, 0.1001, -0.3, 2, -5]) {
      const series = 0.5 + u / 3 + (u * u) / 8 + u ** 3 / 30;
      const ref = Math.abs(u) < 1e-3 ? series : exact(u);
      expect(Math.abs(evaluate(d, { x: u }) - ref)).toBeLessThan(1e-13 * Math.abs(ref));
    }
    // Chain rule through the argument.
    const chained = diff(call('exprel', mul(num(-0.1), add(V, num(40)))), 'V');
    expect(evaluate(chained, { V: -40 })).toBeCloseTo(-0.05, 15);
    expect(exprelPrime(x).kind).toBe('where');
  });

  it('substitutes symbols in one pass and lists free symbols', () => {
    const alpha = sym('alpha');
    const e = add(mul(alpha, sub(num(1), x)), alpha);
    const inlined = substitute(e, new Map([['alpha', exp(y)]]));
    expect(inlined).toBe(add(mul(exp(y), sub(num(1), x)), exp(y)));
    expect(substitute(x, new Map([['x', y]]))).toBe(y);
    // Not recursive: the replacement's own symbols stay.
    expect(
      substitute(
        x,
        new Map([
          ['x', y],
          ['y', z],
        ]),
      ),
    ).toBe(y);
    expect([...freeSymbols(inlined)].sort()).toEqual(['x', 'y']);
    expect(dependsOn(inlined, 'alpha')).toBe(false);
  });
});

describe('linear analysis', () => {
  it('decomposes linear expressions', () => {
    const r = linearIn(div(add(neg(sub(V, V_rest)), mul(sym('R'), sym('I'))), tau), 'V');
    expect(r.kind).toBe('linear');
    if (r.kind !== 'linear') return;
    expect(formatMath(r.coeff)).toBe('-1/tau');
    expect(formatMath(r.rest)).toBe('(V_rest + I*R)/tau');
    const nmda = linearIn(add(div(neg(x), tau), mul(a, y, sub(num(1), x))), 'x');
    expect(nmda.kind === 'linear' && formatMath(nmda.coeff)).toBe('-a*y - 1/tau');
  });

  it('looks through where with a condition free of x', () => {
    const r = linearIn(where(cmp('<', y, num(0)), mul(num(2), x), add(x, num(1))), 'x');
    expect(r).toEqual({
      kind: 'linear',
      coeff: where(cmp('<', y, num(0)), num(2), num(1)),
      rest: where(cmp('<', y, num(0)), num(0), num(1)),
    });
    expect(linearIn(where(cmp('<', x, num(0)), x, num(0)), 'x').kind).toBe('nonlinear');
  });

  it('reports the offending term', () => {
    expect(linearIn(mul(x, x), 'x')).toEqual({ kind: 'nonlinear', term: pow(x, num(2)) });
    expect(linearIn(add(y, mul(num(3), exp(x))), 'x')).toEqual({ kind: 'nonlinear', term: exp(x) });
    expect(linearIn(add(x, mul(y, x, exp(x))), 'x')).toEqual({
      kind: 'nonlinear',
      term: mul(x, exp(x)),
    });
  });

  it('builds A and b for coupled linear systems', () => {
    const g = sym('g');
    const h = sym('h');
    const tauD = sym('tau_decay');
    const fs = new Map([
      ['g', add(div(neg(g), tauD), h)],
      ['h', add(div(neg(h), tauD), sym('I'))],
    ]);
    const sys = linearSystem(fs, ['g', 'h']);
    expect(sys.kind).toBe('linear');
    if (sys.kind !== 'linear') return;
    expect(sys.A.map((row) => row.map(formatMath))).toEqual([
      ['-1/tau_decay', '1'],
      ['0', '-1/tau_decay'],
    ]);
    expect(sys.b.map(formatMath)).toEqual(['0', 'I']);
  });

  it('reports non-linear systems with the state, variable and term', () => {
    const g = sym('g');
    const xs = sym('xs');
    const fs = new Map([
      ['g', add(div(neg(g), sym('tau_decay')), mul(a, xs, sub(num(1), g)))],
      ['xs', div(neg(xs), sym('tau_rise'))],
    ]);
    const sys = linearSystem(fs, ['g', 'xs']);
    expect(sys.kind === 'nonlinear' && [sys.state, sys.wrt, formatMath(sys.term)]).toEqual([
      'g',
      'g',
      '-a*g*xs',
    ]);
    const quad = linearSystem(new Map([['V', mul(V, V)]]), ['V']);
    expect(quad).toEqual({ kind: 'nonlinear', state: 'V', wrt: 'V', term: pow(V, num(2)) });
    expect(() => linearSystem(new Map(), ['V'])).toThrow(/no equation for state 'V'/);
  });
});

describe('evaluate', () => {
  it('accepts maps and records and rejects unbound symbols', () => {
    const e = add(x, mul(num(2), y));
    expect(evaluate(e, { x: 1, y: 2 })).toBe(5);
    expect(
      evaluate(
        e,
        new Map([
          ['x', 1],
          ['y', 2],
        ]),
      ),
    ).toBe(5);
    expect(() => evaluate(e, { x: 1 })).toThrow(/no value for symbol 'y'/);
    expect(() => evaluate(sym('toString'), {})).toThrow(/toString/);
  });

  it('evaluates booleans as 1/0 with C truthiness and lazy where', () => {
    expect(evaluate(cmp('<=', x, y), { x: 1, y: 1 })).toBe(1);
    expect(evaluate(cmp('!=', x, y), { x: NaN, y: 1 })).toBe(1);
    expect(evaluate(cmp('==', x, x), { x: NaN })).toBe(0);
    expect(evaluate(and(cmp('<', x, y), cmp('>', x, num(0))), { x: 1, y: 2 })).toBe(1);
    expect(evaluate(or(cmp('<', x, y), cmp('>', x, num(5))), { x: 3, y: 2 })).toBe(0);
    expect(evaluate(not(x), { x: NaN })).toBe(0);
    expect(evaluate(where(x, a, b), { x: NaN, a: 1, b: 2 })).toBe(1);
    // The branch not taken is never evaluated (it has an unbound symbol).
    expect(evaluate(where(cmp('>', x, num(0)), x, sym('unbound')), { x: 1 })).toBe(1);
  });
});

describe('exprel', () => {
  it('handles the special values', () => {
    expect(exprel64(0)).toBe(1);
    expect(exprel32(0)).toBe(1);
    expect(exprel64(Infinity)).toBe(Infinity);
    expect(exprel32(Infinity)).toBe(Infinity);
    expect(exprel32(100)).toBe(Infinity);
    expect(exprel64(-Infinity)).toBe(0);
    expect(exprel32(-Infinity)).toBe(0);
    expect(exprel64(NaN)).toBeNaN();
    expect(exprel32(NaN)).toBeNaN();
    expect(exprel32(-30)).toBe(Math.fround(1 / 30));
  });

  it('is finite and correct where the naive formula cancels', () => {
    expect(exprel64(1e-300)).toBe(1);
    expect(exprel64(-1e-9)).toBe(1 - 5e-10);
    expect(exprel32(1e-4)).toBe(Math.fround(exprel64(1e-4)));
  });
});

describe('formatMath', () => {
  it('prints readable infix without redundant parentheses', () => {
    expect(formatMath(div(neg(sub(V, V_rest)), tau))).toBe('-(V - V_rest)/tau');
    expect(formatMath(add(mul(a, pow(x, num(2))), b))).toBe('b + a*x^2');
    expect(formatMath(div(div(a, b), x))).toBe('a/(b*x)');
    expect(formatMath(div(a, div(b, x)))).toBe('a/(b/x)');
    expect(formatMath(div(num(1), add(a, b)))).toBe('1/(a + b)');
    expect(formatMath(div(x, pow(y, num(2))))).toBe('x/y^2');
    expect(formatMath(mul(num(-2), pow(x, num(-1))))).toBe('-2/x');
    expect(formatMath(sub(x, add(a, b)))).toBe('x - (a + b)');
    expect(formatMath(sub(num(1), x))).toBe('1 - x');
    expect(formatMath(add(neg(x), num(-3)))).toBe('-x - 3');
    expect(formatMath(neg(add(x, num(3))))).toBe('-(x + 3)');
    expect(formatMath(pow(neg(x), num(2)))).toBe('(-x)^2');
    expect(formatMath(pow(x, pow(y, z)))).toBe('x^(y^z)');
    expect(formatMath(pow(add(x, y), neg(z)))).toBe('(x + y)^(-z)');
    expect(formatMath(pow(num(-3), x))).toBe('(-3)^x');
    expect(formatMath(mul(num(0.5), x, exp(neg(x))))).toBe('0.5*x*exp(-x)');
  });

  it('prints logic, comparisons, calls and where', () => {
    const spike = and(cmp('>=', V, sym('V_th')), cmp('<', sym('V_prev'), sym('V_th')));
    expect(formatMath(spike)).toBe('V_prev < V_th and V >= V_th');
    // `and` binds tighter than `or`, as in Python.
    expect(formatMath(or(spike, not(cmp('<', x, y))))).toBe(
      'not (x < y) or V_prev < V_th and V >= V_th',
    );
    expect(formatMath(and(or(x, y), z))).toBe('z and (x or y)');
    expect(formatMath(where(cmp('<', add(x, y), num(0)), call('min', x, y), num(Infinity)))).toBe(
      'where(x + y < 0, min(x, y), inf)',
    );
    expect(formatMath(num(NaN))).toBe('nan');
  });

  it('prints the HH sodium rate and its derivative', () => {
    const alphaM = div(num(1), call('exprel', div(neg(add(V, num(40))), num(10))));
    expect(formatMath(alphaM)).toBe('1/exprel(-0.1*(V + 40))');
    expect(show(sub(alphaM, alphaM))).toBe('0');
  });
});
