/**
 * The CUDA printer's output compiles: random expressions (every function, powers, logic,
 * where, non-finite constants) printed as float and as double into `__device__` functions,
 * with the prelude, through `nvcc -arch=sm_90 --ptx` with every warning an error. Compile
 * only: no GPU is needed. Skipped, with the reason printed, where nvcc is missing.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { CudaPrinter } from '../src/codegen/cuda/printer.js';
import { CUDA_HELPER_NAMES, cudaPrelude } from '../src/codegen/cuda/prelude.js';
import { jsPrelude } from '../src/codegen/js/prelude.js';
import type { Precision } from '../src/codegen/printer.js';
import * as S from '../src/symbolic/expr.js';

/** nvcc from PATH, else the default toolkit location; undefined when neither runs. */
function findNvcc(): string | undefined {
  for (const candidate of ['nvcc', '/usr/local/cuda/bin/nvcc']) {
    if (spawnSync(candidate, ['--version']).status === 0) return candidate;
  }
  return undefined;
}

const nvcc = findNvcc();
if (nvcc === undefined)
  console.warn('printer-cuda tests SKIPPED: nvcc not found (PATH, /usr/local/cuda/bin)');

const SYMBOLS = ['a', 'b', 'c', 'x'] as const;

/** Random expressions over SYMBOLS using every function, all kinds of powers and logic. */
function exprArbitrary(): fc.Arbitrary<S.Expr> {
  const constants = [0.5, 2, -1, 0.1, 1.5, 1e-8, 3e38, Infinity, -Infinity, NaN];
  const exponents = [2, 3, 4, -1, -2, -3, -4, 0.5, -0.5, 1.5, 0, 1, -2.5];
  const ops: readonly S.CmpOp[] = ['<', '<=', '>', '>=', '==', '!='];
  const leaf = fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...SYMBOLS).map((s) => S.sym(s) as S.Expr) },
    { weight: 1, arbitrary: fc.constantFrom(...constants).map((v) => S.num(v) as S.Expr) },
  );
  const { expr } = fc.letrec<{ expr: S.Expr; cond: S.Expr }>((tie) => {
    const e = tie('expr');
    const cond = tie('cond');
    return {
      expr: fc.oneof(
        { maxDepth: 4, depthSize: 'small' },
        leaf,
        fc.tuple(e, e, e).map(([p, q, r]) => S.add(p, q, r)),
        fc.tuple(e, e).map(([p, q]) => S.sub(p, q)),
        fc.tuple(fc.constantFrom(...constants), e, e).map(([k, p, q]) => S.mul(S.num(k), p, q)),
        fc.tuple(e, e).map(([p, q]) => S.div(p, q)),
        e.map((p) => S.neg(p)),
        fc.tuple(e, fc.constantFrom(...exponents)).map(([p, k]) => S.pow(p, S.num(k))),
        fc.tuple(e, e).map(([p, q]) => S.pow(p, q)),
        fc.tuple(cond, e, e).map(([c, p, q]) => S.where(c, p, q) as S.Expr),
        fc.tuple(fc.constantFrom(...S.UNARY_FNS), e).map(([f, p]) => S.call(f, p) as S.Expr),
        fc
          .tuple(fc.constantFrom(...S.BINARY_FNS), e, e)
          .map(([f, p, q]) => S.call(f, p, q) as S.Expr),
        cond,
      ),
      cond: fc.oneof(
        fc.tuple(fc.constantFrom(...ops), e, e).map(([op, p, q]) => S.cmp(op, p, q) as S.Expr),
        fc.tuple(cond, cond).map(([p, q]) => S.and(p, q)),
        fc.tuple(cond, cond).map(([p, q]) => S.or(p, q)),
        cond.map((p) => S.not(p) as S.Expr),
        e,
      ),
    };
  });
  return expr;
}

/** A translation unit: the prelude, one device function per expression and a kernel calling them. */
function translationUnit(exprs: readonly S.Expr[], precision: Precision, tag: string): string {
  const printer = new CudaPrinter({ precision });
  const t = printer.typeName('float');
  const params = SYMBOLS.map((s) => `${t} ${s}`).join(', ');
  const fns = exprs.map(
    (e, k) => `__device__ ${t} ${tag}${k}(${params}) {\n  return ${printer.printExpr(e)};\n}`,
  );
  const conds = exprs.map(
    (e, k) => `__device__ bool ${tag}c${k}(${params}) {\n  return ${printer.printCondition(e)};\n}`,
  );
  const calls = exprs.map(
    (_, k) =>
      `  acc += ${tag}${k}(v[0], v[1], v[2], v[3]) + (${tag}c${k}(v[0], v[1], v[2], v[3]) ? 1 : 0);`,
  );
  return `${fns.join('\n\n')}

${conds.join('\n\n')}

extern "C" __global__ void ${tag}_kernel(const ${t}* in, ${t}* out, unsigned int n) {
  const unsigned int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const ${t}* v = in + 4 * i;
  ${t} acc = 0;
${calls.join('\n')}
  out[i] = acc;
}
`;
}

describe.skipIf(nvcc === undefined)('CUDA printer output', () => {
  const dir = mkdtempSync(join(tmpdir(), 'spikeforge-printer-cuda-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** Compiles `source` to PTX with every warning an error; returns the PTX. */
  function compile(name: string, source: string): string {
    if (nvcc === undefined) throw new Error('unreachable: suite skipped without nvcc');
    const cu = join(dir, `${name}.cu`);
    const ptx = join(dir, `${name}.ptx`);
    writeFileSync(cu, source);
    const result = spawnSync(
      nvcc,
      ['-arch=sm_90', '-Werror', 'all-warnings', '--ptx', '-o', ptx, cu],
      {
        encoding: 'utf8',
      },
    );
    expect(result.error).toBeUndefined();
    expect(`${result.stdout}${result.stderr}`.trim()).toBe('');
    expect(result.status).toBe(0);
    expect(existsSync(ptx)).toBe(true);
    return readFileSync(ptx, 'utf8');
  }

  it('random float and double expressions compile for sm_90 with every warning an error', () => {
    const exprs = fc.sample(exprArbitrary(), { seed: 41, numRuns: 60 });
    const source = `${cudaPrelude(CUDA_HELPER_NAMES)}
${translationUnit(exprs, 'f32', 'f')}
${translationUnit(exprs, 'f64', 'd')}`;
    const ptx = compile('random', source);
    expect(ptx).toContain('.entry f_kernel');
    expect(ptx).toContain('.entry d_kernel');
  });

  it('float code stays in float: no double arithmetic in the float kernel', () => {
    const x = S.sym('x');
    const exprs = [
      S.div(S.neg(S.sub(S.sym('a'), S.sym('b'))), S.sym('c')),
      S.add(S.mul(S.sym('a'), S.pow(x, S.num(2))), S.sym('b')),
      S.call('exp', S.div(S.neg(S.sym('a')), S.sym('c'))),
      S.call('exprel', x),
      S.where(S.cmp('>=', x, S.num(0.1)), S.num(Infinity), S.pow(x, S.num(-1))),
      S.mul(S.num(3), S.cmp('<', S.sym('a'), S.sym('b'))),
      // Not sin, cos, tan: CUDA's sinf/cosf/tanf reduce huge arguments in double internally.
      ...S.UNARY_FNS.filter((f) => !['sin', 'cos', 'tan'].includes(f)).map(
        (f) => S.call(f, x) as S.Expr,
      ),
      ...S.BINARY_FNS.map((f) => S.call(f, x, S.sym('a')) as S.Expr),
      S.pow(x, S.num(1.5)),
    ];
    const printer = new CudaPrinter();
    const ptx = compile(
      'float',
      `${cudaPrelude(CUDA_HELPER_NAMES)}\n${translationUnit(exprs, 'f32', 'f')}`,
    );
    // A double literal or function would show up as .f64 instructions. (The double overloads
    // of the prelude helpers are never called, so they emit nothing.)
    expect(ptx.match(/\.f64/g) ?? []).toEqual([]);
    expect(printer.printExpr(S.call('exp', x))).toBe('sf_exp(x)');
    expect(new CudaPrinter({ precision: 'f64' }).printExpr(S.call('exp', x))).toBe('exp(x)');
  });

  it('sf_exp and sf_log are never contracted into FMAs, even without --fmad=false', () => {
    const x = S.sym('x');
    const exprs = [S.call('exp', x), S.call('log', x), S.call('exprel', x)];
    // nvcc's default is --fmad=true: the intrinsics must keep every multiply and add apart.
    const ptx = compile('nofma', `${cudaPrelude()}\n${translationUnit(exprs, 'f32', 'f')}`);
    expect(ptx).toContain('mul.rn.f32');
    expect(ptx.match(/\bfma\.[a-z.]*f32/g) ?? []).toEqual([]);
  });
});

/** A host C++ compiler, for running the float helpers on the CPU. */
const CXX = ['g++', 'c++', 'clang++'].find((c) => spawnSync(c, ['--version']).status === 0);

describe.skipIf(CXX === undefined)('CUDA float helpers as host C++', () => {
  const dir = mkdtempSync(join(tmpdir(), 'spikeforge-cuda-helpers-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /**
   * The prelude's sf_exp, sf_log and sf_exprel(float) compiled as host C++, with the CUDA
   * intrinsics defined as the IEEE float operations they are (x86-64 SSE arithmetic,
   * -ffp-contract=off), run over the same inputs as the JavaScript float32 helpers: the CUDA
   * text must be the same sequence of operations, bit for bit. (The device's own arithmetic
   * is IEEE too; what this cannot check is a device.)
   */
  it('equal the JavaScript float32 sf_exp, sf_log and sf_exprel32 bit for bit', () => {
    const shim = String.raw`#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>
#define __device__
#define __forceinline__ inline
using std::isinf;
static inline float __int_as_float(int i) { float f; std::memcpy(&f, &i, 4); return f; }
static inline float __uint_as_float(unsigned int i) { float f; std::memcpy(&f, &i, 4); return f; }
static inline unsigned int __float_as_uint(float f) { unsigned int i; std::memcpy(&i, &f, 4); return i; }
static inline float __fadd_rn(float a, float b) { return a + b; }
static inline float __fsub_rn(float a, float b) { return a - b; }
static inline float __fmul_rn(float a, float b) { return a * b; }
static inline float __fdiv_rn(float a, float b) { return a / b; }
`;
    const main = String.raw`
int main(int argc, char** argv) {
  FILE* in = std::fopen(argv[1], "rb");
  std::vector<float> xs;
  float v;
  while (std::fread(&v, 4, 1, in) == 1) xs.push_back(v);
  std::fclose(in);
  FILE* out = std::fopen(argv[2], "wb");
  for (float x : xs) {
    const float r[3] = {sf_exp(x), sf_log(x), sf_exprel(x)};
    std::fwrite(r, 4, 3, out);
  }
  std::fclose(out);
  return 0;
}
`;
    const cpp = join(dir, 'helpers.cpp');
    const exe = join(dir, 'helpers');
    writeFileSync(cpp, `${shim}\n${cudaPrelude(['sf_exp', 'sf_log', 'sf_exprel'])}\n${main}`);
    const build = spawnSync(
      CXX!,
      ['-std=c++17', '-O2', '-ffp-contract=off', '-fno-fast-math', '-o', exe, cpp],
      { encoding: 'utf8' },
    );
    expect(`${build.stdout}${build.stderr}`).toBe('');
    expect(build.status).toBe(0);

    const floats = (from: number, to: number, stride: number): number[] => {
      const out: number[] = [];
      const u = new Uint32Array(1);
      const f = new Float32Array(u.buffer);
      for (let b = from; b <= to; b += stride) {
        u[0] = b;
        out.push(f[0]!);
      }
      return out;
    };
    const xs = new Float32Array([
      0,
      -0,
      1,
      -1,
      2 ** -149,
      Infinity,
      -Infinity,
      NaN,
      1e-30,
      -30,
      -100,
      ...floats(0, 0x7f7fffff, 4099),
      ...floats(0x80000000, 0xc2d00000, 4099),
      ...floats(0x42b17200, 0x42b17230, 1),
      ...floats(0xc2cff1a0, 0xc2cff1c0, 1),
    ]);
    const input = join(dir, 'in.bin');
    const output = join(dir, 'out.bin');
    writeFileSync(input, xs);
    const ran = spawnSync(exe, [input, output], { encoding: 'utf8' });
    expect(ran.status).toBe(0);
    const got = new Float32Array(new Uint8Array(readFileSync(output)).buffer);
    const [sfExp, sfLog, sfExprel32] = new Function(
      `${jsPrelude(['sf_exp', 'sf_log', 'sf_exprel32'])}\nreturn [sf_exp, sf_log, sf_exprel32];`,
    )() as ((x: number) => number)[];
    const fns = [sfExp!, sfLog!, sfExprel32!];
    const names = ['sf_exp', 'sf_log', 'sf_exprel'];
    const mismatches: string[] = [];
    xs.forEach((x, i) => {
      fns.forEach((fn, k) => {
        const want = fn(x);
        const have = got[3 * i + k]!;
        const ok = Number.isNaN(want) ? Number.isNaN(have) : Object.is(have, want);
        if (!ok && mismatches.length < 8)
          mismatches.push(`${names[k]}(${x}) = ${have}, JavaScript ${want}`);
      });
    });
    expect(mismatches).toEqual([]);
    expect(xs.length).toBeGreaterThan(500_000);
  });
});
