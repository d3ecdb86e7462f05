/**
 * WGSL version of `philox.ts`: the same Philox-4x32-10, stream layout and conversions, for
 * inclusion at module scope in generated WebGPU kernels. Every name starts with `sf_` so it
 * cannot clash with generated identifiers.
 *
 * Defines:
 *   fn sf_philox4x32_10(ctr: vec4<u32>, key: vec2<u32>) -> vec4<u32>
 *   fn sf_random_u32x4(seed: u32, stream: u32, index: u32, step: u32, purpose: u32) -> vec4<u32>
 *   fn sf_u32_to_uniform01(x: u32) -> f32      // [0, 1), bit-identical to the JS
 *   fn sf_u32_to_uniform_open(x: u32) -> f32   // (0, 1], bit-identical to the JS
 *
 * The Philox words and the uniforms match the JavaScript bit for bit. The normal draws
 * (`sf_box_muller`, which needs `sf_log`) are a prelude helper: src/codegen/wgsl/prelude.ts.
 */
export const PHILOX_WGSL = /* wgsl */ `
const sf_PHILOX_M0: u32 = 0xd2511f53u;
const sf_PHILOX_M1: u32 = 0xcd9e8d57u;
const sf_PHILOX_W0: u32 = 0x9e3779b9u;
const sf_PHILOX_W1: u32 = 0xbb67ae85u;

// High word of the 32x32 -> 64-bit product: WGSL has no 64-bit integers, so multiply
// 16-bit limbs (each partial product fits in a u32) and propagate the middle carry.
fn sf_mulhi32(a: u32, b: u32) -> u32 {
  let al = a & 0xffffu;
  let ah = a >> 16u;
  let bl = b & 0xffffu;
  let bh = b >> 16u;
  let lh = al * bh;
  let hl = ah * bl;
  let mid = ((al * bl) >> 16u) + (lh & 0xffffu) + (hl & 0xffffu);
  return ah * bh + (lh >> 16u) + (hl >> 16u) + (mid >> 16u);
}

fn sf_philox4x32_10(ctr: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
  var c = ctr;
  var k = key;
  for (var i = 0u; i < 10u; i++) {
    let hi0 = sf_mulhi32(sf_PHILOX_M0, c.x);
    let lo0 = sf_PHILOX_M0 * c.x;
    let hi1 = sf_mulhi32(sf_PHILOX_M1, c.z);
    let lo1 = sf_PHILOX_M1 * c.z;
    c = vec4<u32>(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
    k += vec2<u32>(sf_PHILOX_W0, sf_PHILOX_W1);
  }
  return c;
}

// Project stream layout: key = (seed, stream), counter = (index, step, purpose, 0).
fn sf_random_u32x4(seed: u32, stream: u32, index: u32, step: u32, purpose: u32) -> vec4<u32> {
  return sf_philox4x32_10(vec4<u32>(index, step, purpose, 0u), vec2<u32>(seed, stream));
}

fn sf_u32_to_uniform01(x: u32) -> f32 {
  return f32(x >> 8u) * 5.9604644775390625e-8; // 2^-24
}

fn sf_u32_to_uniform_open(x: u32) -> f32 {
  return f32((x >> 8u) + 1u) * 5.9604644775390625e-8; // 2^-24
}
`;
