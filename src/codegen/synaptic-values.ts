import { toSymbolic } from '../integrate/to-symbolic.js';
import type { Expr } from '../ir/types.js';
import { streamId } from '../random/philox.js';
import { PHILOX_RUN_MAX, standardDraws } from '../random/philox-wasm.js';
import { freeSymbols } from '../symbolic/diff.js';
import { evaluate } from '../symbolic/evaluate.js';
import type { CompressedRows } from './connectivity.js';
import * as S from '../symbolic/expr.js';
import { simplify } from '../symbolic/simplify.js';

/** A standard draw of a weight or delay expression: symbol `name` in its symbolic form. */
export interface StandardDraw {
  readonly name: string;
  readonly distribution: 'normal' | 'uniform';
}

/** normal(a, b) as a + b * z from a standard normal z, uniform(a, b) as a + (b - a) * u from U[0, 1). */
export function fromStandardDraw(
  distribution: 'normal' | 'uniform',
  a: S.Expr,
  b: S.Expr,
  draw: S.Expr,
): S.Expr {
  return distribution === 'normal' ? S.add(a, S.mul(b, draw)) : S.add(a, S.mul(S.sub(b, a), draw));
}

/**
 * A weight or delay expression in symbolic form, simplified, with each random call replaced by
 * its affine map of a standard draw (`@draw<k>`, numbered in order): normal(a, b) is
 * a + b * N(0, 1) and uniform(a, b) is a + (b - a) * U[0, 1).
 */
export function withStandardDraws(e: Expr): {
  readonly value: S.Expr;
  readonly draws: readonly StandardDraw[];
} {
  const draws: StandardDraw[] = [];
  const hook = (x: Expr): S.Expr | undefined => {
    if (x.kind !== 'random') return undefined;
    const draw = S.sym(`@draw${draws.length}`);
    draws.push({ name: `@draw${draws.length}`, distribution: x.distribution });
    const [a, b] = x.args.map((y) => toSymbolic(y, { hook })) as [S.Expr, S.Expr];
    return fromStandardDraw(x.distribution, a, b, draw);
  };
  return { value: simplify(toSymbolic(e, { hook })), draws };
}

/**
 * The value of a weight or delay expression for each synapse of stored rows,
 * computed once on the host in float64 and handed to every backend. `i` and
 * `j` are the synapse's pre- and post-synaptic indices (in the projection's
 * slices); each random draw of the expression is a Philox draw with key (seed,
 * streamId(key)) and counter (synapse, 0, draw number, 0); synapses are
 * numbered in the stored rows' order (by pre neuron, then post neuron).
 */
export function synapticValues(
  e: Expr,
  rows: CompressedRows,
  seed: number,
  key: string,
): Float64Array {
  const count = rows.outTargets.length;
  const { value, draws } = withStandardDraws(e);
  const values = new Float64Array(count);
  if (freeSymbols(value).size === 0) return values.fill(evaluate(value, {}));
  const stream = streamId(key);
  const env = new Map<string, number>();
  const drawn = draws.map(() => new Float64Array(Math.min(count, PHILOX_RUN_MAX)));
  let pre = 0;
  for (let from = 0; from < count; from += PHILOX_RUN_MAX) {
    const chunk = Math.min(PHILOX_RUN_MAX, count - from);
    draws.forEach((d, purpose) =>
      standardDraws(d.distribution, seed, stream, purpose, from, chunk, drawn[purpose]!),
    );
    for (let k = from; k < from + chunk; k++) {
      while (rows.outStart[pre + 1]! <= k) pre++;
      env.set('i', pre);
      env.set('j', rows.outTargets[k]!);
      draws.forEach((d, purpose) => env.set(d.name, drawn[purpose]![k - from]!));
      values[k] = evaluate(value, env);
    }
  }
  return values;
}

/**
 * Weights as integers in units of one power of two, `quantum`, chosen so that
 * the weights arriving at one neuron in one step always sum below 2^31: the
 * kernels add them with 32-bit integer atomics, which give the same sum in
 * every order, hence the same result on every backend and every run. The
 * bound is the largest sum of |weight| over a post neuron's incoming synapses
 * (each synapse delivers at most once per step).
 */
export function quantizeWeights(
  weights: Float64Array,
  postOf: Uint32Array,
  nPost: number,
): { readonly quantum: number; readonly values: Int32Array } {
  const incoming = new Float64Array(nPost);
  weights.forEach((w, k) => {
    incoming[postOf[k]!]! += Math.abs(w);
  });
  const largest = incoming.reduce((a, b) => Math.max(a, b), 0);
  const quantum = largest === 0 ? 1 : 2 ** Math.ceil(Math.log2(largest / 2 ** 30));
  return { quantum, values: Int32Array.from(weights, (w) => Math.round(w / quantum)) };
}
