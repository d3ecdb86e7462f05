/**
 * WGSL runtime helpers called by printed expressions, for inclusion at module scope. Every
 * name starts with `sf_` (see `src/random/philox-wgsl.ts`); the printer records which ones an
 * expression needs (`printer.helpers`) and `wgslPrelude` emits those and their dependencies.
 *
 *   fn sf_exprel(z: f32) -> f32             // (exp(z) - 1) / z, 1 at 0: src/symbolic/exprel.ts
 *   fn sf_log_rel(x: f32) -> f32            // log, relatively accurate also near 1
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
    // digit of the result (llvmpipe: ~1e5 ulp just above 1), and sf_exprel divides by it. On
    // [0.5, 2] this is musl's logf kernel (|error| < 1 ulp; f = m - 1 is exact, s enters
    // only a small correction, so even WGSL's 2.5-ulp division costs little); elsewhere
    // WGSL's log is accurate to 3 ulp.
    code: `fn sf_log_rel(x: f32) -> f32 {
  if (!(x >= 0.5f && x <= 2.0f)) {
    return log(x);
  }
  var m = x;
  var k = 0.0f;
  if (x > 1.4142135f) {
    m = x * 0.5f;
    k = 1.0f;
  } else if (x < 0.70710677f) {
    m = x * 2.0f;
    k = -1.0f;
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
