/**
 * CUDA C++ runtime helpers called by printed expressions (all `__device__ __forceinline__`,
 * overloaded for float and double, no #include needed under nvcc). Every name starts with
 * `sf_` (see `src/random/philox-cuda.ts`).
 *
 *   float  sf_exprel(float z)    // the float32 formula of src/symbolic/exprel.ts (Kahan)
 *   double sf_exprel(double z)   // expm1(z) / z, 1 at 0 (exprel64)
 *   float  sf_clip(float x, float lo, float hi)     // fminf(fmaxf(x, lo), hi)
 *   double sf_clip(double x, double lo, double hi)
 *
 * `logf` is accurate to 1 ulp in relative terms over its whole range, as Kahan's formula
 * needs, unless compiled with --use_fast_math (then it is `__logf`, accurate only in absolute
 * terms near 1): do not.
 */

import { type PreludeHelper, resolveHelpers } from '../printer.js';

/** Every helper, in the order the prelude emits them (dependencies first). */
export const CUDA_HELPERS: Readonly<Record<string, PreludeHelper>> = {
  sf_exprel: {
    deps: [],
    code: `__device__ __forceinline__ float sf_exprel(float z) {
  const float u = expf(z);
  if (u == 1.0f) return 1.0f;
  const float um1 = u - 1.0f;
  if (um1 == -1.0f) return -1.0f / z;
  if (isinf(u)) return u;
  return um1 / logf(u);
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
