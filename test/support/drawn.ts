import { type DrawnWeights, drawnWeights } from '../../src/codegen/drawn-weights.js';
import { makeSourceFile } from '../../src/diagnostics/source.js';
import type { Expr } from '../../src/ir/types.js';
import { DIMENSIONLESS } from '../../src/units/dimension.js';

const span = { file: makeSourceFile('test.spk', ''), start: 0, end: 0 };
const literal = (value: number): Expr => ({
  kind: 'literal',
  value,
  dimension: DIMENSIONLESS,
  span,
});

/** The drawn weights of a procedural projection from nPre neurons whose weight is `distribution(a, b)`. */
export function drawnWeightsOf(
  distribution: 'normal' | 'uniform',
  a: number,
  b: number,
  nPre: number,
): DrawnWeights {
  const weight: Expr = { kind: 'random', distribution, args: [literal(a), literal(b)], span };
  const result = drawnWeights(weight, nPre, 'P');
  if (!('weights' in result)) throw new Error(result.problem);
  return result.weights;
}
