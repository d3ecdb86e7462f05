/**
 * Algebraic simplification as a table of rewrite rules (in the style of tinygrad's
 * PatternMatcher), applied bottom-up to a fixpoint.
 *
 * Contract of every rule: wherever the original expression evaluates (in exact arithmetic)
 * to a finite value, the rewritten one has the same value. A rule may extend the domain,
 * i.e. turn a NaN or infinity into a value (`x/x -> 1`, `x - x -> 0`, `exp(log(x)) -> x`),
 * the same convention as the `0 * x -> 0` fold in the constructors. In float64 the value
 * may change by rounding (terms are regrouped).
 */

import { type Expr, add, and, isNum, mapChildren, mul, num, or, pow } from './expr.js';
import { applyFn, compare, truthy } from './evaluate.js';

/** A named rewrite: returns the replacement for `node`, or `undefined` when it does not apply. */
export interface Rule {
  readonly name: string;
  readonly rewrite: (node: Expr) => Expr | undefined;
}

const isInt = (e: Expr): boolean => e.kind === 'num' && Number.isInteger(e.value);

/** Splits a product term into its numeric coefficient and the rest (`3*x*y` -> 3, `x*y`). */
function splitCoeff(e: Expr): { coeff: number; rest: Expr } {
  if (e.kind === 'num') return { coeff: e.value, rest: num(1) };
  if (e.kind === 'mul' && e.args[0]!.kind === 'num') {
    return { coeff: e.args[0]!.value, rest: mul(...e.args.slice(1)) };
  }
  return { coeff: 1, rest: e };
}

/** Splits a factor into base and numeric exponent (`x^3` -> x, 3; `y` -> y, 1). */
function splitPower(e: Expr): { base: Expr; exp: number } {
  if (e.kind === 'pow' && e.exp.kind === 'num') return { base: e.base, exp: e.exp.value };
  return { base: e, exp: 1 };
}

/** Groups `items` by `key` (nodes are interned, so identity is structure), keeping first-seen order. */
function groupBy<T>(items: readonly T[], key: (t: T) => Expr): Map<Expr, T[]> {
  const groups = new Map<Expr, T[]>();
  for (const item of items) {
    const k = key(item);
    const g = groups.get(k);
    if (g === undefined) groups.set(k, [item]);
    else g.push(item);
  }
  return groups;
}

/** Sum of numbers in sorted order, so that the result does not depend on term order. */
const sumSorted = (xs: readonly number[]): number =>
  [...xs].sort((a, b) => a - b).reduce((s, v) => s + v, 0);

/**
 * The default rules, tried in this order at every node. `exp(0) = 1`, `log(1) = 0` and the
 * like come from `fold-call`.
 */
export const rules: readonly Rule[] = [
  {
    // f(c1, c2) -> value, for constant arguments with a finite result: a NaN/inf is left
    // as the call so that the offending expression stays visible.
    name: 'fold-call',
    rewrite: (e) => {
      if (e.kind !== 'call' || !e.args.every((a) => a.kind === 'num')) return undefined;
      const v = applyFn(
        e.fn,
        e.args.map((a) => (a.kind === 'num' ? a.value : NaN)),
      );
      return Number.isFinite(v) ? num(v) : undefined;
    },
  },
  {
    // c1 < c2 -> 1 or 0.
    name: 'fold-cmp',
    rewrite: (e) =>
      e.kind === 'cmp' && e.a.kind === 'num' && e.b.kind === 'num'
        ? num(compare(e.op, e.a.value, e.b.value))
        : undefined,
  },
  {
    // Constant arguments of and/or/not: absorbing ones decide, neutral ones drop.
    name: 'fold-logic',
    rewrite: (e) => {
      if (e.kind === 'not')
        return e.arg.kind === 'num' ? num(truthy(e.arg.value) ? 0 : 1) : undefined;
      if (e.kind !== 'and' && e.kind !== 'or') return undefined;
      const consts = e.args.filter((a) => a.kind === 'num');
      if (consts.length === 0) return undefined;
      const absorbing = e.kind === 'or';
      if (consts.some((c) => truthy(c.value) === absorbing)) return num(absorbing ? 1 : 0);
      const rest = e.args.filter((a) => a.kind !== 'num');
      return e.kind === 'and' ? and(...rest) : or(...rest);
    },
  },
  {
    // where(c, a, b) with constant c picks a branch; where(c, a, a) -> a.
    name: 'where-const',
    rewrite: (e) => {
      if (e.kind !== 'where') return undefined;
      if (e.cond.kind === 'num') return truthy(e.cond.value) ? e.then : e.else;
      return e.then === e.else ? e.then : undefined;
    },
  },
  {
    // exp(log(x)) -> x and log(exp(x)) -> x.
    name: 'exp-log',
    rewrite: (e) => {
      if (e.kind !== 'call') return undefined;
      const [inner] = e.args;
      if (inner.kind !== 'call') return undefined;
      if (e.fn === 'exp' && inner.fn === 'log') return inner.args[0];
      if (e.fn === 'log' && inner.fn === 'exp') return inner.args[0];
      return undefined;
    },
  },
  {
    name: 'pow-one', // x^1 -> x
    rewrite: (e) => (e.kind === 'pow' && isNum(e.exp, 1) ? e.base : undefined),
  },
  {
    name: 'pow-zero', // x^0 -> 1 (IEEE pow agrees, even for x = NaN)
    rewrite: (e) => (e.kind === 'pow' && isNum(e.exp, 0) ? num(1) : undefined),
  },
  {
    // (x^a)^n -> x^(a*n) for integer n: repeated multiplication, so valid for any a
    // wherever x^a is defined. (x^2)^0.5 is |x|, not x, hence the integer condition.
    name: 'pow-pow',
    rewrite: (e) =>
      e.kind === 'pow' && e.base.kind === 'pow' && isInt(e.exp)
        ? pow(e.base.base, mul(e.base.exp, e.exp))
        : undefined,
  },
  {
    // (x*y)^n -> x^n * y^n for integer n, so that the factors can meet their kin.
    name: 'pow-mul-int',
    rewrite: (e) =>
      e.kind === 'pow' && e.base.kind === 'mul' && isInt(e.exp)
        ? mul(...e.base.args.map((f) => pow(f, e.exp)))
        : undefined,
  },
  {
    // x * x^2 * y -> x^3 * y: factors with the same base and numeric exponents merge.
    name: 'mul-combine-bases',
    rewrite: (e) => {
      if (e.kind !== 'mul') return undefined;
      const groups = groupBy(e.args.map(splitPower), (p) => p.base);
      if (groups.size === e.args.length) return undefined;
      return mul(
        ...[...groups].map(([base, ps]) => pow(base, num(sumSorted(ps.map((p) => p.exp))))),
      );
    },
  },
  {
    // 2*x + 3*x -> 5*x: terms that differ only in their numeric coefficient merge.
    name: 'add-collect-terms',
    rewrite: (e) => {
      if (e.kind !== 'add') return undefined;
      const groups = groupBy(e.args.map(splitCoeff), (t) => t.rest);
      if (groups.size === e.args.length) return undefined;
      return add(
        ...[...groups].map(([rest, ts]) => mul(num(sumSorted(ts.map((t) => t.coeff))), rest)),
      );
    },
  },
];

const caches = new WeakMap<readonly Rule[], WeakMap<Expr, Expr>>();

// A rule set that keeps rewriting one node this often is cycling: a bug in the rules.
const MAX_REWRITES = 10_000;

/**
 * Simplifies `e` with `ruleSet` (default {@link rules}): children first, then the rules at
 * the node, restarting from the first rule after every rewrite until none applies.
 * Results are cached per rule set, so simplifying shared subexpressions is cheap and
 * `simplify(simplify(e)) === simplify(e)`.
 */
export function simplify(e: Expr, ruleSet: readonly Rule[] = rules): Expr {
  let cache = caches.get(ruleSet);
  if (cache === undefined) {
    cache = new WeakMap();
    caches.set(ruleSet, cache);
  }
  const memo = cache;
  const visit = (node: Expr): Expr => {
    const hit = memo.get(node);
    if (hit !== undefined) return hit;
    let cur = mapChildren(node, visit);
    for (let n = 0; ; n++) {
      if (n > MAX_REWRITES) throw new Error('simplify: rules do not converge');
      let next: Expr | undefined;
      for (const rule of ruleSet) {
        next = rule.rewrite(cur);
        if (next !== undefined && next !== cur) break;
        next = undefined;
      }
      if (next === undefined) break;
      cur = mapChildren(next, visit);
    }
    memo.set(node, cur);
    memo.set(cur, cur);
    return cur;
  };
  return visit(e);
}
