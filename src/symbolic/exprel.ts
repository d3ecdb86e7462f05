/**
 * `exprel(z) = (exp(z) - 1) / z`, with `exprel(0) = 1`: the step factor of exponential
 * Euler (`x + dt * exprel(J dt) * f`). The naive formula loses every digit as z -> 0
 * (`exp(z) - 1` cancels), so both versions here avoid it.
 */

const f32 = Math.fround;

/**
 * Float64 `exprel`, accurate to about 1 ulp for every z: `expm1` does not cancel.
 * `exprel(+inf) = +inf`, `exprel(-inf) = 0`, NaN stays NaN.
 */
export function exprel64(z: number): number {
  if (z === 0) return 1;
  if (z === Infinity) return Infinity;
  return Math.expm1(z) / z;
}

/**
 * Float32 `exprel`, emulated with `Math.fround` after every operation. This is the formula
 * the WGSL and CUDA printers emit, so that the CPU reference can reproduce the kernels:
 *
 * ```
 * u = exp(z)                      // float32
 * if (u == 1)        return 1     // |z| below ~2^-25: exprel(z) rounds to 1
 * if (u - 1 == -1)   return -1/z  // z < ~-17.3: exp(z) is lost next to 1 (and may be
 *                                 // flushed to 0, so log(u) must not be used)
 * if (u == +inf)     return +inf  // z > ~88.7: exp overflows (the true value only
 *                                 // overflows float32 near z ~ 93.2; documented deviation)
 * return (u - 1) / log(u)
 * ```
 *
 * The last line is Kahan's trick (Higham, Accuracy and Stability of Numerical Algorithms,
 * §1.14.1): `u - 1` is exact for the rounded `u`, and dividing by `log(u)` instead of `z`
 * divides out the rounding error of `exp`, so the result is good to a few ulps with no
 * cancellation at small |z|. It needs `log` accurate in relative terms near 1; a backend
 * whose `log` is only accurate in absolute terms there (WGSL's spec minimum is 2^-21
 * absolute on [0.5, 2]) must be checked against this reference.
 */
export function exprel32(z: number): number {
  const zf = f32(z);
  const u = f32(Math.exp(zf));
  if (u === 1) return 1;
  const um1 = f32(u - 1);
  if (um1 === -1) return f32(-1 / zf);
  if (u === Infinity) return Infinity;
  return f32(um1 / f32(Math.log(u)));
}
