import type { Expr } from '../ir/types.js';
import { type U32, mulhi32 } from '../random/philox.js';
import { normalDensity, normalQuantile } from '../random/normal-quantile.js';
import { freeSymbols } from '../symbolic/diff.js';
import { evaluate } from '../symbolic/evaluate.js';
import { linearIn } from '../symbolic/linear.js';
import { withStandardDraws } from './synaptic-values.js';

/**
 * Weights of a procedural projection, drawn again for each connection at each spike (BrainPy's
 * EventJitFPUniformLinear and EventJitFPNormalLinear): the weight is c0 + c1 X for one standard
 * draw X, uniform or normal. The kernels compute it from a Philox word x with integer
 * operations only, so every backend adds the same integer (see quantizeWeights in
 * synaptic-values.ts: the counters sum weights in quanta with 32-bit integer atomics):
 *
 *   b = x >> (32 - bits),   f = x << bits (mod 2^32),   d = knots[b + 1] - knots[b],
 *   weight = knots[b] + mulhi(f, d) + (f d mod 2^32) >> 31      (in quanta)
 *
 * that is, linear interpolation of the weight's quantile function between 2^bits + 1 knots
 * placed at the probabilities k / 2^bits, rounded to the nearest quantum (the last term rounds
 * the 64-bit product f d / 2^32 half up; a floor would bias the mean by half a quantum). For a uniform draw the
 * interpolation is exact (bits = 1). For a normal draw the inner knots are exact quantiles
 * (bits = NORMAL_KNOT_BITS) and the two outer ones are placed so that each tail segment keeps
 * the normal tail's mean: the mean is exact, the variance 5e-5 above sigma^2, and draws stay
 * within 3.99 sigma (the normal has 7e-5 of its mass beyond).
 *
 * The quantum is the power of two for which nPre times the largest |weight| stays below 2^30:
 * a post neuron's sum of one step cannot overflow however many of its pre neurons connect and
 * fire together.
 */
export interface DrawnWeights {
  readonly bits: number;
  /** 2^bits + 1 integers, nondecreasing: the weight's quantile function in quanta. */
  readonly knots: Int32Array;
  /** The size of a quantum in internal units: the counters' sums are multiplied by it. */
  readonly quantum: number;
}

export const NORMAL_KNOT_BITS = 12;

/**
 * The drawn weights of a procedural projection, or why its weight expression cannot be drawn
 * in the kernels (`storable`: stored connections would take that expression).
 */
export function drawnWeights(
  weight: Expr,
  nPre: number,
  projection: string,
): { readonly weights: DrawnWeights } | { readonly problem: string; readonly storable: boolean } {
  const { value, draws } = withStandardDraws(weight);
  const free = freeSymbols(value);
  // Simplification may have removed draws (normal(0 nA, 0 nA)): the one left, if any.
  const draw = draws.find((d) => free.has(d.name));
  if ([...free].some((name) => name !== draw?.name))
    return {
      problem: `a procedural projection draws a weight from one normal(...) or uniform(...) at each connection; ${free.has('i') || free.has('j') ? 'this one depends on the indices i or j' : 'this one combines several draws'}`,
      storable: true,
    };
  const linear = draw === undefined ? undefined : linearIn(value, draw.name);
  if (linear?.kind === 'nonlinear')
    return {
      problem: `a procedural projection's weight must be a constant plus a constant times one normal(...) or uniform(...) draw`,
      storable: true,
    };
  const c0 = evaluate(linear?.rest ?? value, {});
  const c1 = linear === undefined ? 0 : evaluate(linear.coeff, {});
  const bits = draw?.distribution === 'normal' ? NORMAL_KNOT_BITS : 1;
  // A negative c1 walks the quantiles backwards: x -> 1 - x keeps the distribution and makes
  // the knots nondecreasing.
  const standard = draw?.distribution === 'normal' ? normalKnots(bits) : [0, 0.5, 1];
  const values = standard.map((q, k) =>
    c1 >= 0 ? c0 + c1 * q : c0 + c1 * standard[standard.length - 1 - k]!,
  );
  const unbounded = values.find((v) => !Number.isFinite(v));
  if (unbounded !== undefined)
    return {
      problem: `the weight of projection ${projection} can be ${unbounded}: it must be a finite number`,
      storable: false,
    };
  const largest = Math.max(Math.abs(values[0]!), Math.abs(values[values.length - 1]!));
  const quantum = largest === 0 ? 1 : 2 ** Math.ceil(Math.log2((nPre * largest) / 2 ** 30));
  return {
    weights: { bits, knots: Int32Array.from(values, (v) => Math.round(v / quantum)), quantum },
  };
}

/**
 * The knots of the standard normal's quantile function at k / 2^bits: the exact quantiles
 * inside, and outer knots z_0 = 2 m - z_1 where m = -phi(z_1) 2^bits is the mean of the
 * normal below z_1 (a uniform segment from z_0 to z_1 has that mean); symmetric.
 */
function normalKnots(bits: number): number[] {
  const n = 2 ** bits;
  const knots = new Array<number>(n + 1).fill(0);
  for (let k = 1; k < n / 2; k++) {
    knots[k] = normalQuantile(k / n);
    knots[n - k] = -knots[k]!;
  }
  const z1 = knots[1]!;
  knots[0] = 2 * (-normalDensity(z1) * n) - z1;
  knots[n] = -knots[0];
  return knots;
}

/** The weight (in quanta) that Philox word x draws: the kernels' integer interpolation. */
export function drawnWeight(w: DrawnWeights, x: U32): number {
  const b = x >>> (32 - w.bits);
  const low = w.knots[b]!;
  const f = (x << w.bits) >>> 0;
  const d = (w.knots[b + 1]! - low) >>> 0;
  return low + mulhi32(f, d) + (Math.imul(f, d) >>> 31);
}
