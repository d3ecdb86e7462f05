import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PHILOX_CUDA } from '../src/random/philox-cuda.js';

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

/** Uses every library function, so that each one is compiled and checked. */
const KERNEL = `${PHILOX_CUDA}
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

describe.skipIf(nvcc === undefined)('Philox CUDA source', () => {
  const dir = mkdtempSync(join(tmpdir(), 'spikeforge-philox-cuda-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('compiles for sm_90 with every warning an error', () => {
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
  });
});
