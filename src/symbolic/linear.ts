/**
 * Linearity analysis: is an expression `coeff * x + rest` with `coeff` and `rest` free of
 * `x`? Used to decide whether `method exact` applies and to explain why not.
 *
 * The analysis is structural on the simplified expression: sums, products with exactly one
 * factor that depends on `x`, and `where` with an `x`-free condition are looked through.
 * Products of sums are not expanded, so `(x + 1)*(x - 1) - x^2` is reported non-linear.
 */

import { type Expr, add, mul, num, sym, where } from './expr.js';
import { dependsOn, freeSymbols } from './diff.js';
import { simplify } from './simplify.js';

/** Outcome of {@link linearIn}. */
export type Linearity =
  /** `e == coeff * x + rest`, both simplified and free of `x`. */
  | { readonly kind: 'linear'; readonly coeff: Expr; readonly rest: Expr }
  /** `term` is the smallest subexpression found that is not linear in `x` (e.g. `x^2`, `exp(x)`). */
  | { readonly kind: 'nonlinear'; readonly term: Expr };

type Raw = { coeff: Expr; rest: Expr } | { term: Expr };

function decompose(e: Expr, x: string): Raw {
  if (!dependsOn(e, x)) return { coeff: num(0), rest: e };
  switch (e.kind) {
    case 'sym':
      return { coeff: num(1), rest: num(0) };
    case 'add': {
      const coeffs: Expr[] = [];
      const rests: Expr[] = [];
      for (const a of e.args) {
        const r = decompose(a, x);
        if ('term' in r) return r;
        coeffs.push(r.coeff);
        rests.push(r.rest);
      }
      return { coeff: add(...coeffs), rest: add(...rests) };
    }
    case 'mul': {
      const dep = e.args.filter((a) => dependsOn(a, x));
      const other = e.args.filter((a) => !dependsOn(a, x));
      if (dep.length > 1) return { term: mul(...dep) };
      const r = decompose(dep[0]!, x);
      if ('term' in r) return r;
      return { coeff: mul(r.coeff, ...other), rest: mul(r.rest, ...other) };
    }
    case 'where': {
      if (dependsOn(e.cond, x)) return { term: e };
      const t = decompose(e.then, x);
      if ('term' in t) return t;
      const f = decompose(e.else, x);
      if ('term' in f) return f;
      return { coeff: where(e.cond, t.coeff, f.coeff), rest: where(e.cond, t.rest, f.rest) };
    }
    default:
      // pow (x^1 is simplified away), calls, comparisons and logic that mention x.
      return { term: e };
  }
}

/** Decomposes `e` as `coeff * x + rest`, or names the term that is not linear in `x`. */
export function linearIn(e: Expr, x: string): Linearity {
  const r = decompose(simplify(e), x);
  if ('term' in r) return { kind: 'nonlinear', term: simplify(r.term) };
  return { kind: 'linear', coeff: simplify(r.coeff), rest: simplify(r.rest) };
}

/** Outcome of {@link linearSystem}. */
export type LinearSystem =
  /**
   * `d states[i]/dt = sum_j A[i][j] * states[j] + b[i]`. Entries are simplified and free of
   * every state; they may mention parameters, inputs and `t`.
   */
  | {
      readonly kind: 'linear';
      readonly A: readonly (readonly Expr[])[];
      readonly b: readonly Expr[];
    }
  /**
   * The equation of `state` is not linear: `term` is the offending term, either a
   * non-linear function of `wrt` or a product of `wrt` with another state.
   */
  | {
      readonly kind: 'nonlinear';
      readonly state: string;
      readonly wrt: string;
      readonly term: Expr;
    };

/**
 * Writes the right-hand sides `fs` (state name -> dx/dt) as `A x + b` over `states`, in
 * that order. Returns the first non-linear term found (equations and states in order).
 * Throws when a state has no equation in `fs`.
 */
export function linearSystem(
  fs: ReadonlyMap<string, Expr>,
  states: readonly string[],
): LinearSystem {
  const A: Expr[][] = [];
  const b: Expr[] = [];
  for (const state of states) {
    const f = fs.get(state);
    if (f === undefined) throw new Error(`linearSystem: no equation for state '${state}'`);
    const row: Expr[] = [];
    let rest = f;
    for (const wrt of states) {
      const r = linearIn(rest, wrt);
      if (r.kind === 'nonlinear') return { kind: 'nonlinear', state, wrt, term: r.term };
      const coupled = [...freeSymbols(r.coeff)].some((s) => states.includes(s));
      if (coupled) {
        // Report only the additive parts of the coefficient that carry a state, times wrt.
        const parts = r.coeff.kind === 'add' ? r.coeff.args : [r.coeff];
        const bad = parts.filter((p) => [...freeSymbols(p)].some((s) => states.includes(s)));
        return { kind: 'nonlinear', state, wrt, term: simplify(mul(add(...bad), sym(wrt))) };
      }
      row.push(r.coeff);
      rest = r.rest;
    }
    A.push(row);
    b.push(rest);
  }
  return { kind: 'linear', A, b };
}
