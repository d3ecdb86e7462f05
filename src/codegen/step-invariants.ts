import { freeSymbols, substitute } from '../symbolic/diff.js';
import * as S from '../symbolic/expr.js';

/** A value computed once per neuron when the network is built, kept as an internal state. */
export interface StepInvariant {
  /** The internal state that holds it (`@invariant<k>`). */
  readonly state: string;
  /** Its value from the neuron's constant states (their initial values), with constants folded. */
  readonly value: S.Expr;
}

/**
 * The costly parts of a neuron's update that read only states that never change (a parameter
 * set per neuron, `tau ~ normal(...)`, or a state without an equation that nothing assigns):
 * `exprel(-dt/tau)` is the same in every step, so each such part becomes an internal state
 * computed once per neuron when the network is built (initialStates, in float64, as a
 * parameter's value is folded when its kernel is generated), and the kernel reads it instead
 * of calling exp and log for every neuron in every step. Only parts with a function call are
 * taken out: a product or a quotient costs less than the load and store of a state.
 */
export class StepInvariants {
  readonly values: StepInvariant[] = [];
  /** Temporaries whose values read only constant states, by symbol: their values. */
  private readonly temporaries = new Map<string, S.Expr>();
  private readonly hoisted = new Map<S.Expr, S.Expr>();

  constructor(private readonly constant: ReadonlySet<string>) {}

  /** Notes a temporary (`_t0 = 1/tau`) so that parts reading it count as constant too. */
  temporary(symbol: string, value: S.Expr): void {
    if (this.invariant(value)) this.temporaries.set(symbol, substitute(value, this.temporaries));
  }

  /** `e` with each largest constant part that calls a function read from an internal state. */
  hoist(e: S.Expr): S.Expr {
    if (e.kind === 'num' || e.kind === 'sym') return e;
    if (this.invariant(e) && callsFunction(e)) {
      let state = this.hoisted.get(e);
      if (state === undefined) {
        state = S.sym(`@invariant${this.values.length}`);
        const value = substitute(e, this.temporaries);
        this.values.push({ state: state.name, value });
        this.hoisted.set(e, state);
        // Later parts that read it are constant too.
        this.temporaries.set(state.name, value);
      }
      return state;
    }
    return S.mapChildren(e, (child) => this.hoist(child));
  }

  /** Whether `e` is one of the internal states hoist made. */
  isHoisted(e: S.Expr): boolean {
    return e.kind === 'sym' && this.values.some((v) => v.state === e.name);
  }

  private invariant(e: S.Expr): boolean {
    const free = freeSymbols(e);
    return free.size > 0 && [...free].every((x) => this.constant.has(x) || this.temporaries.has(x));
  }
}

function callsFunction(e: S.Expr): boolean {
  return e.kind === 'call' || S.children(e).some(callsFunction);
}
