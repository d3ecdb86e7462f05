/**
 * CUDA C++ version of `philox.ts`: the same Philox-4x32-10, stream layout and conversions,
 * for inclusion in generated CUDA kernels (no #include needed under nvcc). Every name
 * starts with `sf_` so it cannot clash with generated identifiers.
 *
 * Defines (all `__device__ __forceinline__`):
 *   uint4  sf_philox4x32_10(uint4 ctr, uint2 key)
 *   uint4  sf_random_u32x4(unsigned seed, unsigned stream, unsigned index, unsigned step,
 *                          unsigned purpose)
 *   float  sf_u32_to_uniform01(unsigned x)      // [0, 1), bit-identical to the JS
 *   float  sf_u32_to_uniform_open(unsigned x)   // (0, 1], bit-identical to the JS
 *
 * The Philox words and the uniforms match the JavaScript bit for bit. The normal draws
 * (`sf_box_muller`, which needs `sf_log`) are a prelude helper: src/codegen/cuda/prelude.ts.
 */
export const PHILOX_CUDA = /* cuda */ `
constexpr unsigned int sf_PHILOX_M0 = 0xd2511f53u;
constexpr unsigned int sf_PHILOX_M1 = 0xcd9e8d57u;
constexpr unsigned int sf_PHILOX_W0 = 0x9e3779b9u;
constexpr unsigned int sf_PHILOX_W1 = 0xbb67ae85u;

__device__ __forceinline__ uint4 sf_philox4x32_10(uint4 ctr, uint2 key) {
#pragma unroll
  for (int i = 0; i < 10; ++i) {
    const unsigned int hi0 = __umulhi(sf_PHILOX_M0, ctr.x);
    const unsigned int lo0 = sf_PHILOX_M0 * ctr.x;
    const unsigned int hi1 = __umulhi(sf_PHILOX_M1, ctr.z);
    const unsigned int lo1 = sf_PHILOX_M1 * ctr.z;
    ctr = make_uint4(hi1 ^ ctr.y ^ key.x, lo1, hi0 ^ ctr.w ^ key.y, lo0);
    key.x += sf_PHILOX_W0;
    key.y += sf_PHILOX_W1;
  }
  return ctr;
}

// Project stream layout: key = (seed, stream), counter = (index, step, purpose, 0).
__device__ __forceinline__ uint4 sf_random_u32x4(unsigned int seed, unsigned int stream,
                                                 unsigned int index, unsigned int step,
                                                 unsigned int purpose) {
  return sf_philox4x32_10(make_uint4(index, step, purpose, 0u), make_uint2(seed, stream));
}

__device__ __forceinline__ float sf_u32_to_uniform01(unsigned int x) {
  return static_cast<float>(x >> 8) * 5.9604644775390625e-8f; // 2^-24
}

__device__ __forceinline__ float sf_u32_to_uniform_open(unsigned int x) {
  return static_cast<float>((x >> 8) + 1u) * 5.9604644775390625e-8f; // 2^-24
}
`;
