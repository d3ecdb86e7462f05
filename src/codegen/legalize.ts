import { freeSymbols } from '../symbolic/diff.js';
import * as S from '../symbolic/expr.js';
import { CURSOR_STATE, type KernelStatement, REFRACTORY_STATE, nextName } from './kernel-ir.js';

/** Every local a statement list reads (in values and conditions). */
export function readLocals(body: readonly KernelStatement[]): Set<string> {
  const used = new Set<string>();
  const visit = (list: readonly KernelStatement[]): void => {
    for (const s of list) {
      switch (s.kind) {
        case 'let':
        case 'letBool':
        case 'set':
          for (const n of freeSymbols(s.value)) used.add(n);
          break;
        case 'if':
          for (const n of freeSymbols(s.condition)) used.add(n);
          visit(s.then);
          visit(s.otherwise);
          break;
        case 'spikeTime':
          used.add(CURSOR_STATE);
          break;
        case 'random':
        case 'count':
        case 'gather':
        case 'neuronState':
          break;
      }
    }
  };
  visit(body);
  return used;
}

/**
 * Dead-local elimination: drops declarations (and assignments) of locals that
 * nothing reads and that are not `live` (stored states, the spike flag,
 * traces), to a fixpoint. Counts are kept: reading one also clears the counter;
 * so are spike-time tests (they declare the spike flag and the next cursor).
 * CUDA compiles with warnings as errors, and an unused variable is a warning.
 */
export function removeDeadLocals(
  body: readonly KernelStatement[],
  live: ReadonlySet<string>,
): KernelStatement[] {
  let current = [...body];
  for (;;) {
    const used = readLocals(current);
    const keep = (name: string): boolean => used.has(name) || live.has(name);
    const prune = (list: readonly KernelStatement[]): KernelStatement[] =>
      list.flatMap((s): KernelStatement[] => {
        switch (s.kind) {
          case 'let':
          case 'letBool':
          case 'set':
          case 'random':
          case 'gather':
          case 'neuronState':
            return keep(s.name) ? [s] : [];
          case 'count':
          case 'spikeTime':
            return [s];
          case 'if': {
            const then = prune(s.then);
            const otherwise = prune(s.otherwise);
            return then.length === 0 && otherwise.length === 0 ? [] : [{ ...s, then, otherwise }];
          }
        }
      });
    const next = prune(current);
    if (countStatements(next) === countStatements(current)) return next;
    current = next;
  }
}

function countStatements(body: readonly KernelStatement[]): number {
  return body.reduce(
    (n, s) =>
      n + 1 + (s.kind === 'if' ? countStatements(s.then) + countStatements(s.otherwise) : 0),
    0,
  );
}

/** The smallest normal float32, 2^-126: a state below it in magnitude is stored as 0. */
export const SMALLEST_NORMAL_F32 = 2 ** -126;

/**
 * Subnormal flush: sets every float state's end-of-step value below 2^-126 in magnitude to 0,
 * in either precision, the same on every backend. Why: a decaying state with no input (a
 * conductance, a trace) sinks into float32's subnormal range and stays there, since x * 0.98
 * rounds back to x for the smallest subnormals; on x86 every operation on it is then several
 * times slower (measured: the CPU backend's COBA kernel 2.3 -> 5.7 ns per neuron after 400 ms).
 * Brian2 with -ffast-math and JAX on the CPU (BrainPy) flush every subnormal in hardware.
 * Counters kept as floats (refractory steps, spike-time cursors) are whole numbers and are
 * left alone.
 */
export function flushSubnormalStates(
  body: readonly KernelStatement[],
  states: readonly string[],
): KernelStatement[] {
  const flushed = states
    .filter((s) => s !== REFRACTORY_STATE && s !== CURSOR_STATE)
    .map((s): KernelStatement => {
      const next = S.sym(nextName(s));
      const tiny = S.cmp('<', S.call('abs', next), S.num(SMALLEST_NORMAL_F32));
      return { kind: 'set', name: nextName(s), value: S.where(tiny, S.num(0), next) };
    });
  return [...body, ...flushed];
}
