/**
 * `method exact`: the exact propagator of a linear system with constant coefficients,
 *
 *     dx/dt = A x + b   =>   x(t + h) = e^{A h} x(t) + (integral_0^h e^{A s} ds) b,
 *
 * derived symbolically. "Constant" means constant over one step: A and b may mention
 * parameters, the input current, `t` and states that have no equation, all frozen at their
 * start-of-step values, as everywhere else in spikeforge.
 *
 * The inhomogeneous part is handled by augmenting the system with a constant node `1`
 * (eigenvalue 0) that every state with b_i != 0 depends on with weight b_i. The coupling
 * graph (i -> j when A_ij != 0, i != j) must have no cycle: then A is triangular after
 * reordering, its eigenvalues are its diagonal entries, and Parlett's formula gives every
 * entry of e^{A h} as a sum over the paths i = s_0 -> s_1 -> ... -> s_k = j of
 *
 *     A_{s_0 s_1} ... A_{s_(k-1) s_k} * exp[lambda_s0, ..., lambda_sk]
 *
 * where exp[...] is the divided difference of lambda -> e^{lambda h} over the diagonal
 * entries along the path (Higham, Functions of Matrices, thm 4.11). Divided differences are
 * where coinciding rates (tau_rise == tau_decay) would give 0/0, so they are built to have
 * the right limit:
 *
 * - one node:        e^{a h};
 * - equal nodes (the same expression at compile time, e.g. Alpha): h^k/k! e^{a h};
 * - two nodes:       h e^{b h} exprel((a - b) h) with b = 0 if one node is 0, else
 *                    h e^{max(a,b) h} exprel(-|a - b| h): exact at a == b (exprel(0) = 1),
 *                    no cancellation when a and b are close, no overflow when far apart;
 * - three or more distinct nodes: the recurrence (f[..p..] - f[..q..]) / (p - q), guarded by
 *   where(p == q, <confluent form>, ...) so that equality at run time gives the limit. Close
 *   but unequal rates lose digits there (cancellation); only chains of three or more
 *   coupled states, or two coupled states of which the driver has a constant input, need it.
 *
 * Systems whose couplings form a cycle (x drives y and y drives x) are refused: their
 * eigenvalues may be complex and are not the diagonal entries.
 */

import {
  type Expr as SymExpr,
  add,
  call,
  cmp,
  div,
  isNum,
  mul,
  neg,
  num,
  pow,
  sub,
  sym,
  where,
} from '../symbolic/expr.js';
import { linearSystem } from '../symbolic/linear.js';
import { simplify } from '../symbolic/simplify.js';
import { formatMath } from '../symbolic/print.js';

export type ExactPropagator =
  | {
      readonly kind: 'exact';
      /** x_{n+1} per state, in terms of start-of-step symbols (simplified, not yet CSE'd). */
      readonly values: ReadonlyMap<string, SymExpr>;
      /** Why each state's update is what it is, for `inspect`. */
      readonly reasons: ReadonlyMap<string, string>;
    }
  /** `term` in the equation of `state` is not linear in `wrt` (or couples `wrt` with another state). */
  | {
      readonly kind: 'nonlinear';
      readonly state: string;
      readonly wrt: string;
      readonly term: SymExpr;
    }
  /** The states of `cycle` drive each other in a circle: `cycle[0]` depends on `cycle[1]`, ..., the last on `cycle[0]`. */
  | { readonly kind: 'cycle'; readonly cycle: readonly string[] };

function factorial(k: number): number {
  let f = 1;
  for (let i = 2; i <= k; i++) f *= i;
  return f;
}

function removeOne(xs: readonly SymExpr[], x: SymExpr): SymExpr[] {
  const i = xs.indexOf(x);
  return [...xs.slice(0, i), ...xs.slice(i + 1)];
}

/**
 * The divided difference of `lambda -> exp(lambda * h)` over `nodes` (simplified expressions;
 * repeated nodes are confluent), in a form that stays finite and exact when nodes coincide.
 */
export function expDividedDifference(nodes: readonly SymExpr[], h: SymExpr): SymExpr {
  const k = nodes.length - 1;
  if (k < 0) throw new Error('expDividedDifference: no nodes');
  const distinct = [...new Set(nodes)];
  if (distinct.length === 1) {
    return mul(num(1 / factorial(k)), pow(h, num(k)), call('exp', mul(distinct[0]!, h)));
  }
  if (k === 1) {
    const [a, b] = nodes as [SymExpr, SymExpr];
    if (isNum(b, 0)) return mul(h, call('exprel', mul(a, h)));
    if (isNum(a, 0)) return mul(h, call('exprel', mul(b, h)));
    const gap = simplify(sub(a, b));
    if (gap.kind === 'num') {
      // Known order: factor out the larger rate.
      const [hi, lo] = gap.value > 0 ? [a, b] : [b, a];
      return mul(h, call('exp', mul(hi, h)), call('exprel', mul(sub(lo, hi), h)));
    }
    return mul(
      h,
      call('exp', mul(call('max', a, b), h)),
      call('exprel', neg(mul(call('abs', gap), h))),
    );
  }
  const p = distinct[0]!;
  const q = distinct[1]!;
  const gap = simplify(sub(p, q));
  const merged = nodes.map((x) => (x === q ? p : x));
  // (isNum with a value narrows as if it tested the kind, hence the explicit test.)
  if (gap.kind === 'num' && gap.value === 0) return expDividedDifference(merged, h);
  const general = div(
    sub(expDividedDifference(removeOne(nodes, q), h), expDividedDifference(removeOne(nodes, p), h)),
    gap,
  );
  if (gap.kind === 'num') return general;
  return where(cmp('==', p, q), expDividedDifference(merged, h), general);
}

/** Finds a cycle in the coupling graph (node -> nodes it depends on), or undefined. */
function findCycle(deps: readonly (readonly number[])[]): number[] | undefined {
  const state = new Array<0 | 1 | 2>(deps.length).fill(0);
  const stack: number[] = [];
  const visit = (i: number): number[] | undefined => {
    state[i] = 1;
    stack.push(i);
    for (const j of deps[i]!) {
      if (state[j] === 1) return stack.slice(stack.indexOf(j));
      if (state[j] === 0) {
        const c = visit(j);
        if (c !== undefined) return c;
      }
    }
    stack.pop();
    state[i] = 2;
    return undefined;
  };
  for (let i = 0; i < deps.length; i++) {
    if (state[i] === 0) {
      const c = visit(i);
      if (c !== undefined) return c;
    }
  }
  return undefined;
}

/**
 * The exact one-step update of `d states[i]/dt = fs.get(states[i])` over a step `h` (default
 * the symbol `dt`), or why there is none.
 */
export function exactPropagator(
  fs: ReadonlyMap<string, SymExpr>,
  states: readonly string[],
  h: SymExpr = sym('dt'),
): ExactPropagator {
  const system = linearSystem(fs, states);
  if (system.kind === 'nonlinear') return system;
  const n = states.length;
  const constant = n; // the augmented node `1`
  const lambda: SymExpr[] = [...system.A.map((row, i) => row[i]!), num(0)];
  // Edges i -> j with weight A_ij (j a state) or b_i (j the constant node).
  const edges: { to: number; weight: SymExpr }[][] = system.A.map((row, i) => {
    const out: { to: number; weight: SymExpr }[] = [];
    row.forEach((a, j) => {
      if (j !== i && !isNum(a, 0)) out.push({ to: j, weight: a });
    });
    const b = system.b[i]!;
    if (!isNum(b, 0)) out.push({ to: constant, weight: b });
    return out;
  });
  edges.push([]);
  const cycle = findCycle(edges.map((es) => es.map((e) => e.to)));
  if (cycle !== undefined) return { kind: 'cycle', cycle: cycle.map((i) => states[i]!) };

  const values = new Map<string, SymExpr>();
  const reasons = new Map<string, string>();
  states.forEach((state, i) => {
    const terms: SymExpr[] = [];
    const notes = new Set<string>();
    const walk = (node: number, weights: SymExpr[], path: number[]): void => {
      const rates = path.map((s) => lambda[s]!);
      const factor = mul(...weights, expDividedDifference(rates, h));
      terms.push(node === constant ? factor : mul(factor, sym(states[node]!)));
      if (path.length >= 2 && node !== constant) {
        const distinct = new Set(rates);
        const via = path
          .slice(1)
          .map((s) => states[s]!)
          .join(' <- ');
        if (distinct.size === 1)
          notes.add(
            `driven by ${via} at the same rate ${formatMath(rates[0]!)}: the confluent form (t e^(rate t))`,
          );
        else
          notes.add(
            `driven by ${via}; rates ${[...distinct].map(formatMath).join(', ')} (equal at run time gives the limit, not NaN)`,
          );
      }
      for (const e of edges[node]!) walk(e.to, [...weights, e.weight], [...path, e.to]);
    };
    walk(i, [], [i]);
    values.set(state, simplify(add(...terms)));
    const rate = formatMath(lambda[i]!);
    reasons.set(
      state,
      [
        `linear with constant coefficients -> exact propagator e^(A dt) (own rate ${rate}; the input current and states without an equation held over the step)`,
        ...notes,
      ].join('; '),
    );
  });
  return { kind: 'exact', values, reasons };
}
