/**
 * Float64 evaluation of expressions: the reference semantics for constant folding, tests
 * and the CPU path.
 */

import type { CmpOp, Expr, Fn } from './expr.js';
import { exprel64 } from './exprel.js';

/** Variable bindings: a `Map` or a plain object of name -> value. */
export type Env = ReadonlyMap<string, number> | Readonly<Record<string, number>>;

/**
 * Applies `fn` to float64 arguments. `min`/`max` propagate NaN (`Math.min` semantics);
 * `exprel` uses {@link exprel64}.
 */
export function applyFn(fn: Fn, args: readonly number[]): number {
  const x = args[0] ?? NaN;
  switch (fn) {
    case 'exp':
      return Math.exp(x);
    case 'log':
      return Math.log(x);
    case 'log10':
      return Math.log10(x);
    case 'exprel':
      return exprel64(x);
    case 'sqrt':
      return Math.sqrt(x);
    case 'abs':
      return Math.abs(x);
    case 'sin':
      return Math.sin(x);
    case 'cos':
      return Math.cos(x);
    case 'tan':
      return Math.tan(x);
    case 'tanh':
      return Math.tanh(x);
    case 'sinh':
      return Math.sinh(x);
    case 'cosh':
      return Math.cosh(x);
    case 'atan':
      return Math.atan(x);
    case 'floor':
      return Math.floor(x);
    case 'ceil':
      return Math.ceil(x);
    case 'min':
      return Math.min(x, args[1] ?? NaN);
    case 'max':
      return Math.max(x, args[1] ?? NaN);
  }
}

/** `a op b` as 1 or 0; IEEE semantics, so every comparison with NaN is 0 except `!=`. */
export function compare(op: CmpOp, a: number, b: number): number {
  switch (op) {
    case '<':
      return a < b ? 1 : 0;
    case '<=':
      return a <= b ? 1 : 0;
    case '>':
      return a > b ? 1 : 0;
    case '>=':
      return a >= b ? 1 : 0;
    case '==':
      return a === b ? 1 : 0;
    case '!=':
      return a !== b ? 1 : 0;
  }
}

/** Truth of a condition value: non-zero, NaN included (C/WGSL `bool(x)` is `x != 0`). */
export const truthy = (v: number): boolean => v !== 0;

function lookup(env: Env, name: string): number {
  const v =
    env instanceof Map
      ? (env as ReadonlyMap<string, number>).get(name)
      : Object.hasOwn(env, name)
        ? (env as Readonly<Record<string, number>>)[name]
        : undefined;
  if (v === undefined) throw new Error(`evaluate: no value for symbol '${name}'`);
  return v;
}

/**
 * Evaluates `e` in float64 with the symbols bound by `env`. Comparisons and logic give 1/0;
 * `where` evaluates only the branch it takes. Shared subexpressions are evaluated once.
 * Throws on an unbound symbol.
 */
export function evaluate(e: Expr, env: Env): number {
  const memo = new Map<Expr, number>();
  const ev = (x: Expr): number => {
    const hit = memo.get(x);
    if (hit !== undefined) return hit;
    const v = compute(x);
    memo.set(x, v);
    return v;
  };
  const compute = (x: Expr): number => {
    switch (x.kind) {
      case 'num':
        return x.value;
      case 'sym':
        return lookup(env, x.name);
      case 'add':
        return x.args.reduce((s, a) => s + ev(a), 0);
      case 'mul':
        return x.args.reduce((p, a) => p * ev(a), 1);
      case 'pow':
        return Math.pow(ev(x.base), ev(x.exp));
      case 'call':
        return applyFn(x.fn, x.args.map(ev));
      case 'where':
        return truthy(ev(x.cond)) ? ev(x.then) : ev(x.else);
      case 'cmp':
        return compare(x.op, ev(x.a), ev(x.b));
      case 'and':
        return x.args.every((a) => truthy(ev(a))) ? 1 : 0;
      case 'or':
        return x.args.some((a) => truthy(ev(a))) ? 1 : 0;
      case 'not':
        return truthy(ev(x.arg)) ? 0 : 1;
    }
  };
  return ev(e);
}
