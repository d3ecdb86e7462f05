/**
 * JavaScript runtime helpers called by printed expressions, for the top of a generated module
 * or function body. Every name starts with `sf_`.
 *
 *   sf_exprel(z)          // float64: expm1(z) / z, 1 at 0 (exprel64 of src/symbolic/exprel.ts)
 *   sf_exp(x), sf_log(x)  // float32 exp and log: the GPU kernels' sf_exp / sf_log bit for bit
 *   sf_exprel32(z)        // float32: exprel32's Kahan formula with sf_exp and sf_log (the
 *                         // formula the GPU kernels use)
 *   sf_box_muller(a, b)   // float32: two N(0, 1) draws from two u32 words, the GPU kernels'
 *                         // sf_box_muller bit for bit (src/codegen/normal32.ts); the host's
 *                         // boxMuller (src/random/philox.ts) runs it
 *   sf_clip(x, lo, hi)    // Math.min(Math.max(x, lo), hi); exact in float32 too
 *
 * Function declarations, except `sf_bits`: the typed arrays `sf_f32` / `sf_u32` (`const`,
 * emitted ahead of their users) through which `sf_exp` and `sf_log` reinterpret float32 bits.
 * The float32 helpers perform the operations of src/codegen/math32.ts and normal32.ts, in the
 * order of the WGSL and CUDA helpers, each rounded with `Math.fround`; those that are exact in
 * float32 (marked) are computed in double without it, which gives the same values.
 */

import { EXP32 as E, LOG32 as L, f32Literal } from '../math32.js';
import { NORMAL32 as N, UNIFORM_STEP } from '../normal32.js';
import { type PreludeHelper, resolveHelpers } from '../printer.js';

const j = (v: number): string => f32Literal(v, 'js');

/** Every helper, in the order the prelude emits them (dependencies first). */
export const JS_HELPERS: Readonly<Record<string, PreludeHelper>> = {
  sf_exprel: {
    deps: [],
    code: `function sf_exprel(z) {
  if (z === 0) return 1;
  if (z === Infinity) return Infinity;
  return Math.expm1(z) / z;
}`,
  },
  sf_bits: {
    deps: [],
    code: `const sf_f32 = new Float32Array(1);
const sf_u32 = new Uint32Array(sf_f32.buffer);`,
  },
  sf_exp: {
    deps: ['sf_bits'],
    code: `function sf_exp(x) {
  x = Math.fround(x);
  if (x >= ${j(E.OVERFLOW)}) return Infinity;
  if (x <= ${j(E.UNDERFLOW)}) return 0;
  const k = Math.floor(Math.fround(Math.fround(x * ${j(E.LOG2E)}) + 0.5));
  let r = x - k * ${j(E.C1)}; // exact
  r = Math.fround(r - Math.fround(k * ${j(E.C2)}));
  const z = Math.fround(r * r);
  const p1 = Math.fround(Math.fround(${j(E.P0)} * r) + ${j(E.P1)});
  const p2 = Math.fround(Math.fround(${j(E.P2)} * r) + ${j(E.P3)});
  const p3 = Math.fround(Math.fround(${j(E.P4)} * r) + ${j(E.P5)});
  const p = Math.fround(Math.fround(Math.fround(Math.fround(p1 * z) + p2) * z) + p3);
  const t = Math.fround(Math.fround(p * z) + r);
  const h = k >> 1;
  sf_u32[0] = (h + 127) << 23;
  const s1 = sf_f32[0];
  sf_u32[0] = (k - h + 127) << 23;
  const s2 = sf_f32[0];
  return Math.fround(Math.fround(s1 + t * s1) * s2); // t * s1 is exact
}`,
  },
  sf_log: {
    deps: ['sf_bits'],
    code: `function sf_log(x) {
  sf_f32[0] = x;
  let ix = sf_u32[0];
  let k = 0;
  if (ix < 0x00800000 || ix >= 0x7f800000) {
    if ((ix & 0x7fffffff) === 0) return -Infinity;
    if (ix > 0x7f800000) return NaN;
    if (ix === 0x7f800000) return Infinity;
    sf_f32[0] = Math.fround(sf_f32[0] * 33554432);
    ix = sf_u32[0];
    k = -25;
  }
  ix = ix + (0x3f800000 - 0x3f3504f3);
  k = k + (ix >>> 23) - 127;
  sf_u32[0] = (ix & 0x007fffff) + 0x3f3504f3;
  const f = Math.fround(sf_f32[0] - 1);
  const s = Math.fround(f / Math.fround(2 + f));
  const z = Math.fround(s * s);
  const w = Math.fround(z * z);
  const t1 = Math.fround(w * Math.fround(${j(L.Lg2)} + Math.fround(w * ${j(L.Lg4)})));
  const t2 = Math.fround(z * Math.fround(${j(L.Lg1)} + Math.fround(w * ${j(L.Lg3)})));
  const r = Math.fround(t2 + t1);
  const hfsq = Math.fround(Math.fround(0.5 * f) * f);
  return Math.fround(Math.fround(Math.fround(Math.fround(Math.fround(s * Math.fround(hfsq + r)) + Math.fround(k * ${j(L.LN2_LO)})) - hfsq) + f) + Math.fround(k * ${j(L.LN2_HI)}));
}`,
  },
  sf_exprel32: {
    deps: ['sf_exp', 'sf_log'],
    code: `function sf_exprel32(z) {
  z = Math.fround(z);
  const u = sf_exp(z);
  if (u === 1) return 1;
  if (u <= ${j(2 ** -25)}) return Math.fround(-1 / z); // u - 1 rounds to -1
  if (u === Infinity) return Infinity;
  return Math.fround(Math.fround(u - 1) / sf_log(u));
}`,
  },
  sf_box_muller: {
    deps: ['sf_log'],
    // Math.sqrt of a float32 rounded to float32 is the correctly rounded float32 root.
    code: `function sf_box_muller(a, b) {
  const u1 = ((a >>> 8) + 1) * ${j(UNIFORM_STEP)}; // exact
  const radius = Math.fround(Math.sqrt(-2 * sf_log(u1))); // -2 * is exact
  const m = b >>> 8;
  const t = (m + 0x200000) >>> 22;
  const r = (m - t * 0x400000) * ${j(UNIFORM_STEP)}; // exact
  const z = Math.fround(r * r);
  const p = Math.fround(${j(N.S1)} + Math.fround(z * Math.fround(${j(N.S2)} + Math.fround(z * ${j(N.S3)}))));
  const sin_r = Math.fround(r * 6 + Math.fround(Math.fround(Math.fround(r * z) * p) + Math.fround(r * ${j(N.S0)}))); // r * 6 is exact
  const cos_r = Math.fround(1 + Math.fround(z * Math.fround(${j(N.C1)} + Math.fround(z * Math.fround(${j(N.C2)} + Math.fround(z * Math.fround(${j(N.C3)} + Math.fround(z * ${j(N.C4)}))))))));
  const q = (t + 2) & 3;
  const c = (q & 1) !== 0 ? sin_r : cos_r;
  const s = (q & 1) !== 0 ? cos_r : sin_r;
  const x = Math.fround(radius * c);
  const y = Math.fround(radius * s);
  return [((q + 1) & 2) !== 0 ? -x : x, (q & 2) !== 0 ? -y : y];
}`,
  },
  sf_clip: {
    deps: [],
    code: `function sf_clip(x, lo, hi) {
  return Math.min(Math.max(x, lo), hi);
}`,
  },
};

/** Every helper name, in emission order. */
export const JS_HELPER_NAMES: readonly string[] = Object.keys(JS_HELPERS);

/** JavaScript source defining `helpers` (default: all) and their dependencies; empty for none. */
export function jsPrelude(helpers: Iterable<string> = JS_HELPER_NAMES): string {
  return resolveHelpers(JS_HELPERS, helpers, 'JavaScript')
    .map((n) => `${JS_HELPERS[n]!.code}\n`)
    .join('\n');
}
