/**
 * The CUDA Philox library and normal draws (src/random/philox-cuda.ts, the prelude's
 * sf_box_muller):
 *   - compiled with nvcc for sm_90, every warning an error; the PTX has the hardware high-word
 *     multiply, the IEEE square root, and no FMA and no approximate function (every float
 *     operation of sf_box_muller is an `__fadd_rn`-style intrinsic);
 *   - sf_box_muller compiled as host C++ (test/support/cuda-emulation.ts: the intrinsics are the
 *     IEEE operations they specify) equals the JavaScript boxMuller bit for bit for every u1
 *     and every u2;
 *   - built with nvcc and run on a GPU, the same.
 * Each skips, with the reason printed, without nvcc, a C++ compiler or a CUDA device.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cudaPrelude } from '../src/codegen/cuda/prelude.js';
import { boxMuller } from '../src/random/philox.js';
import { PHILOX_CUDA } from '../src/random/philox-cuda.js';
import { probeCuda } from '../src/runtime/cuda/backend.js';
import { EMULATION_HEADER } from './support/cuda-emulation.js';

/** nvcc from PATH, else the default toolkit location; undefined when neither runs. */
function findNvcc(): string | undefined {
  for (const candidate of ['nvcc', '/usr/local/cuda/bin/nvcc']) {
    if (spawnSync(candidate, ['--version']).status === 0) return candidate;
  }
  return undefined;
}

const nvcc = findNvcc();
if (nvcc === undefined)
  console.warn('philox-cuda tests SKIPPED: nvcc not found (PATH, /usr/local/cuda/bin)');
const CXX = ['g++', 'c++', 'clang++'].find((c) => spawnSync(c, ['--version']).status === 0);
if (CXX === undefined)
  console.warn('philox-cuda: the emulated sf_box_muller SKIPPED: no C++ compiler');
const device = nvcc === undefined ? undefined : await probeCuda();
if (device !== undefined && !device.ok)
  console.warn(`philox-cuda: the run on a GPU SKIPPED: ${device.reason}`);

/** The library and the normal draws (a prelude helper, with the sf_log it calls). */
const LIBRARY = `${PHILOX_CUDA}\n${cudaPrelude(['sf_box_muller'])}`;

/** Uses every library function, so that each one is compiled and checked. */
const KERNEL = `${LIBRARY}
extern "C" __global__ void philox_kernel(const uint4* counters, const uint2* keys, uint4* words,
                                         uint4* layout_words, float4* uniforms, float4* normals,
                                         unsigned int n) {
  const unsigned int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const uint4 c = counters[i];
  const uint2 k = keys[i];
  words[i] = sf_philox4x32_10(c, k);
  layout_words[i] = sf_random_u32x4(k.x, k.y, c.x, c.y, c.z);
  uniforms[i] = make_float4(sf_u32_to_uniform01(c.x), sf_u32_to_uniform01(c.y),
                            sf_u32_to_uniform_open(c.z), sf_u32_to_uniform_open(c.w));
  const float2 n0 = sf_box_muller(c.x, c.y);
  const float2 n1 = sf_box_muller(c.z, c.w);
  normals[i] = make_float4(n0.x, n0.y, n1.x, n1.y);
}
`;

/** Pairs in the sweep: k in [0, 2^24) takes every u1 and every u2 (see SWEEP_PAIR). */
const SWEEP = 1 << 24;

/** The words of pair k: a = k << 8, b = (k * 0x9e3779 mod 2^24) << 8 (an odd multiplier permutes 2^24). */
const SWEEP_PAIR = `(k << 8), (((k * 0x9e3779u) & 0xffffffu) << 8)`;

/** The sweep as host C++: writes the 2^24 float2 of sf_box_muller to the file argv[1]. */
const EMULATED = `${EMULATION_HEADER}
#include <cstdio>
#include <vector>
${LIBRARY}
int main(int argc, char** argv) {
  std::vector<float2> out(${SWEEP});
  for (unsigned k = 0; k < ${SWEEP}u; k++) out[k] = sf_box_muller(${SWEEP_PAIR});
  FILE* f = std::fopen(argv[1], "wb");
  return f != nullptr && std::fwrite(out.data(), sizeof(float2), out.size(), f) == out.size() && std::fclose(f) == 0 ? 0 : 1;
}
`;

/** The sweep on the GPU: the same file. */
const ON_DEVICE = `#include <cstdio>
#include <vector>
${LIBRARY}
__global__ void sweep(float2* out) {
  const unsigned int k = blockIdx.x * blockDim.x + threadIdx.x;
  out[k] = sf_box_muller(${SWEEP_PAIR});
}

int main(int argc, char** argv) {
  float2* out = nullptr;
  std::vector<float2> host(${SWEEP});
  if (cudaMalloc(&out, sizeof(float2) * host.size()) != cudaSuccess) return 2;
  sweep<<<${SWEEP / 256}, 256>>>(out);
  if (cudaMemcpy(host.data(), out, sizeof(float2) * host.size(), cudaMemcpyDeviceToHost) != cudaSuccess) return 3;
  FILE* f = std::fopen(argv[1], "wb");
  return f != nullptr && std::fwrite(host.data(), sizeof(float2), host.size(), f) == host.size() && std::fclose(f) == 0 ? 0 : 1;
}
`;

/** The first few pairs of the sweep whose bits differ from boxMuller's, as text. */
function sweepMismatches(file: string): string[] {
  const got = new Uint32Array(new Uint8Array(readFileSync(file)).buffer);
  expect(got.length).toBe(2 * SWEEP);
  const want = new Float32Array(2);
  const wantBits = new Uint32Array(want.buffer);
  const out: string[] = [];
  for (let k = 0; k < SWEEP && out.length < 5; k++) {
    want.set(boxMuller(k << 8, (Math.imul(k, 0x9e3779) & 0xffffff) << 8));
    if (got[2 * k] !== wantBits[0] || got[2 * k + 1] !== wantBits[1])
      out.push(
        `pair ${k}: got ${got[2 * k]!.toString(16)} ${got[2 * k + 1]!.toString(16)}, want ${wantBits[0]!.toString(16)} ${wantBits[1]!.toString(16)}`,
      );
  }
  return out;
}

/** Runs a command, failing the test with its output when it does not succeed. */
function run(command: string, args: readonly string[]): void {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  expect(result.error).toBeUndefined();
  expect(result.status, `${command} ${args.join(' ')}:\n${result.stdout}${result.stderr}`).toBe(0);
}

describe.skipIf(nvcc === undefined)('Philox CUDA source', () => {
  const dir = mkdtempSync(join(tmpdir(), 'spikeforge-philox-cuda-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('compiles for sm_90 with every warning an error, with IEEE float operations only', () => {
    if (nvcc === undefined) throw new Error('unreachable: suite skipped without nvcc');
    const source = join(dir, 'philox.cu');
    const ptx = join(dir, 'philox.ptx');
    writeFileSync(source, KERNEL);
    const result = spawnSync(
      nvcc,
      ['-arch=sm_90', '-Werror', 'all-warnings', '--ptx', '-o', ptx, source],
      { encoding: 'utf8' },
    );
    expect(result.error).toBeUndefined();
    expect(`${result.stdout}${result.stderr}`.trim()).toBe('');
    expect(result.status).toBe(0);
    expect(existsSync(ptx)).toBe(true);
    const text = readFileSync(ptx, 'utf8');
    expect(text).toContain('.entry philox_kernel');
    // __umulhi became the hardware high-word multiply.
    expect(text).toContain('mul.hi.u32');
    // sf_box_muller: the IEEE square root, no contraction into an FMA, no approximations.
    expect(text).toContain('sqrt.rn.f32');
    expect(text).not.toMatch(/\bfma\.|\.approx\./);
  });

  it.skipIf(CXX === undefined)(
    'sf_box_muller, compiled as host C++, equals boxMuller bit for bit for every u1 and every u2',
    () => {
      const source = join(dir, 'emulated.cpp');
      const program = join(dir, 'emulated');
      const output = join(dir, 'emulated.bin');
      writeFileSync(source, EMULATED);
      run(CXX!, ['-O1', '-ffp-contract=off', '-std=c++17', '-o', program, source]);
      run(program, [output]);
      expect(sweepMismatches(output)).toEqual([]);
    },
  );

  it.skipIf(device === undefined || !device.ok)(
    'sf_box_muller on the GPU equals boxMuller bit for bit for every u1 and every u2',
    () => {
      const source = join(dir, 'device.cu');
      const program = join(dir, 'device');
      const output = join(dir, 'device.bin');
      writeFileSync(source, ON_DEVICE);
      run(nvcc!, ['-O2', '-o', program, source]);
      run(program, [output]);
      expect(sweepMismatches(output)).toEqual([]);
    },
  );
});
