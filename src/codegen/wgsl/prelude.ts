/**
 * WGSL runtime helpers called by printed expressions, for inclusion at module scope. Every
 * name starts with `sf_` (see `src/random/philox-wgsl.ts`); the printer records which ones an
 * expression needs (`printer.helpers`) and `wgslPrelude` emits those and their dependencies.
 *
 *   fn sf_exprel(z: f32) -> f32             // (exp(z) - 1) / z, 1 at 0: src/symbolic/exprel.ts
 *   fn sf_log_rel(x: f32) -> f32            // log to 1 ulp, also near 1 (musl's logf)
 *   fn sf_log10(x: f32) -> f32              // WGSL has no log10
 *   fn sf_clip(x: f32, lo: f32, hi: f32) -> f32  // min(max(x, lo), hi)
 *   fn sf_inf() -> f32, fn sf_nan() -> f32  // WGSL has no literal for them
 */

import { type PreludeHelper, resolveHelpers } from '../printer.js';

/** Every helper, in the order the prelude emits them (dependencies first). */
export const WGSL_HELPERS: Readonly<Record<string, PreludeHelper>> = {
  sf_inf: {
    deps: [],
    // A `let` is not a constant expression, so the compiler does not reject the infinity.
    code: `fn sf_inf() -> f32 {
  let bits = 0x7f800000u;
  return bitcast<f32>(bits);
}`,
  },
  sf_nan: {
    deps: [],
    code: `fn sf_nan() -> f32 {
  let bits = 0x7fc00000u;
  return bitcast<f32>(bits);
}`,
  },
  sf_log_rel: {
    deps: [],
    // WGSL only bounds log's error by 2^-21 absolute on [0.5, 2]: near 1 that can be every
    // digit of the result (llvmpipe: ~1e5 ulp just above 1), and sf_exprel divides by it.
    // This is musl's logf for positive normal x (|error| < 1 ulp): x = m * 2^k with m in
    // [sqrt(1/2), sqrt(2)), f = m - 1 exact, and s = f / (2 + f) only in a small correction,
    // so even WGSL's 2.5-ulp division costs little. Other x go to WGSL's log.
    code: `fn sf_log_rel(x: f32) -> f32 {
  if (!(x >= 1.1754944e-38f && x <= 3.4028234e38f)) {
    return log(x);
  }
  let parts = frexp(x); // x = fract * 2^exp, fract in [0.5, 1)
  var m = parts.fract;
  var k = f32(parts.exp);
  if (m < 0.70710677f) {
    m = m * 2.0f;
    k = k - 1.0f;
  }
  let f = m - 1.0f;
  let s = f / (2.0f + f);
  let z = s * s;
  let w = z * z;
  let t1 = w * (0.40000972f + w * 0.24279079f);
  let t2 = z * (0.6666666f + w * 0.28498787f);
  let r = t2 + t1;
  let hfsq = 0.5f * f * f;
  return s * (hfsq + r) + k * 0.000009058001f - hfsq + f + k * 0.6931381f;
}`,
  },
  sf_exprel: {
    deps: ['sf_log_rel'],
    // The float32 formula of src/symbolic/exprel.ts (Kahan), with log(u) from sf_log_rel.
    code: `fn sf_exprel(z: f32) -> f32 {
  let u = exp(z);
  if (u == 1.0f) {
    return 1.0f;
  }
  let um1 = u - 1.0f;
  if (um1 == -1.0f) {
    return -1.0f / z;
  }
  if (u > 3.4028234663852886e38f) {
    return u; // +inf
  }
  return um1 / sf_log_rel(u);
}`,
  },
  sf_log10: {
    deps: [],
    code: `fn sf_log10(x: f32) -> f32 {
  return log2(x) * 0.30103f;
}`,
  },
  sf_clip: {
    deps: [],
    code: `fn sf_clip(x: f32, lo: f32, hi: f32) -> f32 {
  return min(max(x, lo), hi);
}`,
  },
};

/** Every helper name, in emission order. */
export const WGSL_HELPER_NAMES: readonly string[] = Object.keys(WGSL_HELPERS);

/** WGSL source defining `helpers` (default: all) and their dependencies; empty for none. */
export function wgslPrelude(helpers: Iterable<string> = WGSL_HELPER_NAMES): string {
  return resolveHelpers(WGSL_HELPERS, helpers, 'WGSL')
    .map((n) => `${WGSL_HELPERS[n]!.code}\n`)
    .join('\n');
}
