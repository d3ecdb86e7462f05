/**
 * WGSL runtime helpers called by printed expressions, for inclusion at module scope. Every
 * name starts with `sf_` (see `src/random/philox-wgsl.ts`); the printer records which ones an
 * expression needs (`printer.helpers`) and `wgslPrelude` emits those and their dependencies.
 *
 *   fn sf_exp(x: f32) -> f32                // exp to 1 ulp (src/codegen/math32.ts)
 *   fn sf_log(x: f32) -> f32                // log to 1 ulp, also near 1 (musl's logf)
 *   fn sf_sqrt(x: f32) -> f32               // sqrt, correctly rounded (WGSL's need not be)
 *   fn sf_box_muller(a: u32, b: u32) -> vec2<f32>  // two N(0, 1) draws (src/codegen/normal32.ts)
 *   fn sf_exprel(z: f32) -> f32             // (exp(z) - 1) / z, 1 at 0: src/symbolic/exprel.ts
 *   fn sf_log10(x: f32) -> f32              // WGSL has no log10
 *   fn sf_clip(x: f32, lo: f32, hi: f32) -> f32  // min(max(x, lo), hi)
 *   fn sf_inf() -> f32, fn sf_nan() -> f32  // WGSL has no literal for them
 */

import { EXP32 as E, LOG32 as L, f32Literal } from '../math32.js';
import { NORMAL32 as N, UNIFORM_STEP } from '../normal32.js';
import { type PreludeHelper, resolveHelpers } from '../printer.js';

const w = (v: number): string => f32Literal(v, 'wgsl');

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
  sf_exp: {
    deps: [],
    // src/codegen/math32.ts, the same float32 operations as the CUDA and JavaScript sf_exp.
    // WGSL's exp is only bounded to 3 + 2|x| ulps (llvmpipe: up to 17 ulp).
    code: `fn sf_exp(x: f32) -> f32 {
  if (x >= ${w(E.OVERFLOW)}) {
    let inf = 0x7f800000u;
    return bitcast<f32>(inf);
  }
  if (x <= ${w(E.UNDERFLOW)}) {
    return 0.0f;
  }
  let k = floor(x * ${w(E.LOG2E)} + 0.5f);
  var r = x - k * ${w(E.C1)}; // exact
  r = r - k * ${w(E.C2)};
  let z = r * r;
  let p1 = ${w(E.P0)} * r + ${w(E.P1)};
  let p2 = ${w(E.P2)} * r + ${w(E.P3)};
  let p3 = ${w(E.P4)} * r + ${w(E.P5)};
  let p = (p1 * z + p2) * z + p3;
  let t = p * z + r;
  let ki = i32(k);
  let h = ki >> 1u;
  let s1 = bitcast<f32>(u32(h + 127i) << 23u);
  let s2 = bitcast<f32>(u32(ki - h + 127i) << 23u);
  return (s1 + t * s1) * s2; // t * s1 is exact
}`,
  },
  sf_log: {
    deps: [],
    // src/codegen/math32.ts (musl's logf), the same float32 operations as the CUDA and
    // JavaScript sf_log. WGSL only bounds log's error by 2^-21 absolute on [0.5, 2]: near 1
    // that can be every digit of the result (llvmpipe: ~1e5 ulp just above 1), and sf_exprel
    // divides by it. Special values are told apart on the bits, which a compiler that assumes
    // finite floats cannot fold away.
    code: `fn sf_log(x: f32) -> f32 {
  var ix = bitcast<u32>(x);
  var k = 0i;
  if (ix < 0x00800000u || ix >= 0x7f800000u) {
    if ((ix & 0x7fffffffu) == 0u) {
      let minus_inf = 0xff800000u;
      return bitcast<f32>(minus_inf);
    }
    if (ix > 0x7f800000u) {
      let nan = 0x7fc00000u;
      return bitcast<f32>(nan);
    }
    if (ix == 0x7f800000u) {
      return x;
    }
    ix = bitcast<u32>(x * 33554432.0f); // subnormal: times 2^25, exact
    k = -25i;
  }
  ix = ix + (0x3f800000u - 0x3f3504f3u);
  k = k + i32(ix >> 23u) - 127i;
  ix = (ix & 0x007fffffu) + 0x3f3504f3u;
  let f = bitcast<f32>(ix) - 1.0f;
  let s = f / (2.0f + f);
  let z = s * s;
  let w = z * z;
  let t1 = w * (${w(L.Lg2)} + w * ${w(L.Lg4)});
  let t2 = z * (${w(L.Lg1)} + w * ${w(L.Lg3)});
  let r = t2 + t1;
  let hfsq = 0.5f * f * f;
  let dk = f32(k);
  return s * (hfsq + r) + dk * ${w(L.LN2_LO)} - hfsq + f + dk * ${w(L.LN2_HI)};
}`,
  },
  sf_sqrt: {
    deps: [],
    // WGSL's sqrt need only be as accurate as 1 / inverseSqrt(x), a few ulp: it gives the
    // first guess of the root's significand q, which exact integer arithmetic then moves to
    // the rounded root of n = f * 2^46, the q with -q < n - q^2 <= q (n - q^2 is never q + 1/4).
    // n - q^2 is computed modulo 2^32, exact while the guess is within 60 ulp.
    code: `fn sf_sqrt(x: f32) -> f32 {
  let ix = bitcast<u32>(x);
  if ((ix & 0x7fffffffu) == 0u || ix == 0x7f800000u) {
    return x; // +-0, +inf
  }
  if (ix > 0x7f800000u) {
    let nan = 0x7fc00000u;
    return bitcast<f32>(nan); // NaN, or below 0
  }
  var e = i32(ix >> 23u);
  var m = ix & 0x007fffffu;
  if (e == 0i) {
    let shift = countLeadingZeros(m) - 8u; // subnormal: normalize
    m = (m << shift) & 0x007fffffu;
    e = 1i - i32(shift);
  }
  let odd = u32(e - 127i) & 1u;
  let f = bitcast<f32>(((127u + odd) << 23u) | m); // x = f * 2^(e - 127 - odd), f in [1, 4)
  var q = u32(clamp(sqrt(f) * 8388608.0f, 8388608.0f, 16777216.0f));
  var r = bitcast<i32>(((m | 0x00800000u) << (23u + odd)) - q * q);
  loop {
    if (r > i32(q)) {
      r = r - i32(2u * q + 1u);
      q = q + 1u;
    } else if (r <= -i32(q)) {
      r = r + i32(2u * q - 1u);
      q = q - 1u;
    } else {
      break;
    }
  }
  return bitcast<f32>((bitcast<u32>((e - 127i - i32(odd)) / 2i + 126i) << 23u) + q);
}`,
  },
  sf_box_muller: {
    deps: ['sf_log', 'sf_sqrt'],
    // src/codegen/normal32.ts, the same float32 operations as the CUDA, JavaScript and
    // WebAssembly sf_box_muller. WGSL bounds cos and sin only to 2^-11 absolute.
    code: `fn sf_box_muller(a: u32, b: u32) -> vec2<f32> {
  let u1 = f32((a >> 8u) + 1u) * ${w(UNIFORM_STEP)};
  let radius = sf_sqrt(-2.0f * sf_log(u1));
  let m = b >> 8u;
  let t = (m + 0x200000u) >> 22u;
  let r = f32(i32(m) - i32(t << 22u)) * ${w(UNIFORM_STEP)}; // exact
  let z = r * r;
  let p = ${w(N.S1)} + z * (${w(N.S2)} + z * ${w(N.S3)});
  let sin_r = r * 6.0f + (r * z * p + r * ${w(N.S0)}); // r * 6 is exact
  let cos_r = 1.0f + z * (${w(N.C1)} + z * (${w(N.C2)} + z * (${w(N.C3)} + z * ${w(N.C4)})));
  let q = (t + 2u) & 3u;
  let c = select(cos_r, sin_r, (q & 1u) != 0u);
  let s = select(sin_r, cos_r, (q & 1u) != 0u);
  // The signs are flipped on the bits: a caller's k * (radius * c) is not reassociated.
  let x = bitcast<u32>(radius * c) ^ (((q + 1u) & 2u) << 30u);
  let y = bitcast<u32>(radius * s) ^ ((q & 2u) << 30u);
  return vec2<f32>(bitcast<f32>(x), bitcast<f32>(y));
}`,
  },
  sf_exprel: {
    deps: ['sf_exp', 'sf_log'],
    // The float32 formula of src/symbolic/exprel.ts (Kahan), with sf_exp and sf_log. Its
    // test `u - 1 == -1` is spelled `u <= 2^-25` (the same for u >= 0): Mesa's shader
    // compiler rewrites the former into `u == 0`, which misses subnormal u.
    code: `fn sf_exprel(z: f32) -> f32 {
  let u = sf_exp(z);
  if (u == 1.0f) {
    return 1.0f;
  }
  if (u <= ${w(2 ** -25)}) {
    return -1.0f / z; // u - 1 rounds to -1: exp(z) is lost next to 1
  }
  if (u > 3.4028234663852886e38f) {
    return u; // +inf
  }
  return (u - 1.0f) / sf_log(u);
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
