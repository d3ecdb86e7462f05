/**
 * Readable infix printing of expressions (`inspect --stage update`), with a precedence
 * table in the style of sympy's StrPrinter: a child is parenthesised only when it binds
 * more loosely than its position requires.
 *
 * Conventions: `a - b` for `a + (-1)*b`, `a/b` for `a*b^-1`, `-x` for `(-1)*x`, `^` for
 * powers (right-associative), `and`/`or`/`not` for logic, `where(c, a, b)` for selection.
 * Sums print their positive terms first, then negative ones, each group in canonical
 * order with the constant last, so `V_rest - V` rather than `-V + V_rest`.
 */

import { type Expr, children, mul, num, pow } from './expr.js';

/** Binding strength of each printed form; higher binds tighter. */
export const PRECEDENCE = {
  or: 10,
  and: 20,
  not: 30,
  cmp: 40,
  add: 50,
  /** A leading minus sign: `-x`, `-2*y`, `-3`. */
  neg: 55,
  mul: 60,
  pow: 70,
  atom: 100,
} as const;

function formatNumber(v: number): string {
  if (Number.isNaN(v)) return 'nan';
  if (v === Infinity) return 'inf';
  if (v === -Infinity) return '-inf';
  return String(v);
}

/** A product split for printing: sign, |coefficient|, numerator and denominator factors. */
interface Fraction {
  readonly negative: boolean;
  readonly coeff: number;
  readonly numer: readonly Expr[];
  readonly denom: readonly Expr[];
}

/** Splits a product (or a lone power) into numerator and denominator; `x^-2` -> den `x^2`. */
function fraction(e: Expr): Fraction {
  const factors = e.kind === 'mul' ? e.args : [e];
  let coeff = 1;
  const numer: Expr[] = [];
  const denom: Expr[] = [];
  for (const f of factors) {
    if (f.kind === 'num') coeff = f.value;
    else if (f.kind === 'pow' && f.exp.kind === 'num' && f.exp.value < 0) {
      denom.push(f.exp.value === -1 ? f.base : pow(f.base, num(-f.exp.value)));
    } else numer.push(f);
  }
  return { negative: coeff < 0, coeff: Math.abs(coeff), numer, denom };
}

/** Does `e` print with a leading minus sign? */
function isNegative(e: Expr): boolean {
  const lead = e.kind === 'mul' ? e.args[0] : e;
  return lead?.kind === 'num' && lead.value < 0;
}

/** The precedence of the printed form of `e`. */
function precedence(e: Expr): number {
  switch (e.kind) {
    case 'num':
      return e.value < 0 ? PRECEDENCE.neg : PRECEDENCE.atom;
    case 'sym':
    case 'call':
    case 'where':
      return PRECEDENCE.atom;
    case 'pow':
      return e.exp.kind === 'num' && e.exp.value < 0 ? PRECEDENCE.mul : PRECEDENCE.pow;
    case 'mul':
      return isNegative(e) ? PRECEDENCE.neg : PRECEDENCE.mul;
    case 'add':
      return PRECEDENCE.add;
    case 'cmp':
      return PRECEDENCE.cmp;
    case 'not':
      return PRECEDENCE.not;
    case 'and':
      return PRECEDENCE.and;
    case 'or':
      return PRECEDENCE.or;
  }
}

/** Prints `e`, in parentheses when it binds more loosely than `level`. */
export function parenthesize(e: Expr, level: number): string {
  const s = formatMath(e);
  return precedence(e) < level ? `(${s})` : s;
}

function formatProduct(e: Expr): string {
  const { negative, coeff, numer, denom } = fraction(e);
  const parts = numer.map((f) => parenthesize(f, PRECEDENCE.mul));
  if (coeff !== 1 || parts.length === 0) parts.unshift(formatNumber(coeff));
  let s = parts.join('*');
  if (denom.length > 0) {
    // A single power or atom needs no parentheses after '/'; anything else does.
    const d =
      denom.length === 1
        ? parenthesize(denom[0]!, PRECEDENCE.pow)
        : `(${denom.map((f) => parenthesize(f, PRECEDENCE.mul)).join('*')})`;
    s = `${s}/${d}`;
  }
  return negative ? `-${s}` : s;
}

function formatSum(terms: readonly Expr[]): string {
  const key = (t: Expr): number => (isNegative(t) ? 2 : 0) + (t.kind === 'num' ? 1 : 0);
  // Array.prototype.sort is stable, so canonical order survives within each group.
  const ordered = [...terms].sort((a, b) => key(a) - key(b));
  return ordered
    .map((t, i) => {
      if (i === 0) return parenthesize(t, PRECEDENCE.add);
      if (!isNegative(t)) return ` + ${parenthesize(t, PRECEDENCE.add)}`;
      // `x - (y + z)`: the subtrahend binds tighter than a sum.
      return ` - ${parenthesize(mul(num(-1), t), PRECEDENCE.add + 1)}`;
    })
    .join('');
}

/** Readable infix form of `e`, e.g. `-(V - V_rest)/tau`, `a*x^2 + b`. */
export function formatMath(e: Expr): string {
  switch (e.kind) {
    case 'num':
      return formatNumber(e.value);
    case 'sym':
      return e.name;
    case 'add':
      return formatSum(e.args);
    case 'mul':
      return formatProduct(e);
    case 'pow':
      if (e.exp.kind === 'num' && e.exp.value < 0) return formatProduct(e);
      // Right-associative, but `x^(y^z)` is clearer than `x^y^z`.
      return `${parenthesize(e.base, PRECEDENCE.pow + 1)}^${parenthesize(e.exp, PRECEDENCE.atom)}`;
    case 'call':
    case 'where':
      return `${e.kind === 'call' ? e.fn : 'where'}(${children(e).map(formatMath).join(', ')})`;
    case 'cmp':
      return `${parenthesize(e.a, PRECEDENCE.cmp + 1)} ${e.op} ${parenthesize(e.b, PRECEDENCE.cmp + 1)}`;
    case 'not':
      return `not ${parenthesize(e.arg, PRECEDENCE.cmp + 1)}`;
    case 'and':
      return e.args.map((a) => parenthesize(a, PRECEDENCE.and + 1)).join(' and ');
    case 'or':
      return e.args.map((a) => parenthesize(a, PRECEDENCE.or + 1)).join(' or ');
  }
}
