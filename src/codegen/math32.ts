/**
 * The float32 `exp` and `log` of the generated code: one algorithm, printed as the prelude
 * helpers `sf_exp` / `sf_log` of every target (WGSL, CUDA float, JavaScript float32), so that
 * all three compute the same float32 operations in the same order and agree bit for bit
 * wherever + - * / are correctly rounded and not contracted or reassociated. A GPU's own `exp`
 * and `log` need not agree with anything: WGSL only bounds `exp` to 3 + 2|x| ulps and `log` in
 * absolute terms near 1 (Mesa's llvmpipe: up to 17 ulp and 187 ulp from the correctly rounded
 * values), and the last-bit differences they cause grow in the upswing of an action potential.
 * This module holds the constants (exact float32 values) and prints them for each target; the
 * helpers themselves are written out in `wgsl/prelude.ts`, `cuda/prelude.ts` and
 * `js/prelude.ts`, line for line the same.
 *
 * `sf_exp(x)` (Cody–Waite reduction and the Cephes `expf` polynomial, evaluated in Estrin's
 * form for shorter dependency chains):
 *
 * ```
 * x >= 88.72284   -> +inf        (the first float32 whose exp rounds to infinity)
 * x <= -103.97208 -> 0           (the first float32 whose exp rounds to zero)
 * k  = floor(x * log2(e) + 0.5)                    // integer in [-150, 128]
 * r  = (x - k * C1) - k * C2                       // C1 + C2 = ln 2; x - k * C1 is exact
 * z  = r * r
 * p  = ((P0 * r + P1) * z + (P2 * r + P3)) * z + (P4 * r + P5)
 * t  = p * z + r                                   // exp(r) - 1, |r| <= ln(2) / 2
 * h  = k >> 1,  s1 = 2^h,  s2 = 2^(k - h)          // built from bits: both normal
 * return (s1 + t * s1) * s2                        // = (1 + t) * 2^k; t * s1 is exact
 * ```
 *
 * `1 + t` is written `s1 + t * s1` on purpose: a shader compiler may reassociate
 * `(p * z + r) + 1.0` into `(p * z + 1.0) + r` (Mesa's NIR does for any `(a + b) + constant`),
 * and this form has no constant left to move. The last product rounds once, so results in the
 * subnormal range are rounded correctly too (no flush to zero). NaN propagates. Accuracy,
 * measured against Math.exp rounded to float32 for every float32 input: at most 1 ulp, 99.19 %
 * correctly rounded.
 *
 * Three operations are exact in float32: `k * C1` (8 and 9 significant bits), `x - k * C1`
 * (both are multiples of ulp(x) <= 2^-9 and |x - k * C1| < 0.38 is fewer than 2^24 of them)
 * and `t * s1` (a power of two, normal result); the JavaScript helper computes them in double
 * without `Math.fround`, which gives the same values (checked for every float32 input).
 *
 * `sf_log(x)` (musl's / FreeBSD's `logf`):
 *
 * ```
 * x == +-0 -> -inf, x < 0 or NaN -> NaN, x == +inf -> +inf  (tested on the bits)
 * subnormal x: x = x * 2^25, k = -25 (exact)
 * bits: x = m * 2^k' with m in [sqrt(2)/2, sqrt(2)), k += k'
 * f = m - 1 (exact),  s = f / (2 + f),  z = s * s,  w = z * z
 * R = z * (Lg1 + w * Lg3) + w * (Lg2 + w * Lg4)
 * hfsq = 0.5 * f * f
 * return s * (hfsq + R) + k * LN2_LO - hfsq + f + k * LN2_HI   // left to right
 * ```
 *
 * Accuracy, measured against Math.log rounded to float32 for every positive float32: at most
 * 1 ulp, 99.37 % correctly rounded; relative, also near 1 (`f` enters exactly), as `exprel`'s
 * Kahan formula needs (src/symbolic/exprel.ts).
 *
 * Only + - * / (correctly rounded: JavaScript rounds each with `Math.fround`, CUDA uses the
 * `__fadd_rn`-style intrinsics, which nvcc never fuses into an FMA), `floor`, comparisons and
 * integer/bit operations are used. Float64 code keeps the native functions.
 */

import { cFloatDigits, shortestFloat32 } from './printer.js';

/** The float32 with bit pattern `bits`. */
function fromBits(bits: number): number {
  const f = new Float32Array(1);
  new Uint32Array(f.buffer)[0] = bits;
  return f[0]!;
}

const f32 = Math.fround;

/** Constants of `sf_exp` (float32 values). */
export const EXP32 = {
  /** The first float32 whose exp rounds to +inf (0x42b17218 = 88.72284). */
  OVERFLOW: fromBits(0x42b17218),
  /** The first float32 below 0 whose exp rounds to 0 (0xc2cff1b5 = -103.97208). */
  UNDERFLOW: fromBits(0xc2cff1b5),
  LOG2E: f32(1.4426950408889634),
  /** ln 2 split so that k * C1 is exact for |k| <= 2^15 (C1 has 9 significant bits). */
  C1: 0.693359375,
  C2: f32(-2.1219444e-4),
  /** Cephes expf: exp(r) ~ 1 + r + r^2 * (P0 r^5 + ... + P5) on [-ln2/2, ln2/2]. */
  P0: f32(1.98756915e-4),
  P1: f32(1.3981999507e-3),
  P2: f32(8.3334519073e-3),
  P3: f32(4.1665795894e-2),
  P4: f32(1.6666665459e-1),
  P5: f32(5.0000001201e-1),
} as const;

/** Constants of `sf_log` (musl logf.c; float32 values, given there as these bit patterns). */
export const LOG32 = {
  LN2_HI: fromBits(0x3f317180),
  LN2_LO: fromBits(0x3717f7d1),
  Lg1: 0xaaaaaa * 2 ** -24,
  Lg2: 0xccce13 * 2 ** -25,
  Lg3: 0x91e9ee * 2 ** -25,
  Lg4: 0xf89e26 * 2 ** -26,
} as const;

/**
 * A float32 constant as a literal of `target`: `1.5f` (WGSL, CUDA: the shortest decimal that
 * reads back as the float32, whether the compiler rounds it to float32 directly or through a
 * double) or the exact double spelling of the float32 value (JavaScript, so that no
 * `Math.fround` is needed at run time).
 */
export function f32Literal(value: number, target: 'wgsl' | 'cuda' | 'js'): string {
  if (f32(value) !== value || !Number.isFinite(value)) {
    throw new Error(`f32Literal: ${value} is not a finite float32`);
  }
  const sign = value < 0 || Object.is(value, -0) ? '-' : '';
  const magnitude = Math.abs(value);
  if (target === 'js') return `${sign}${String(magnitude)}`;
  return `${sign}${cFloatDigits(shortestFloat32(magnitude))}f`;
}
