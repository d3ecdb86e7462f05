import type { Expr as SymExpr } from '../symbolic/expr.js';

/**
 * The kernel IR: what one thread does for one neuron in one step, shared by
 * every target. Each target's emitter wraps it in its skeleton (index, loads,
 * stores, spike append, recording) and prints the expressions with its printer.
 *
 * Every value is a float of the kernel's precision or a condition. Symbols in
 * expressions name locals: a state's start-of-step value is its own name, its
 * new value is `name@next` (see `nextName`), `t` and `@step` are provided by
 * the skeleton (`@step` as a float, exact below 2^24 steps).
 */
export type KernelStatement =
  /** Declares a float local. */
  | { readonly kind: 'let'; readonly name: string; readonly value: SymExpr }
  /** Declares a condition local. */
  | { readonly kind: 'letBool'; readonly name: string; readonly value: SymExpr }
  /** Assigns a float local declared before. */
  | { readonly kind: 'set'; readonly name: string; readonly value: SymExpr }
  | {
      readonly kind: 'if';
      readonly condition: SymExpr;
      readonly then: readonly KernelStatement[];
      readonly otherwise: readonly KernelStatement[];
    }
  /**
   * Declares a float local holding a random draw from Philox-4x32-10 with key
   * (seed, stream) and counter (element, step, purpose, 0): standard normal
   * (Box-Muller on the first two words) or uniform in [0, 1) (first word).
   */
  | {
      readonly kind: 'random';
      readonly name: string;
      readonly distribution: 'normal' | 'uniform';
      readonly stream: number;
      readonly purpose: number;
    };

/** The local that holds a state's value at the end of the step. */
export function nextName(state: string): string {
  return `${state}@next`;
}

/** The refractory counter, kept as a float state (whole numbers, exact in float32). */
export const REFRACTORY_STATE = '@refractory';
/** The local that says whether the neuron spiked in this step. */
export const SPIKED = '@spiked';
/** The step counter as a float local, provided by every skeleton. */
export const STEP = '@step';
/** The neuron's index in its population as a float local (exact below 2^24), provided by every skeleton. */
export const INDEX = '@index';
/** Time at the start of the step, t_n = step * dt, provided by every skeleton. */
export const TIME = 't';

/** One population's step: the states it keeps (in buffer order) and the body that updates them. */
export interface PopulationKernel {
  readonly population: string;
  readonly size: number;
  /** Buffer order of the per-neuron floats; includes REFRACTORY_STATE when the model has a refractory period. */
  readonly states: readonly string[];
  /** Computes `nextName(s)` for every state and the SPIKED condition. */
  readonly body: readonly KernelStatement[];
  /** True when the model can spike (SPIKED is defined). */
  readonly spikes: boolean;
}

/** The name of a population's step function on every target. */
export function entryPointName(population: string): string {
  return `step_${population.replace(/[^A-Za-z0-9_]/g, '_')}`;
}
