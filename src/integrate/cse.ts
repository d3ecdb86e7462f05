/**
 * The last passes of deriving an update: cheap forms and common subexpressions.
 *
 * 1. {@link shareExps}: `exp(k*u)` next to `exp(u)` in the same update, for an integer k with
 *    0 < |k| <= 4, becomes `exp(u)^k` (so `exp(-u)` is `1/exp(u)`): one exp where two share an
 *    argument.
 * 2. {@link hoist}: every compound node used more than once in the DAG of all the roots
 *    becomes a temporary (conditions excepted: every temporary is a number). Nodes are interned, so "the same" is `===`. Powers are still
 *    single nodes here, so `exp(u)^4` used twice is computed once.
 * 3. {@link expandPowers}: `x^2`, `x^3`, `x^4` and their reciprocals become products (`x*x`,
 *    `x*x*x`, `y*y` with `y = x*x`), a compound `x` getting its own temporary; `x^0.5` becomes
 *    `sqrt(x)`. A `mul` node with repeated arguments is kept as it is by the constructors; only
 *    `simplify` would turn it back into a power, so a derived update must not be simplified
 *    again.
 * {@link optimize} runs the three and names the temporaries `_t0`, `_t1`, ... in an order in
 * which each uses only earlier ones.
 */

import {
  type Expr as SymExpr,
  call,
  children,
  mapChildren,
  mul,
  num,
  pow,
  sym,
} from '../symbolic/expr.js';
import { freeSymbols, substitute } from '../symbolic/diff.js';

const MAX_PRODUCT_POWER = 4;
const MAX_EXP_RATIO = 4;

/** Placeholder names while temporaries are created; not valid .spk identifiers. */
const PLACEHOLDER = '#t';

export interface Temporary {
  readonly name: string;
  readonly value: SymExpr;
}

export interface Optimized {
  /** In evaluation order: each value uses only temporaries before it. */
  readonly temporaries: readonly Temporary[];
  /** The roots, with hoisted subexpressions replaced by their temporaries. */
  readonly roots: readonly SymExpr[];
}

/** Splits `c*u` into the coefficient and `u` (`-x` -> -1, x; `y` -> 1, y). */
function splitCoefficient(e: SymExpr): { coeff: number; rest: SymExpr } {
  if (e.kind === 'mul' && e.args[0]!.kind === 'num') {
    return { coeff: e.args[0]!.value, rest: mul(...e.args.slice(1)) };
  }
  return { coeff: 1, rest: e };
}

/** Every node of the DAG under `roots`, each once, children first. */
function allNodes(roots: readonly SymExpr[]): SymExpr[] {
  const seen = new Set<SymExpr>();
  const out: SymExpr[] = [];
  const visit = (e: SymExpr): void => {
    if (seen.has(e)) return;
    seen.add(e);
    for (const c of children(e)) visit(c);
    out.push(e);
  };
  roots.forEach(visit);
  return out;
}

/** Rewrites every node of `roots` found in `map` (whose values are rewritten too). */
function rewriteNodes(roots: readonly SymExpr[], map: ReadonlyMap<SymExpr, SymExpr>): SymExpr[] {
  if (map.size === 0) return [...roots];
  const memo = new Map<SymExpr, SymExpr>();
  const visit = (e: SymExpr): SymExpr => {
    const hit = memo.get(e);
    if (hit !== undefined) return hit;
    const target = map.get(e);
    const r = target === undefined ? mapChildren(e, visit) : mapChildren(target, visit);
    memo.set(e, r);
    return r;
  };
  return roots.map(visit);
}

/** exp(k*u) -> exp(u)^k where exp(u) is also used (see the module comment). */
export function shareExps(roots: readonly SymExpr[]): SymExpr[] {
  const byRest = new Map<SymExpr, number[]>();
  for (const e of allNodes(roots)) {
    if (e.kind !== 'call' || e.fn !== 'exp') continue;
    const { coeff, rest } = splitCoefficient(e.args[0]);
    const list = byRest.get(rest);
    if (list === undefined) byRest.set(rest, [coeff]);
    else list.push(coeff);
  }
  const map = new Map<SymExpr, SymExpr>();
  for (const [rest, coeffs] of byRest) {
    if (coeffs.length < 2) continue;
    // The smallest |coefficient| is the base; integer multiples of it are powers of its exp.
    const base = coeffs.reduce((a, b) => (Math.abs(b) < Math.abs(a) ? b : a));
    const baseExp = call('exp', mul(num(base), rest));
    for (const c of coeffs) {
      const k = c / base;
      if (c === base || !Number.isInteger(k) || Math.abs(k) > MAX_EXP_RATIO) continue;
      map.set(call('exp', mul(num(c), rest)), pow(baseExp, num(k)));
    }
  }
  return rewriteNodes(roots, map);
}

/**
 * Is `e` worth a temporary when it is used more than once? Everything but atoms, `-atom` and
 * conditions (comparisons and logic stay inline, so that every temporary is a number).
 */
function worthHoisting(e: SymExpr): boolean {
  if (e.kind === 'num' || e.kind === 'sym') return false;
  if (e.kind === 'cmp' || e.kind === 'and' || e.kind === 'or' || e.kind === 'not') return false;
  if (
    e.kind === 'mul' &&
    e.args.length === 2 &&
    e.args[0]!.kind === 'num' &&
    e.args[0]!.value === -1 &&
    e.args[1]!.kind === 'sym'
  )
    return false;
  return true;
}

/**
 * Hoists every compound subexpression used more than once (uses from distinct parents, and
 * repeated uses within one parent) into a temporary named by `name(i)`.
 */
export function hoist(
  roots: readonly SymExpr[],
  name: (i: number) => string = (i) => `${PLACEHOLDER}${i}`,
): Optimized {
  const uses = new Map<SymExpr, number>();
  const seen = new Set<SymExpr>();
  const count = (e: SymExpr): void => {
    if (seen.has(e)) return;
    seen.add(e);
    for (const c of children(e)) {
      uses.set(c, (uses.get(c) ?? 0) + 1);
      count(c);
    }
  };
  for (const r of roots) {
    uses.set(r, (uses.get(r) ?? 0) + 1);
    count(r);
  }
  const temporaries: Temporary[] = [];
  const memo = new Map<SymExpr, SymExpr>();
  const visit = (e: SymExpr): SymExpr => {
    const hit = memo.get(e);
    if (hit !== undefined) return hit;
    const rebuilt = mapChildren(e, visit);
    let r = rebuilt;
    if (worthHoisting(e) && (uses.get(e) ?? 0) >= 2) {
      const t = name(temporaries.length);
      temporaries.push({ name: t, value: rebuilt });
      r = sym(t);
    }
    memo.set(e, r);
    return r;
  };
  return { temporaries, roots: roots.map(visit) };
}

/**
 * Replaces small integer powers by products and `^0.5` by `sqrt` in `input` (see the module
 * comment); a compound base gets a new temporary, placed just before its first use.
 */
export function expandPowers(
  input: Optimized,
  name: (i: number) => string = (i) => `${PLACEHOLDER}x${i}`,
): Optimized {
  const temporaries: Temporary[] = [];
  const atoms = new Map<SymExpr, SymExpr>();
  const atom = (x: SymExpr): SymExpr => {
    if (x.kind === 'num' || x.kind === 'sym') return x;
    const known = atoms.get(x);
    if (known !== undefined) return known;
    const t = sym(name(atoms.size));
    temporaries.push({ name: t.name, value: x });
    atoms.set(x, t);
    return t;
  };
  const memo = new Map<SymExpr, SymExpr>();
  const visit = (e: SymExpr): SymExpr => {
    const hit = memo.get(e);
    if (hit !== undefined) return hit;
    let r: SymExpr;
    if (e.kind === 'pow' && e.exp.kind === 'num') {
      const k = e.exp.value;
      const base = visit(e.base);
      const m = Math.abs(k);
      if (Number.isInteger(k) && m >= 2 && m <= MAX_PRODUCT_POWER) {
        const x = atom(base);
        let p: SymExpr;
        if (m === 4) {
          const y = atom(mul(x, x));
          p = mul(y, y);
        } else p = mul(...new Array<SymExpr>(m).fill(x));
        r = k > 0 ? p : pow(p, num(-1));
      } else if (k === 0.5) r = call('sqrt', base);
      else if (k === -0.5) r = pow(call('sqrt', base), num(-1));
      else r = pow(base, e.exp);
    } else r = mapChildren(e, visit);
    memo.set(e, r);
    return r;
  };
  for (const t of input.temporaries) temporaries.push({ name: t.name, value: visit(t.value) });
  const roots = input.roots.map(visit);
  return { temporaries, roots };
}

/**
 * shareExps, hoist and expandPowers, then the temporaries renamed `${prefix}0`, `${prefix}1`,
 * ... in evaluation order (skipping names the roots already use).
 */
export function optimize(roots: readonly SymExpr[], prefix = '_t'): Optimized {
  const taken = new Set<string>();
  for (const r of roots) for (const s of freeSymbols(r)) taken.add(s);
  const result = expandPowers(hoist(shareExps(roots)));
  const rename = new Map<string, SymExpr>();
  let next = 0;
  const temporaries = result.temporaries.map((t) => {
    let n = `${prefix}${next++}`;
    while (taken.has(n)) n = `${prefix}${next++}`;
    rename.set(t.name, sym(n));
    return { name: n, value: substitute(t.value, rename) };
  });
  return { temporaries, roots: result.roots.map((r) => substitute(r, rename)) };
}
