/**
 * Philox-4x32-10 in WebAssembly for the host: many consecutive counters at once, four per
 * iteration on SIMD lanes, the same words as `philox4x32_10` (philox.ts): 6.5 ns a block in
 * runs of 4096, against 70-110 ns per call in JavaScript (no 32 x 32 -> 64-bit product), which
 * dominated planning large networks (a block per stored synapse, neuron or per-synapse value).
 *
 * The module is assembled ahead of time: planning is synchronous and the assembler (wabt) loads
 * asynchronously, so its bytes are kept in philox-wasm-binary.ts, written by `npm run golden`
 * from `philoxRunWat()`; test/golden.test.ts fails when the two drift apart.
 */
import { InternalError } from '../diagnostics/diagnostic.js';
import { PHILOX_M0, PHILOX_M1, PHILOX_W0, PHILOX_W1, boxMuller, u32ToUniform01 } from './philox.js';
import { PHILOX_RUN_WASM } from './philox-wasm-binary.js';

/** Locals that `philoxRoundsX4` uses besides the four counter and two key vectors. */
export const PHILOX_ROUND_LOCALS =
  '(local $hi0 v128) (local $lo0 v128) (local $hi1 v128) (local $lo1 v128) (local $round i32)';

/** A v128 constant with `v` in each of its four i32 lanes. */
export const u32x4 = (v: number): string => `(v128.const i32x4 ${v} ${v} ${v} ${v})`;

/**
 * The ten rounds on four lanes, in place on the v128 locals $c0..$c3 (counters) and $k0, $k1
 * (keys): the 32 x 32 -> 64-bit products come from i64x2.extmul, their high halves gathered by
 * one shuffle.
 */
export function philoxRoundsX4(): string {
  const high = (c: string, m: number): string =>
    `(i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (i64x2.extmul_low_i32x4_u ${c} ${u32x4(m)}) (i64x2.extmul_high_i32x4_u ${c} ${u32x4(m)}))`;
  return `(local.set $round (i32.const 0))
  (loop $rounds
    (local.set $hi0 ${high('(local.get $c0)', PHILOX_M0)})
    (local.set $lo0 (i32x4.mul (local.get $c0) ${u32x4(PHILOX_M0)}))
    (local.set $hi1 ${high('(local.get $c2)', PHILOX_M1)})
    (local.set $lo1 (i32x4.mul (local.get $c2) ${u32x4(PHILOX_M1)}))
    (local.set $c0 (v128.xor (v128.xor (local.get $hi1) (local.get $c1)) (local.get $k0)))
    (local.set $c1 (local.get $lo1))
    (local.set $c2 (v128.xor (v128.xor (local.get $hi0) (local.get $c3)) (local.get $k1)))
    (local.set $c3 (local.get $lo0))
    (local.set $k0 (i32x4.add (local.get $k0) ${u32x4(PHILOX_W0)}))
    (local.set $k1 (i32x4.add (local.get $k1) ${u32x4(PHILOX_W1)}))
    (local.set $round (i32.add (local.get $round) (i32.const 1)))
    (br_if $rounds (i32.lt_u (local.get $round) (i32.const 10))))`;
}

/** Blocks one call can return: the module's one page of memory, 16 bytes a block. */
export const PHILOX_RUN_MAX = 4096;

/**
 * The module: `run(c0, c1, c2, c3, k0, k1, along, count)` writes the words of the counters
 * (c0, c1, c2, c3) + b e_along (word `along`, 0 or 1, counts up) for b in [0, count) to its
 * memory, block b at bytes 16 b. Four blocks per iteration: lane l of counter word w is
 * block 4i + l's word w, and a 4 x 4 transpose (two rounds of shuffles) stores each block's
 * words together. Up to three blocks past `count` are written, inside the memory since
 * count <= PHILOX_RUN_MAX, a multiple of four.
 */
export function philoxRunWat(): string {
  // i8x16.shuffle lane lists: u32 lanes (a0 b0 a1 b1), (a2 b2 a3 b3), (a0 a1 b0 b1), (a2 a3 b2 b3).
  const shuffle = (bytes: string, a: string, b: string): string =>
    `(i8x16.shuffle ${bytes} (local.get ${a}) (local.get ${b}))`;
  const LOW_PAIRS = '0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23';
  const HIGH_PAIRS = '8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31';
  const LOW_HALVES = '0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23';
  const HIGH_HALVES = '8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31';
  return `(module
(memory (export "memory") 1)
(func (export "run")
  (param $first0 i32) (param $first1 i32) (param $word2 i32) (param $word3 i32)
  (param $key0 i32) (param $key1 i32) (param $along i32) (param $count i32)
  (local $c0 v128) (local $c1 v128) (local $c2 v128) (local $c3 v128) (local $k0 v128) (local $k1 v128)
  ${PHILOX_ROUND_LOCALS}
  (local $lanes0 v128) (local $lanes1 v128) (local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128)
  (local $at i32) (local $end i32)
  ;; the lane offsets 0 1 2 3 go to counter word 0 or to word 1
  (local.set $lanes1 (v128.const i32x4 0 1 2 3))
  (local.set $lanes0 (v128.and (local.get $lanes1) (i32x4.splat (i32.sub (local.get $along) (i32.const 1)))))
  (local.set $lanes1 (v128.xor (local.get $lanes1) (local.get $lanes0)))
  (local.set $end (i32.shl (local.get $count) (i32.const 4)))
  (block $done (loop $blocks
    (br_if $done (i32.ge_u (local.get $at) (local.get $end)))
    (local.set $c0 (i32x4.add (i32x4.splat (local.get $first0)) (local.get $lanes0)))
    (local.set $c1 (i32x4.add (i32x4.splat (local.get $first1)) (local.get $lanes1)))
    (local.set $c2 (i32x4.splat (local.get $word2)))
    (local.set $c3 (i32x4.splat (local.get $word3)))
    (local.set $k0 (i32x4.splat (local.get $key0)))
    (local.set $k1 (i32x4.splat (local.get $key1)))
    ${philoxRoundsX4()}
    (local.set $t0 ${shuffle(LOW_PAIRS, '$c0', '$c1')})
    (local.set $t1 ${shuffle(HIGH_PAIRS, '$c0', '$c1')})
    (local.set $t2 ${shuffle(LOW_PAIRS, '$c2', '$c3')})
    (local.set $t3 ${shuffle(HIGH_PAIRS, '$c2', '$c3')})
    (v128.store (local.get $at) ${shuffle(LOW_HALVES, '$t0', '$t2')})
    (v128.store offset=16 (local.get $at) ${shuffle(HIGH_HALVES, '$t0', '$t2')})
    (v128.store offset=32 (local.get $at) ${shuffle(LOW_HALVES, '$t1', '$t3')})
    (v128.store offset=48 (local.get $at) ${shuffle(HIGH_HALVES, '$t1', '$t3')})
    (local.set $first0 (i32.add (local.get $first0) (i32.shl (i32.eqz (local.get $along)) (i32.const 2))))
    (local.set $first1 (i32.add (local.get $first1) (i32.shl (local.get $along) (i32.const 2))))
    (local.set $at (i32.add (local.get $at) (i32.const 64)))
    (br $blocks)))))`;
}

interface PhiloxRunner {
  readonly run: (...args: number[]) => void;
  readonly words: Uint32Array;
}

let runner: PhiloxRunner | undefined;

function philoxRunner(): PhiloxRunner {
  if (runner !== undefined) return runner;
  const module = new WebAssembly.Module(Buffer.from(PHILOX_RUN_WASM, 'base64'));
  const exports = new WebAssembly.Instance(module).exports;
  const memory = exports['memory'] as WebAssembly.Memory;
  runner = {
    run: exports['run'] as (...args: number[]) => void,
    words: new Uint32Array(memory.buffer),
  };
  return runner;
}

/**
 * The four words of Philox(key (seed, stream), counter + b e_along) for b in [0, count): block
 * b's words at [4 b, 4 b + 4) of the array returned, which is the generator's memory, valid
 * until its next call. Arguments are reduced modulo 2^32 as in `philox4x32_10`, and so is
 * the counting word. `along` is 0 (the element index, for per-element draws) or 1 (the second
 * counter word: the draws of one row).
 */
export function philoxRun(
  seed: number,
  stream: number,
  counter: readonly [number, number, number, number],
  along: 0 | 1,
  count: number,
): Uint32Array {
  if (count > PHILOX_RUN_MAX)
    throw new InternalError(`philoxRun draws at most ${PHILOX_RUN_MAX} blocks, not ${count}`);
  const { run, words } = philoxRunner();
  run(counter[0], counter[1], counter[2], counter[3], seed, stream, along, count);
  return words;
}

/**
 * The standard draws of elements [from, from + count) in `out` (count <= PHILOX_RUN_MAX):
 * element e's draw is u32ToUniform01(word 0), or for a normal boxMuller(word 0, word 1)'s first
 * value, of Philox(key (seed, stream), counter (e, 0, purpose, 0)), as randomU32x4(seed,
 * stream, e, 0, purpose) gives them to the kernels' initial-value and per-synapse draws.
 */
export function standardDraws(
  distribution: 'normal' | 'uniform',
  seed: number,
  stream: number,
  purpose: number,
  from: number,
  count: number,
  out: Float64Array,
): void {
  const words = philoxRun(seed, stream, [from, 0, purpose, 0], 0, count);
  for (let b = 0; b < count; b++)
    out[b] =
      distribution === 'normal'
        ? boxMuller(words[4 * b]!, words[4 * b + 1]!)[0]
        : u32ToUniform01(words[4 * b]!);
}
