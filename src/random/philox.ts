/**
 * Philox-4x32-10 counter-based random numbers (Salmon, Moraes, Dror, Shaw, "Parallel random
 * numbers: as easy as 1, 2, 3", SC 2011; the Random123 library), bit-identical on the CPU
 * (this file), WebGPU (`philox-wgsl.ts`) and CUDA (`philox-cuda.ts`).
 *
 * A counter-based generator has no state to carry between steps or threads: every random
 * word is a pure function of (counter, key), so any backend can compute the number for any
 * neuron at any step in any order and get the same answer.
 *
 * Stream layout used by the whole project:
 *
 *   key     = [seed mod 2^32, streamId(objectName)]
 *   counter = [element index, step, purpose, 0]
 *
 * - seed: the simulation seed; only its low 32 bits are used.
 * - streamId: FNV-1a (32-bit) of the UTF-8 name of the object that draws (a population, a
 *   projection, a noise source), so that objects never share numbers and adding an object
 *   does not shift the numbers of the others.
 * - element index: the neuron / synapse index within the object.
 * - step: the integration step number (u32; wraps after 2^32 steps).
 * - purpose: a small integer chosen per random call site, separating independent draws made
 *   by the same element in the same step; each draw gives 4 words.
 * - the last counter word is reserved and always 0.
 *
 * Every argument is reduced modulo 2^32 (ECMAScript ToUint32), exactly as the GPU backends
 * reduce it when storing it in a u32.
 *
 * Conversions to floats are defined in float32 so every backend can reproduce them:
 * - u32ToUniform01(x)   = (x >>> 8) * 2^-24, in [0, 1) — exact in float32, bit-identical.
 * - u32ToUniformOpen(x) = ((x >>> 8) + 1) * 2^-24, in (0, 1] — exact, safe for log().
 * - boxMuller(a, b): two standard normals, float32, bit-identical on all backends too: every
 *   backend computes the float32 operations of src/codegen/normal32.ts, not its own log,
 *   sqrt, cos and sin.
 */

import { jsPrelude } from '../codegen/js/prelude.js';

/** Philox-4x32 round multipliers (Random123 PHILOX_M4x32_0/1). */
export const PHILOX_M0 = 0xd2511f53;
export const PHILOX_M1 = 0xcd9e8d57;
/** Key schedule increments (Random123 PHILOX_W32_0/1: golden ratio, sqrt(3) - 1). */
export const PHILOX_W0 = 0x9e3779b9;
export const PHILOX_W1 = 0xbb67ae85;

/** The 16-bit halves of the multipliers, for `mulhi` below. */
const M0_HI = PHILOX_M0 >>> 16;
const M0_LO = PHILOX_M0 & 0xffff;
const M1_HI = PHILOX_M1 >>> 16;
const M1_LO = PHILOX_M1 & 0xffff;

/** 2^-24: the spacing of the 24-bit uniforms, a power of two so the products are exact. */
const TWO_POW_M24 = 1 / 16777216;
/** UTF-8 encoder for `streamId`. */
const UTF8 = new TextEncoder();

/** A 32-bit unsigned integer stored in a JS number, in [0, 2^32). */
export type U32 = number;

/**
 * High 32 bits of the 64-bit product m * b, for m = mHi * 2^16 + mLo and b a u32.
 * mHi * b and mLo * b are below 2^48, so every double here is an exact integer; the floor of
 * the inner quotient can be taken early because mHi * b is an integer.
 */
function mulhi(mHi: number, mLo: number, b: number): number {
  return Math.floor((mHi * b + Math.floor((mLo * b) / 65536)) / 65536);
}

/** High 32 bits of the 64-bit product of two u32s (CUDA's `__umulhi`). */
export function mulhi32(a: U32, b: U32): U32 {
  return mulhi(a >>> 16, a & 0xffff, b);
}

/**
 * Philox-4x32 with 10 rounds: the Random123 `philox4x32(ctr, key)` with its default round
 * count, matching Random123's known-answer vectors bit for bit.
 *
 * @param counter four u32 words (reduced mod 2^32)
 * @param key two u32 words (reduced mod 2^32)
 * @returns four independent, uniformly distributed u32 words
 */
export function philox4x32_10(
  counter: readonly [number, number, number, number],
  key: readonly [number, number],
): [U32, U32, U32, U32] {
  let c0 = counter[0] >>> 0;
  let c1 = counter[1] >>> 0;
  let c2 = counter[2] >>> 0;
  let c3 = counter[3] >>> 0;
  let k0 = key[0] >>> 0;
  let k1 = key[1] >>> 0;
  for (let round = 0; round < 10; round++) {
    const hi0 = mulhi(M0_HI, M0_LO, c0);
    const lo0 = Math.imul(PHILOX_M0, c0) >>> 0;
    const hi1 = mulhi(M1_HI, M1_LO, c2);
    const lo1 = Math.imul(PHILOX_M1, c2) >>> 0;
    c0 = (hi1 ^ c1 ^ k0) >>> 0;
    c1 = lo1;
    c2 = (hi0 ^ c3 ^ k1) >>> 0;
    c3 = lo0;
    k0 = (k0 + PHILOX_W0) >>> 0;
    k1 = (k1 + PHILOX_W1) >>> 0;
  }
  return [c0, c1, c2, c3];
}

/**
 * Stream id of a named object: 32-bit FNV-1a of the name's UTF-8 bytes. Stable across runs
 * and platforms, so the same model always draws the same numbers for the same object.
 */
export function streamId(name: string): U32 {
  let hash = 0x811c9dc5;
  for (const byte of UTF8.encode(name)) {
    hash = Math.imul(hash ^ byte, 0x01000193);
  }
  return hash >>> 0;
}

/**
 * Four random u32 words for one draw, in the project's stream layout (see the top of this
 * file): key = [seed, stream], counter = [index, step, purpose, 0].
 *
 * @param seed simulation seed (low 32 bits used)
 * @param stream stream id of the drawing object, usually `streamId(name)`
 * @param index element (neuron / synapse) index within the object
 * @param step integration step number
 * @param purpose sub-stream separating independent draws of the same element and step
 */
export function randomU32x4(
  seed: number,
  stream: number,
  index: number,
  step: number,
  purpose: number,
): [U32, U32, U32, U32] {
  return philox4x32_10([index, step, purpose, 0], [seed, stream]);
}

/**
 * Uniform float in [0, 1) from a u32: the top 24 bits times 2^-24. Every result is a float32
 * value exactly, so all backends agree bit for bit.
 */
export function u32ToUniform01(x: U32): number {
  return (x >>> 8) * TWO_POW_M24;
}

/**
 * Uniform float in (0, 1] from a u32: (top 24 bits + 1) times 2^-24. Never 0, so its log is
 * finite (at least -24 ln 2). Exact in float32, bit-identical on all backends.
 */
export function u32ToUniformOpen(x: U32): number {
  return ((x >>> 8) + 1) * TWO_POW_M24;
}

type BoxMuller = (a: U32, b: U32) => [number, number];

/** The JavaScript prelude's `sf_box_muller` (with its `sf_log`), compiled at the first draw. */
let sfBoxMuller: BoxMuller | undefined;

/**
 * Two independent standard normal samples from two u32s (Box-Muller), float32 values, the
 * same bits as every backend's `sf_box_muller` (src/codegen/normal32.ts):
 *
 *   u1 = u32ToUniformOpen(a), u2 = u32ToUniform01(b), theta = 2 pi (u2 - 0.5)
 *   [sqrt(-2 ln u1) cos(theta), sqrt(-2 ln u1) sin(theta)]
 *
 * with its float32 log (math32.ts's sf_log), a correctly rounded sqrt, and a sine and cosine
 * of 2 pi (u2 - 0.5) within 1.21 ulp. theta lies in [-pi, pi) rather than [0, 2 pi); the
 * shift by pi only flips signs, so the pair is still independent N(0, 1).
 */
export function boxMuller(a: U32, b: U32): [number, number] {
  sfBoxMuller ??= new Function(
    `${jsPrelude(['sf_box_muller'])}\nreturn sf_box_muller;`,
  )() as BoxMuller;
  return sfBoxMuller(a, b);
}
