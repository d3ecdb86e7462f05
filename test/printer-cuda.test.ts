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
    expect(printer.printExpr(S.call('exp', x))).toBe('expf(x)');
  });
});
