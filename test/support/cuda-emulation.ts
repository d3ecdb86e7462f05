/**
 * Enough of CUDA for generated device code to compile as host C++ with the host's IEEE float
 * arithmetic (compile with -ffp-contract=off): the `__fadd_rn`-style intrinsics are the plain
 * operations they specify, and kernels run one thread at a time (test/cuda-emulated.test.ts
 * sets blockIdx, blockDim and threadIdx).
 */
export const EMULATION_HEADER = String.raw`#include <math.h>
#include <cmath>
#include <cstdint>
#include <cstring>
struct uint4 { unsigned x, y, z, w; };
struct uint2 { unsigned x, y; };
struct float2 { float x, y; };
inline uint4 make_uint4(unsigned a, unsigned b, unsigned c, unsigned d) { return uint4{a, b, c, d}; }
inline uint2 make_uint2(unsigned a, unsigned b) { return uint2{a, b}; }
inline float2 make_float2(float a, float b) { return float2{a, b}; }
inline unsigned __umulhi(unsigned a, unsigned b) { return static_cast<unsigned>((static_cast<std::uint64_t>(a) * b) >> 32); }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __fsqrt_rn(float a) { return std::sqrt(a); }
inline float __int_as_float(int v) { float f; std::memcpy(&f, &v, 4); return f; }
inline float __uint_as_float(unsigned v) { float f; std::memcpy(&f, &v, 4); return f; }
inline unsigned __float_as_uint(float f) { unsigned v; std::memcpy(&v, &f, 4); return v; }
inline unsigned atomicAdd(unsigned* p, unsigned v) { const unsigned old = *p; *p = old + v; return old; }
inline unsigned atomicExch(unsigned* p, unsigned v) { const unsigned old = *p; *p = v; return old; }
struct sf_emu_index { unsigned x, y, z; };
extern "C" { sf_emu_index blockIdx, blockDim, threadIdx; }
#define __global__
#define __device__
#define __forceinline__ inline
`;
