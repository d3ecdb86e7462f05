/**
 * JavaScript runtime helpers called by printed expressions: plain function declarations, for
 * the top of a generated module or function body. Every name starts with `sf_`.
 *
 *   sf_exprel(z)          // float64: expm1(z) / z, 1 at 0 (exprel64 of src/symbolic/exprel.ts)
 *   sf_exprel32(z)        // float32, bit for bit exprel32 (the formula the GPU kernels use)
 *   sf_clip(x, lo, hi)    // Math.min(Math.max(x, lo), hi); exact in float32 too
 */

import { type PreludeHelper, resolveHelpers } from '../printer.js';

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
  sf_exprel32: {
    deps: [],
    code: `function sf_exprel32(z) {
  z = Math.fround(z);
  const u = Math.fround(Math.exp(z));
  if (u === 1) return 1;
  const um1 = Math.fround(u - 1);
  if (um1 === -1) return Math.fround(-1 / z);
  if (u === Infinity) return Infinity;
  return Math.fround(um1 / Math.fround(Math.log(u)));
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
