import { freeSymbols } from '../symbolic/diff.js';
import { CURSOR_STATE, type KernelStatement } from './kernel-ir.js';

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
