/**
 * CUDA C++ runtime helpers called by printed expressions (all `__device__ __forceinline__`,
 * overloaded for float and double, no #include needed under nvcc). Every name starts with
 * `sf_` (see `src/random/philox-cuda.ts`).
 *
 *   float  sf_exp(float x)       // float32 exp and log of src/codegen/math32.ts: the same
 *   float  sf_log(float x)       // operations as the WGSL and JavaScript sf_exp / sf_log
 *   float2 sf_box_muller(unsigned a, unsigned b)  // two N(0, 1) draws (src/codegen/normal32.ts)
 *   float  sf_exprel(float z)    // the float32 formula of src/symbolic/exprel.ts (Kahan)
 *   double sf_exprel(double z)   // expm1(z) / z, 1 at 0 (exprel64)
 *   float  sf_clip(float x, float lo, float hi)     // fminf(fmaxf(x, lo), hi)
 *   double sf_clip(double x, double lo, double hi)
 *
 * sf_exp, sf_log and sf_box_muller (float only: double code calls exp and log, and draws the
 * same float normals) spell every float operation as an IEEE round-to-nearest intrinsic
 * (`__fadd_rn`, `__fsub_rn`, `__fmul_rn`, `__fdiv_rn`, `__fsqrt_rn`), which nvcc never
 * contracts into an FMA: they compute what the JavaScript float32 backend computes whatever
 * --fmad says (the printed kernels themselves still need --fmad=false).
 * Subnormals must not be flushed (no --ftz=true, no --use_fast_math).
 */

import { EXP32 as E, LOG32 as L, f32Literal } from '../math32.js';
import { NORMAL32 as N, UNIFORM_STEP } from '../normal32.js';
import { type PreludeHelper, resolveHelpers } from '../printer.js';

const c = (v: number): string => f32Literal(v, 'cuda');

/** Every helper, in the order the prelude emits them (dependencies first). */
export const CUDA_HELPERS: Readonly<Record<string, PreludeHelper>> = {
  sf_exp: {
    deps: [],
    code: `__device__ __forceinline__ float sf_exp(float x) {
  if (x >= ${c(E.OVERFLOW)}) return __int_as_float(0x7f800000);
  if (x <= ${c(E.UNDERFLOW)}) return 0.0f;
  const float k = floorf(__fadd_rn(__fmul_rn(x, ${c(E.LOG2E)}), 0.5f));
  float r = __fsub_rn(x, __fmul_rn(k, ${c(E.C1)})); // exact
  r = __fsub_rn(r, __fmul_rn(k, ${c(E.C2)}));
  const float z = __fmul_rn(r, r);
  const float p1 = __fadd_rn(__fmul_rn(${c(E.P0)}, r), ${c(E.P1)});
  const float p2 = __fadd_rn(__fmul_rn(${c(E.P2)}, r), ${c(E.P3)});
  const float p3 = __fadd_rn(__fmul_rn(${c(E.P4)}, r), ${c(E.P5)});
  const float p = __fadd_rn(__fmul_rn(__fadd_rn(__fmul_rn(p1, z), p2), z), p3);
  const float t = __fadd_rn(__fmul_rn(p, z), r);
  const int ki = static_cast<int>(k);
  const int h = ki >> 1;
  const float s1 = __int_as_float((h + 127) << 23);
  const float s2 = __int_as_float((ki - h + 127) << 23);
  return __fmul_rn(__fadd_rn(s1, __fmul_rn(t, s1)), s2); // t * s1 is exact
}`,
  },
  sf_log: {
    deps: [],
    code: `__device__ __forceinline__ float sf_log(float x) {
  unsigned int ix = __float_as_uint(x);
  int k = 0;
  if (ix < 0x00800000u || ix >= 0x7f800000u) {
    if ((ix & 0x7fffffffu) == 0u) return __int_as_float(0xff800000);
    if (ix > 0x7f800000u) return __int_as_float(0x7fc00000);
    if (ix == 0x7f800000u) return x;
    ix = __float_as_uint(__fmul_rn(x, 33554432.0f)); // subnormal: times 2^25, exact
    k = -25;
  }
  ix = ix + (0x3f800000u - 0x3f3504f3u);
  k = k + static_cast<int>(ix >> 23) - 127;
  ix = (ix & 0x007fffffu) + 0x3f3504f3u;
  const float f = __fsub_rn(__uint_as_float(ix), 1.0f);
  const float s = __fdiv_rn(f, __fadd_rn(2.0f, f));
  const float z = __fmul_rn(s, s);
  const float w = __fmul_rn(z, z);
  const float t1 = __fmul_rn(w, __fadd_rn(${c(L.Lg2)}, __fmul_rn(w, ${c(L.Lg4)})));
  const float t2 = __fmul_rn(z, __fadd_rn(${c(L.Lg1)}, __fmul_rn(w, ${c(L.Lg3)})));
  const float r = __fadd_rn(t2, t1);
  const float hfsq = __fmul_rn(__fmul_rn(0.5f, f), f);
  const float dk = static_cast<float>(k);
  return __fadd_rn(__fadd_rn(__fsub_rn(__fadd_rn(__fmul_rn(s, __fadd_rn(hfsq, r)), __fmul_rn(dk, ${c(L.LN2_LO)})), hfsq), f), __fmul_rn(dk, ${c(L.LN2_HI)}));
}`,
  },
  sf_box_muller: {
    deps: ['sf_log'],
    // __fsqrt_rn is the IEEE square root: the correctly rounded one of every target.
    code: `__device__ __forceinline__ float2 sf_box_muller(unsigned int a, unsigned int b) {
  const float u1 = __fmul_rn(static_cast<float>((a >> 8) + 1u), ${c(UNIFORM_STEP)});
  const float radius = __fsqrt_rn(__fmul_rn(-2.0f, sf_log(u1)));
  const unsigned int m = b >> 8;
  const unsigned int t = (m + 0x200000u) >> 22;
  const float r = __fmul_rn(static_cast<float>(static_cast<int>(m) - static_cast<int>(t << 22)), ${c(UNIFORM_STEP)}); // exact
  const float z = __fmul_rn(r, r);
  const float p = __fadd_rn(${c(N.S1)}, __fmul_rn(z, __fadd_rn(${c(N.S2)}, __fmul_rn(z, ${c(N.S3)}))));
  const float sin_r = __fadd_rn(__fmul_rn(r, 6.0f), __fadd_rn(__fmul_rn(__fmul_rn(r, z), p), __fmul_rn(r, ${c(N.S0)}))); // r * 6 is exact
  const float cos_r = __fadd_rn(1.0f, __fmul_rn(z, __fadd_rn(${c(N.C1)}, __fmul_rn(z, __fadd_rn(${c(N.C2)}, __fmul_rn(z, __fadd_rn(${c(N.C3)}, __fmul_rn(z, ${c(N.C4)}))))))));
  const unsigned int q = (t + 2u) & 3u;
  const float c = (q & 1u) != 0u ? sin_r : cos_r;
  const float s = (q & 1u) != 0u ? cos_r : sin_r;
  const float x = __fmul_rn(radius, c);
  const float y = __fmul_rn(radius, s);
  return make_float2(((q + 1u) & 2u) != 0u ? -x : x, (q & 2u) != 0u ? -y : y);
}`,
  },
  sf_exprel: {
    deps: ['sf_exp', 'sf_log'],
    code: `__device__ __forceinline__ float sf_exprel(float z) {
  const float u = sf_exp(z);
  if (u == 1.0f) return 1.0f;
  if (u <= ${c(2 ** -25)}) return -1.0f / z; // u - 1 rounds to -1: exp(z) is lost next to 1
  if (isinf(u)) return u;
  return (u - 1.0f) / sf_log(u);
}

__device__ __forceinline__ double sf_exprel(double z) {
  if (z == 0.0) return 1.0;
  if (isinf(z) && z > 0.0) return z;
  return expm1(z) / z;
}`,
  },
  sf_clip: {
    deps: [],
    code: `__device__ __forceinline__ float sf_clip(float x, float lo, float hi) {
  return fminf(fmaxf(x, lo), hi);
}

__device__ __forceinline__ double sf_clip(double x, double lo, double hi) {
  return fmin(fmax(x, lo), hi);
}`,
  },
};

/** Every helper name, in emission order. */
export const CUDA_HELPER_NAMES: readonly string[] = Object.keys(CUDA_HELPERS);

/** CUDA source defining `helpers` (default: all) and their dependencies; empty for none. */
export function cudaPrelude(helpers: Iterable<string> = CUDA_HELPER_NAMES): string {
  return resolveHelpers(CUDA_HELPERS, helpers, 'CUDA')
    .map((n) => `${CUDA_HELPERS[n]!.code}\n`)
    .join('\n');
}
