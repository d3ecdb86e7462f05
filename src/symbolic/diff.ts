/**
 * Symbolic differentiation, substitution and free-symbol analysis.
 */

import {
  type Expr,
  add,
  call,
  children,
  cmp,
  div,
  mapChildren,
  mul,
  neg,
  num,
  pow,
  sub,
  where,
} from './expr.js';
import { simplify } from './simplify.js';

const freeCache = new WeakMap<Expr, ReadonlySet<string>>();

/** The names of every `sym` in `e` (cached per node). */
export function freeSymbols(e: Expr): ReadonlySet<string> {
  const hit = freeCache.get(e);
  if (hit !== undefined) return hit;
  let result: ReadonlySet<string>;
  if (e.kind === 'sym') result = new Set([e.name]);
  else {
    const names = new Set<string>();
    for (const c of children(e)) for (const n of freeSymbols(c)) names.add(n);
    result = names;
  }
  freeCache.set(e, result);
  return result;
}

/** Does `e` mention the symbol `name`? */
export function dependsOn(e: Expr, name: string): boolean {
  return freeSymbols(e).has(name);
}

/**
 * Replaces every `sym` whose name is a key of `map` by its value, rebuilding through the
 * constructors (so the result is canonical, not simplified). One pass: symbols inside the
 * replacement values are not substituted again, so inline named subexpressions in
 * dependency order (or substitute into the values first).
 */
export function substitute(e: Expr, map: ReadonlyMap<string, Expr>): Expr {
  const memo = new Map<Expr, Expr>();
  const visit = (x: Expr): Expr => {
    const hit = memo.get(x);
    if (hit !== undefined) return hit;
    const r = x.kind === 'sym' ? (map.get(x.name) ?? x) : mapChildren(x, visit);
    memo.set(x, r);
    return r;
  };
  return visit(e);
}

/**
 * Below this |z| the derivative of `exprel` is taken from its Taylor series; see
 * {@link exprelPrime}.
 */
export const EXPREL_PRIME_SERIES_BELOW = 0.1;

/**
 * `d/dz exprel(z) = (exp(z) - exprel(z)) / z`, which is 0/0 at z = 0 and cancels badly
 * near it. Emitted as
 *
 * ```
 * where(abs(z) < 0.1, P(z), (exp(z) - exprel(z)) / z)
 * P(z) = sum_{j=0..8} (j+1)/(j+2)! z^j = 1/2 + z/3 + z^2/8 + z^3/30 + ...   (Horner form)
 * ```
 *
 * so it is finite everywhere, 1/2 at 0. The series' truncation error below 0.1 is
 * < 3e-16 relative; above 0.1 the cancellation costs at most ~4e-15 relative in float64
 * and ~2e-6 (about 20 ulps) in float32. Backends evaluate both branches of a `where`
 * (`select`), which is harmless: the discarded NaN at z = 0 is not used.
 */
export function exprelPrime(z: Expr): Expr {
  let series: Expr = num(0);
  for (let j = 8; j >= 0; j--) {
    let fact = 1;
    for (let k = 2; k <= j + 2; k++) fact *= k;
    series = add(num((j + 1) / fact), mul(z, series));
  }
  return where(
    cmp('<', call('abs', z), num(EXPREL_PRIME_SERIES_BELOW)),
    series,
    div(sub(call('exp', z), call('exprel', z)), z),
  );
}

/** Derivative of the raw (unsimplified) tree; `d` differentiates a child. */
function derivative(e: Expr, name: string, d: (x: Expr) => Expr): Expr {
  switch (e.kind) {
    case 'num':
      return num(0);
    case 'sym':
      return num(e.name === name ? 1 : 0);
    case 'add':
      return add(...e.args.map(d));
    case 'mul':
      // Product rule: sum over i of d(f_i) * prod_{j != i} f_j.
      return add(...e.args.map((f, i) => mul(d(f), ...e.args.filter((_, j) => j !== i))));
    case 'pow': {
      const { base, exp } = e;
      const db = d(base);
      if (!dependsOn(exp, name)) return mul(exp, pow(base, sub(exp, num(1))), db);
      // General case: d(b^e) = b^e * (e' log b + e b'/b).
      return mul(e, add(mul(d(exp), call('log', base)), mul(exp, db, pow(base, num(-1)))));
    }
    case 'call': {
      if (e.fn === 'min' || e.fn === 'max') {
        const [a, b] = e.args;
        // At a tie either branch is a one-sided derivative; the first argument wins.
        return where(cmp(e.fn === 'min' ? '<=' : '>=', a, b), d(a), d(b));
      }
      const [u] = e.args;
      const du = d(u);
      switch (e.fn) {
        case 'exp':
          return mul(e, du);
        case 'log':
          return div(du, u);
        case 'log10':
          return mul(num(1 / Math.LN10), du, pow(u, num(-1)));
        case 'exprel':
          return mul(exprelPrime(u), du);
        case 'sqrt':
          return mul(num(0.5), du, pow(e, num(-1)));
        case 'abs':
          // sign(u) * u', taking +u' at u = 0 (the right derivative).
          return mul(where(cmp('<', u, num(0)), num(-1), num(1)), du);
        case 'sin':
          return mul(call('cos', u), du);
        case 'cos':
          return neg(mul(call('sin', u), du));
        case 'tan':
          return mul(du, pow(call('cos', u), num(-2)));
        case 'tanh':
          return mul(sub(num(1), pow(e, num(2))), du);
        case 'sinh':
          return mul(call('cosh', u), du);
        case 'cosh':
          return mul(call('sinh', u), du);
        case 'atan':
          return div(du, add(num(1), pow(u, num(2))));
        case 'floor':
        case 'ceil':
          // Piecewise constant: 0 away from the jumps, which have no derivative.
          return num(0);
      }
    }
    case 'where':
      // The condition only selects; its own jumps are not differentiated.
      return where(e.cond, d(e.then), d(e.else));
    case 'cmp':
    case 'and':
    case 'or':
    case 'not':
      return num(0);
  }
}

/**
 * The partial derivative of `e` with respect to the symbol `name`, simplified. Every other
 * symbol is a constant. Piecewise functions (`where`, `min`, `max`, `abs`) are
 * differentiated branch by branch; comparisons, logic, `floor` and `ceil` have derivative 0.
 */
export function diff(e: Expr, name: string): Expr {
  const memo = new Map<Expr, Expr>();
  const d = (x: Expr): Expr => {
    if (!dependsOn(x, name)) return num(0);
    const hit = memo.get(x);
    if (hit !== undefined) return hit;
    const r = derivative(x, name, d);
    memo.set(x, r);
    return r;
  };
  return simplify(d(e));
}
