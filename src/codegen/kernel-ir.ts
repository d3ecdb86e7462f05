import type { StepInvariant } from './step-invariants.js';
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
   * Declares a float local with this element's entry of a delivery counter
   * (see Counter in network.ts: spikes that arrived, or their summed integer
   * weights), read from row step % slots, and clears it.
   */
  | { readonly kind: 'count'; readonly name: string; readonly counter: string }
  /**
   * Declares a float local with the sum, over the connections of projection
   * `route` that end on this neuron (ascending pre-synaptic index, so every
   * backend adds in the same order), of the value `state` of owner `owner`:
   * per pre-synaptic neuron (`over: 'sources'`) or per synapse (`'synapses'`).
   */
  | {
      readonly kind: 'gather';
      readonly name: string;
      readonly route: number;
      readonly owner: string;
      readonly state: string;
      readonly over: 'sources' | 'synapses';
    }
  /**
   * Declares a float local with the start-of-step value of state `state` of the pre- or
   * post-synaptic neuron of this element of projection `route`: a per-pre element's own pre
   * neuron, or a synapse's pre or post neuron (from its stored row). The synapse kernels run
   * before the neurons', so the value is the one the neurons' kernels start from.
   */
  | {
      readonly kind: 'neuronState';
      readonly name: string;
      readonly route: number;
      readonly side: 'pre' | 'post';
      readonly state: string;
    }
  /**
   * Declares the condition local `name`, true when the next event of this
   * neuron in the table of SpikeTimes source `owner` (the one CURSOR_STATE
   * points at) is at this step, and the float local `nextName(CURSOR_STATE)`,
   * the cursor moved past that event when it fired.
   */
  | { readonly kind: 'spikeTime'; readonly name: string; readonly owner: string }
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

/** Whether any of `kernels` draws a standard normal (its module then needs the Box-Muller helper). */
export function drawsNormal(kernels: readonly PopulationKernel[]): boolean {
  const visit = (list: readonly KernelStatement[]): boolean =>
    list.some(
      (s) =>
        (s.kind === 'random' && s.distribution === 'normal') ||
        (s.kind === 'if' && (visit(s.then) || visit(s.otherwise))),
    );
  return kernels.some((k) => visit(k.body));
}

/** A kernel's read of a neuron's state (see `neuronState`). */
export type NeuronRead = Extract<KernelStatement, { kind: 'neuronState' }>;

/** The local that holds a state's value at the end of the step. */
export function nextName(state: string): string {
  return `${state}@next`;
}

/** The refractory counter, kept as a float state (whole numbers, exact in float32). */
export const REFRACTORY_STATE = '@refractory';
/**
 * A neuron's refractory period in whole steps, kept as a float state where its population
 * sets a parameter of the period per neuron (perNeuronRefractory); computed once on the host
 * (initialStates), never changed.
 */
export const REFRACTORY_STEPS_STATE = '@refractory_steps';
/**
 * A SpikeTimes neuron's cursor, kept as a float state: how many of its events
 * (its row of the source's table) are behind it (whole numbers, exact in float32
 * below 2^24 events). It starts at 0.
 */
export const CURSOR_STATE = '@cursor';
/** The local that says whether the neuron spiked in this step. */
export const SPIKED = '@spiked';
/** The step counter as a float local, provided by every skeleton. */
export const STEP = '@step';
/** The neuron's index in its population as a float local (exact below 2^24), provided by every skeleton. */
export const INDEX = '@index';
/** Time at the start of the step, t_n = step * dt, provided by every skeleton. */
export const TIME = 't';

/**
 * One kernel of a step: a thread per element (a neuron of a population, a
 * pre-synaptic neuron of a projection whose synapse state lives per pre
 * neuron, or a synapse), the states it owns (in buffer order) and the body
 * that updates them.
 */
export interface PopulationKernel {
  /** Owner of the states: a population name, `@pre<k>` for per-pre and `@synapse<k>` for per-synapse state. */
  readonly population: string;
  readonly size: number;
  /** Buffer order of the per-element floats (REFRACTORY_STATE, merged synapse states `@syn<k>.g`, ...). */
  readonly states: readonly string[];
  /** Computes `nextName(s)` for every state, and the SPIKED condition when `spikes`. */
  readonly body: readonly KernelStatement[];
  /** True when the kernel emits spikes (SPIKED is defined): recorded, and appended to the spike ring. */
  readonly spikes: boolean;
  /**
   * The locals that hold what a recording may name besides the states (whose post-step
   * values are `nextName(state)`): a neuron's subexpressions, from its post-step states.
   */
  readonly values?: ReadonlyMap<string, string>;
  /** The internal states `@invariant<k>` a neuron's kernel reads, each computed once per neuron (step-invariants.ts). */
  readonly invariants?: readonly StepInvariant[];
}

/** The name of a population's step function on every target. */
export function entryPointName(population: string): string {
  return `step_${population.replace(/[^A-Za-z0-9_]/g, '_')}`;
}
