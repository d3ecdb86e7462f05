/**
 * The standard normal draws of every backend: Box-Muller on two Philox words, one float32
 * algorithm printed as the prelude helper `sf_box_muller` of every target (WGSL, CUDA,
 * JavaScript, WebAssembly), so that a noisy network draws the same numbers bit for bit on all
 * of them, as `sf_exp` / `sf_log` (math32.ts) make its exp and log agree. The target's own
 * log, cos and sin need not agree with anything (WGSL bounds cos and sin only to 2^-11
 * absolute), and a last-bit difference in the noise moved every row of an OU-noise trace
 * between `--backend cpu` and `--backend webgpu`. This module holds the constants (exact
 * float32 values) and the algorithm; the helpers are written out in `wgsl/prelude.ts`,
 * `cuda/prelude.ts`, `js/prelude.ts` and `wasm/printer.ts`, line for line the same. The host
 * runs the JavaScript one (`boxMuller`, src/random/philox.ts): the JavaScript kernels' draws,
 * initial values `~ normal(...)` and drawn weights and delays.
 *
 * `sf_box_muller(a, b)` for two u32 words:
 *
 * ```
 * u1 = ((a >> 8) + 1) * 2^-24                         // (0, 1], as u32ToUniformOpen
 * radius = sqrt(-2 * sf_log(u1))                       // -2 * is exact; sqrt correctly rounded
 * m = b >> 8                                           // u2 = m * 2^-24, as u32ToUniform01
 * t = (m + 2^21) >> 22                                 // the nearest quarter turn of u2, 0..4
 * r = f32(m - t * 2^22) * 2^-24                        // u2 - t / 4: exact, in [-1/8, 1/8)
 * z = r * r
 * p = S1 + z * (S2 + z * S3)
 * sin_r = r * 6 + ((r * z) * p + r * S0)                // sin(2 pi r); r * 6 is exact
 * cos_r = 1 + z * (C1 + z * (C2 + z * (C3 + z * C4)))   // cos(2 pi r)
 * q = (t + 2) & 3            // quarter turns of theta = 2 pi (u2 - 1/2) = 2 pi r + (t - 2) pi / 2
 * (c, s) = q odd ? (sin_r, cos_r) : (cos_r, sin_r)
 * x = radius * c,  y = radius * s
 * return (q == 1 or 2 ? -x : x, q >= 2 ? -y : y)
 * ```
 *
 * That is `(radius cos(theta), radius sin(theta))` for the angle theta = 2 pi (u2 - 1/2) in
 * [-pi, pi), two independent N(0, 1) draws. The range reduction is done on the integer `m`,
 * so no compiler can round it; the quadrant only swaps and negates. The polynomials are
 * Lawson (minimax) fits of sin(2 pi r) / r - 2 pi and (cos(2 pi r) - 1) / r^2 in z = r^2 on
 * |r| <= 1/8, rounded to float32; the sine's leading term 2 pi r is split as the exact `r * 6`
 * plus `r * S0` (S0 = 2 pi - 6), since 2 pi rounded to float32 alone costs half an ulp.
 *
 * Shader compilers may reassociate (WGSL allows it), so no operation adds a constant to a sum
 * (`(a + b) + constant`, which Mesa reassociates) and no two products with a common factor are
 * added (`a * b + a * c`). The signs are flipped last, and in WGSL on the bits (`^ 0x80000000`):
 * llvmpipe (Mesa, under Dawn's OpenGL ES backend) computed a caller's `0.4 * (radius * -c)`, an
 * equation's noise term, in another order, a third of the results an ulp off, and no compiler
 * moves a multiplication through an integer xor.
 *
 * Accuracy, measured for every one of the 2^24 values of u2 against Math.cos and Math.sin of
 * 2 pi (u2 - 1/2) in double: within 1.21 ulp (sin_r 0.76 ulp, cos_r 1.21 ulp), 93.8 %
 * correctly rounded, and exact (0 or +-1) at the quarter turns; for every one of the 2^24
 * values of u1, the radius within 0.98 ulp of sqrt(-2 ln u1), 86.8 % correctly rounded. The
 * two products add half an ulp each.
 *
 * The square root is correctly rounded on every target, so they agree: JavaScript rounds
 * `Math.sqrt` of the float32 to float32 (double rounding is harmless for sqrt, since
 * 53 >= 2 * 24 + 2: Figueroa, "When is double rounding innocuous?", 1995); WebAssembly's
 * `f32.sqrt` and CUDA's `__fsqrt_rn` are IEEE square roots. WGSL's `sqrt` need only be as
 * accurate as 1 / inverseSqrt(x), a few ulp (and GPUs compute it so), so WGSL calls `sf_sqrt`,
 * which takes the target's root only as a first guess of the 24-bit significand q and moves it
 * in exact integer arithmetic to the root of n = m * 2^23 (or 2^24) rounded to nearest: the q
 * with -q < n - q^2 <= q, n - q^2 computed modulo 2^32, which is exact while the guess is
 * within 60 ulp (test/philox-webgpu.test.ts checks every significand at both exponent parities
 * and every subnormal, with llvmpipe's sqrt and with guesses moved up to 60 ulp).
 *
 * The other operations are + - * (JavaScript rounds each with `Math.fround`, CUDA uses the
 * `__fadd_rn`-style intrinsics, which nvcc never fuses into an FMA), integer operations and
 * conversions of integers below 2^24, which are exact. The draws are float32 at every
 * precision: the float64 backends (`cpu64`, CUDA double) draw the same numbers.
 */

const f32 = Math.fround;

/** Constants of `sf_box_muller` (float32 values). */
export const NORMAL32 = {
  /** 2 pi - 6: sin(2 pi r) = r * 6 + r * S0 + r^3 * (S1 + S2 r^2 + S3 r^4). */
  S0: f32(2 * Math.PI - 6),
  S1: f32(-41.34167),
  S2: f32(81.593765),
  S3: f32(-75.44562),
  /** cos(2 pi r) = 1 + r^2 * (C1 + C2 r^2 + C3 r^4 + C4 r^6). */
  C1: f32(-19.739208),
  C2: f32(64.93932),
  C3: f32(-85.44324),
  C4: f32(59.22924),
} as const;

/** 2^-24: the spacing of the uniforms u1 and u2, and of the reduced angle r. */
export const UNIFORM_STEP = 2 ** -24;
