/**
 * The standard normal distribution's density, distribution function and quantile, in double,
 * for building the tables of drawn weights (codegen/drawn-weights.ts) on the host. Accuracy:
 * `normalCdf` to about 1e-15 absolute for |z| <= 8; `normalQuantile` to about 1e-13 for
 * 2^-12 <= p <= 1 - 2^-12 (what the tables use), its error growing as 1e-16 / phi(z) beyond.
 */

const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

/** phi(z) = exp(-z^2 / 2) / sqrt(2 pi). */
export function normalDensity(z: number): number {
  return INV_SQRT_2PI * Math.exp(-0.5 * z * z);
}

/**
 * Phi(z) by Marsaglia's series Phi(z) = 1/2 + phi(z) (z + z^3/3 + z^5/(3 5) + ...): every term
 * has the sign of z, so the sum loses nothing to cancellation; for z < 0 the result is
 * 1/2 - phi(|z|) S(|z|), whose absolute error stays near 1e-16. Beyond |z| = 8 it is 0 or 1
 * to double precision.
 */
export function normalCdf(z: number): number {
  if (Number.isNaN(z)) return Number.NaN;
  if (z < -8) return 0;
  if (z > 8) return 1;
  const a = Math.abs(z);
  let term = a;
  let sum = a;
  for (let n = 3; term > 1e-17 * sum; n += 2) {
    term *= (a * a) / n;
    sum += term;
  }
  const half = normalDensity(a) * sum;
  return z < 0 ? 0.5 - half : 0.5 + half;
}

/** Phi^-1(p) for 0 < p < 1, by bisection on normalCdf (monotone, so it cannot fail to converge). */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError(`normalQuantile needs 0 < p < 1, not ${p}`);
  let lo = -8.5;
  let hi = 8.5;
  for (let i = 0; i < 80 && hi - lo > 1e-14; i++) {
    const mid = 0.5 * (lo + hi);
    if (normalCdf(mid) < p) lo = mid;
    else hi = mid;
  }
  return 0.5 * (lo + hi);
}
