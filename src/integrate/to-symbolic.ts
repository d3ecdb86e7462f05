/**
 * IR expressions -> symbolic expressions (src/symbolic), the form the integrators
 * differentiate, linearise and simplify.
 *
 * Symbols, by the name a backend binds them to:
 * - a state `V`: its start-of-step value V_n; `prev(V)` (event contexts) is the same symbol;
 * - a parameter `tau`, the neuron's input current `I`: their names;
 * - `t` (t_n), `dt`, `w` (the synapse weight), `g` (the value an output receives);
 * - `post.V`, `pre.V`: the symbol named 'post.V' / 'pre.V'.
 * Named subexpressions are inlined (so that derivatives see through them) when their
 * values are given, which {@link subexpressionValues} computes for a model.
 * Literals are already in internal units and become plain numbers.
 */

import { InternalError, assertNever } from '../diagnostics/diagnostic.js';
import type { DynamicsModel, Expr as IrExpr } from '../ir/types.js';
import { refName } from '../ir/walk.js';
import {
  type Expr as SymExpr,
  add,
  and,
  call,
  cmp,
  div,
  mul,
  neg,
  not,
  num,
  or,
  pow,
  sub,
  sym,
  where,
} from '../symbolic/expr.js';

/**
 * The symbol `wiener()` becomes inside a differential equation, so that the noise term can
 * be split off (`rhs = f + sigma * wiener()`). Never a valid .spk name, never in an update.
 */
export const WIENER_SYMBOL = 'wiener()';

export interface ToSymbolicOptions {
  /** Symbolic values of named subexpressions; a subexpression not in the map stays a symbol. */
  readonly subexpressions?: ReadonlyMap<string, SymExpr>;
  /** What `wiener()` becomes; without it, `wiener()` is an internal error (it belongs in equations only). */
  readonly wiener?: SymExpr;
  /**
   * Consulted first at every node: a symbolic form for it, or undefined for the
   * default. Code generation uses it to rename states (end-of-step values in
   * events) and to turn a stimulus's section and random draws into kernel forms.
   */
  readonly hook?: (e: IrExpr) => SymExpr | undefined;
}

/** Converts an IR expression; throws InternalError on forms that have no symbolic meaning (random draws, section). */
export function toSymbolic(e: IrExpr, options: ToSymbolicOptions = {}): SymExpr {
  const memo = new Map<IrExpr, SymExpr>();
  const visit = (x: IrExpr): SymExpr => {
    const hit = memo.get(x);
    if (hit !== undefined) return hit;
    const r = options.hook?.(x) ?? convert(x, visit, options);
    memo.set(x, r);
    return r;
  };
  return visit(e);
}

function convert(e: IrExpr, visit: (x: IrExpr) => SymExpr, options: ToSymbolicOptions): SymExpr {
  switch (e.kind) {
    case 'literal':
      return num(e.value);
    case 'bool':
      return num(e.value ? 1 : 0);
    case 'ref': {
      const name = refName(e.ref);
      if (e.ref.kind === 'subexpression') return options.subexpressions?.get(name) ?? sym(name);
      return sym(name);
    }
    case 'prev':
      return sym(e.state);
    case 'unary':
      return e.op === 'neg' ? neg(visit(e.operand)) : not(visit(e.operand));
    case 'binary': {
      const a = visit(e.left);
      const b = visit(e.right);
      switch (e.op) {
        case '+':
          return add(a, b);
        case '-':
          return sub(a, b);
        case '*':
          return mul(a, b);
        case '/':
          return div(a, b);
        case '^':
          return pow(a, b);
        case 'and':
          return and(a, b);
        case 'or':
          return or(a, b);
        case '<':
        case '<=':
        case '>':
        case '>=':
        case '==':
        case '!=':
          return cmp(e.op, a, b);
      }
    }
    case 'call': {
      const args = e.args.map(visit);
      const arg = (i: number): SymExpr => {
        const a = args[i];
        if (a === undefined)
          throw new InternalError(`${e.fn}(...) has ${args.length} arguments in the IR`);
        return a;
      };
      switch (e.fn) {
        case 'min':
        case 'max':
          return call(e.fn, arg(0), arg(1));
        case 'clip':
          // clip(x, lo, hi) = min(max(x, lo), hi)
          return call('min', call('max', arg(0), arg(1)), arg(2));
        case 'where':
          return where(arg(0), arg(1), arg(2));
        default:
          return call(e.fn, arg(0));
      }
    }
    case 'wiener':
      if (options.wiener === undefined)
        throw new InternalError('wiener() outside a differential equation');
      return options.wiener;
    case 'random':
      throw new InternalError(`a random ${e.distribution}(...) draw has no symbolic form`);
    case 'section':
      throw new InternalError('section(...) has no symbolic form');
    default:
      return assertNever(e);
  }
}

/** The symbolic value of every named subexpression of `model`, each with the earlier ones inlined. */
export function subexpressionValues(
  model: Pick<DynamicsModel, 'subexpressions'>,
): Map<string, SymExpr> {
  const values = new Map<string, SymExpr>();
  // The IR keeps subexpressions in dependency order, so one pass inlines everything.
  for (const s of model.subexpressions)
    values.set(s.name, toSymbolic(s.value, { subexpressions: values }));
  return values;
}

/**
 * The right-hand side of every differential equation of `model` (state name -> dX/dt), in
 * equation order, with subexpressions inlined and `wiener()` as the symbol {@link WIENER_SYMBOL}.
 */
export function equationRhs(
  model: Pick<DynamicsModel, 'subexpressions' | 'equations'>,
): Map<string, SymExpr> {
  const subexpressions = subexpressionValues(model);
  const wiener = sym(WIENER_SYMBOL);
  return new Map(
    model.equations.map((eq) => [eq.state, toSymbolic(eq.rhs, { subexpressions, wiener })]),
  );
}
