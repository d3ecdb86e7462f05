/**
 * The WGSL printer on a real WebGPU device (Dawn; Mesa's llvmpipe where there is no GPU):
 * printed expressions compile without errors or warnings, and compute what the JavaScript
 * float32 printer computes: bit for bit for + - * / (and the exact functions) and for `exp`,
 * `log` and `exprel` (the prelude helpers sf_exp, sf_log and sf_exprel, src/codegen/math32.ts),
 * within a few ulps for the other transcendental functions (WGSL's own).
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { JsPrinter } from '../src/codegen/js/printer.js';
import { jsPrelude } from '../src/codegen/js/prelude.js';
import { WgslPrinter } from '../src/codegen/wgsl/printer.js';
import { WGSL_HELPER_NAMES, wgslPrelude } from '../src/codegen/wgsl/prelude.js';
import * as S from '../src/symbolic/expr.js';
import {
  compileWgsl,
  formatCompilationMessages,
  openWebGpu,
  runCompute,
} from './support/webgpu.js';

const opened = await openWebGpu();
if (!opened.ok) console.warn(`printer-wgsl tests SKIPPED: no WebGPU adapter (${opened.reason})`);

const SYMBOLS = ['a', 'b', 'c', 'x'] as const;
const WORKGROUP = 64;

/** Random expressions over SYMBOLS with the given functions and exponents. */
function exprArbitrary(
  unary: readonly S.UnaryFn[],
  exponents: readonly number[],
): fc.Arbitrary<S.Expr> {
  const constants = [0.5, 2, 3, -1, 0.1, 1.5, -0.25, 7, 0.3];
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
        fc.tuple(e, e).map(([p, q]) => S.add(p, q)),
        fc.tuple(e, e, e).map(([p, q, r]) => S.add(p, q, r)),
        fc.tuple(e, e).map(([p, q]) => S.sub(p, q)),
        fc.tuple(fc.constantFrom(...constants), e, e).map(([k, p, q]) => S.mul(S.num(k), p, q)),
        fc.tuple(e, e).map(([p, q]) => S.div(p, q)),
        e.map((p) => S.neg(p)),
        fc.tuple(e, fc.constantFrom(...exponents)).map(([p, k]) => S.pow(p, S.num(k))),
        fc.tuple(cond, e, e).map(([c, p, q]) => S.where(c, p, q) as S.Expr),
        fc.tuple(fc.constantFrom(...unary), e).map(([f, p]) => S.call(f, p) as S.Expr),
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

/** Float32 input tuples (a, b, c, x). */
function makeInputs(count: number, seed: number, lo = 0.125, hi = 8): Float32Array {
  const value = fc.oneof(
    fc.double({ min: lo, max: hi, noNaN: true }),
    fc.double({ min: -hi, max: -lo, noNaN: true }),
    fc.constantFrom(0, 1, -1, 0.5, 2),
  );
  return new Float32Array(fc.sample(value, { seed, numRuns: 4 * count }));
}

/** A compute shader applying each expression (a function of a, b, c, x) to every input. */
function kernel(printer: WgslPrinter, bodies: readonly string[]): string {
  const fns = bodies.map(
    (b, k) => `fn e${k}(a: f32, b: f32, c: f32, x: f32) -> f32 {\n  return ${b};\n}`,
  );
  const calls = bodies.map((_, k) => `  out[${k}u * n + i] = e${k}(v.x, v.y, v.z, v.w);`);
  return `${printer.prelude()}
${fns.join('\n\n')}

@group(0) @binding(0) var<storage, read> inputs: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  let i = id.x;
  let n = arrayLength(&inputs);
  if (i >= n) {
    return;
  }
  let v = inputs[i];
${calls.join('\n')}
}
`;
}

/** The JavaScript float32 printer's code for `e`, compiled over the symbols. */
function jsFloat32(e: S.Expr): (v: readonly number[]) => number {
  const code = new JsPrinter({ precision: 'f32' }).printExpr(e);
  const fn = new Function(...SYMBOLS, `${jsPrelude()}\nreturn ${code};`) as (
    ...args: number[]
  ) => number;
  return (v) => fn(...v);
}

/** Spacing of float32 values at |x| (the smallest normal's spacing below it). */
function ulp32(x: number): number {
  const a = Math.abs(x);
  return 2 ** (Math.max(Math.floor(Math.log2(a)), -126) - 23);
}

/**
 * Does every symbol occur at most once in `e` (as a tree)? Mesa's shader compiler (the
 * software adapter's) rewrites float arithmetic algebraically, since GLSL promises no IEEE
 * exactness without `precise`: `(a + b) - b` becomes `a`, `a + c + c` becomes
 * `a + 2 * c`. Expressions that mention each symbol once leave it nothing to rewrite.
 */
function readOnce(e: S.Expr): boolean {
  const seen = new Set<string>();
  const visit = (x: S.Expr): boolean => {
    if (x.kind === 'sym') {
      if (seen.has(x.name)) return false;
      seen.add(x.name);
      return true;
    }
    return S.children(x).every(visit);
  };
  return visit(e);
}

/** Does `e` mention a symbol? */
function hasSymbol(e: S.Expr): boolean {
  return e.kind === 'sym' || S.children(e).some(hasSymbol);
}

const same = (p: number, q: number): boolean => p === q || (Number.isNaN(p) && Number.isNaN(q));

describe.skipIf(!opened.ok)('WGSL printer on WebGPU', () => {
  const gpu = () => {
    if (!opened.ok) throw new Error('unreachable: suite skipped without a device');
    return opened.gpu;
  };
  afterAll(() => gpu().close());

  /** Compiles (asserting no errors or warnings) and runs `exprs` over `inputs`, per expression. */
  async function run(exprs: readonly S.Expr[], inputs: Float32Array): Promise<Float32Array[]> {
    const printer = new WgslPrinter();
    const code = kernel(
      printer,
      exprs.map((e) => printer.printExpr(e)),
    );
    const { module, messages } = await compileWgsl(gpu().device, code);
    expect(formatCompilationMessages(messages.filter((m) => m.type !== 'info'))).toEqual([]);
    const n = inputs.length / 4;
    const [, out] = await runCompute(gpu().device, {
      module,
      entryPoint: 'main',
      buffers: [{ data: inputs }, { byteLength: 4 * n * exprs.length }],
      workgroups: [Math.ceil(n / WORKGROUP), 1, 1],
    });
    const all = new Float32Array(out!);
    return exprs.map((_, k) => all.subarray(k * n, (k + 1) * n));
  }

  it('the whole prelude compiles with no errors or warnings', async () => {
    console.info(`WebGPU adapter: ${gpu().description}`);
    const code = `${wgslPrelude(WGSL_HELPER_NAMES)}
@compute @workgroup_size(1)
fn main() {}
`;
    const { messages } = await compileWgsl(gpu().device, code);
    expect(formatCompilationMessages(messages.filter((m) => m.type !== 'info'))).toEqual([]);
  });

  it('random expressions with every function compile with no errors or warnings', async () => {
    // Calls on constants alone are left out: the WGSL compiler evaluates them, and overflow
    // there (exp(exp(7.0f))) is a compile error; simplify() folds them before printing.
    const constantCall = (e: S.Expr): boolean =>
      ((e.kind === 'call' || e.kind === 'pow') && !S.children(e).some(hasSymbol)) ||
      S.children(e).some(constantCall);
    const exprs = fc
      .sample(exprArbitrary(S.UNARY_FNS, [2, 3, 4, -1, -2, -3, -4, 0.5, -0.5, 1.5, 0, 1]), {
        seed: 33,
        numRuns: 300,
      })
      .filter((e) => !constantCall(e))
      .slice(0, 120);
    exprs.push(
      S.add(S.sym('x'), S.num(Infinity)),
      S.mul(S.num(NaN), S.sym('a')),
      S.pow(S.sym('x'), S.sym('a')),
    );
    const printer = new WgslPrinter();
    const conds = exprs.map(
      (e, k) =>
        `fn c${k}(a: f32, b: f32, c: f32, x: f32) -> bool {\n  return ${printer.printCondition(e)};\n}`,
    );
    const code = `${kernel(
      printer,
      exprs.map((e) => printer.printExpr(e)),
    )}\n${conds.join('\n\n')}\n`;
    const { messages } = await compileWgsl(gpu().device, code);
    expect(formatCompilationMessages(messages.filter((m) => m.type !== 'info'))).toEqual([]);
    // Helpers called directly.
    expect([...printer.helpers].sort()).toEqual([
      'sf_exp',
      'sf_exprel',
      'sf_inf',
      'sf_log',
      'sf_log10',
      'sf_nan',
    ]);
  });

  it('+ - * /, powers, comparisons, logic, where, min/max/abs/floor/ceil: bit for bit', async () => {
    const exact: readonly S.UnaryFn[] = ['abs', 'floor', 'ceil'];
    const exprs = fc
      .sample(exprArbitrary(exact, [2, 3, 4, -1, -2, -3, -4]), { seed: 31, numRuns: 1000 })
      .filter(readOnce)
      .slice(0, 120);
    // The cases of the printed-forms tests too.
    const [V, Vr, tau, a, b, x] = ['a', 'b', 'c', 'a', 'b', 'x'].map((n) => S.sym(n)) as [
      S.Sym,
      S.Sym,
      S.Sym,
      S.Sym,
      S.Sym,
      S.Sym,
    ];
    exprs.push(
      S.div(S.neg(S.sub(V, Vr)), tau),
      S.add(S.mul(a, S.pow(x, S.num(2))), b),
      S.pow(x, S.num(-1)),
      S.where(
        S.or(S.and(S.cmp('<', a, b), S.cmp('>', x, S.num(0))), S.not(S.cmp('==', V, S.num(1)))),
        a,
        b,
      ),
    );
    const inputs = makeInputs(256, 32);
    const got = await run(exprs, inputs);
    const mismatches: string[] = [];
    const failed = new Set<number>();
    let compared = 0;
    exprs.forEach((e, k) => {
      const js = jsFloat32(e);
      for (let i = 0; i < inputs.length / 4; i++) {
        const v = [...inputs.subarray(4 * i, 4 * i + 4)];
        const want = js(v);
        const have = got[k]![i]!;
        // WGSL lets implementations assume there are no infinities or NaNs (llvmpipe folds
        // x / (c - c) to 0): only finite results are comparable.
        if (!Number.isFinite(want)) continue;
        compared++;
        if (!same(have, want) && !failed.has(k)) {
          failed.add(k);
          mismatches.push(
            `${new WgslPrinter().printExpr(e)} at [${v.join(', ')}]: ${have}, JS ${want}`,
          );
        }
      }
    });
    expect(mismatches).toEqual([]);
    expect(compared).toBeGreaterThan(0.9 * exprs.length * (inputs.length / 4));
  });

  it('transcendental functions: within a few ulps of the JavaScript float32 printer', async () => {
    const x = S.sym('x');
    const a = S.sym('a');
    const tau = S.sym('c');
    /**
     * Expression, input range of x (a and c run over [1, 8]), ulps allowed (a function of the
     * inputs [a, b, c, x]), absolute error allowed. exp and log are the prelude's sf_exp and
     * sf_log on both sides: no difference allowed. The other allowances follow the WGSL spec's
     * accuracy table: exp 3 + 2|arg| ulps (so sinh, cosh and pow inherit growing errors),
     * log2 (sf_log10) and sin, cos absolute on [0.5, 2] and [-pi, pi], atan 4096 ulps.
     */
    type Ulps = (v: readonly number[]) => number;
    const fixed =
      (k: number): Ulps =>
      () =>
        k;
    const expOf =
      (arg: Ulps): Ulps =>
      (v) =>
        4 + 2 * Math.abs(arg(v));
    const av: Ulps = (v) => v[0]!;
    const cv: Ulps = (v) => v[2]!;
    const xv: Ulps = (v) => v[3]!;
    const cases: [S.Expr, number, number, Ulps, number][] = [
      [S.call('exp', x), -20, 20, fixed(0), 0],
      [S.call('exp', S.div(S.neg(a), tau)), 0, 1, fixed(0), 0],
      [S.call('log', x), 2, 1000, fixed(0), 0],
      [S.call('log', x), 0.5, 2, fixed(0), 0],
      [S.call('log10', x), 0.001, 1000, fixed(4), 2 ** -21],
      [S.call('sqrt', x), 0, 1000, fixed(3), 0],
      [S.pow(x, S.num(0.5)), 0, 1000, fixed(3), 0],
      [S.pow(x, S.num(-0.5)), 0.01, 1000, fixed(4), 0],
      [S.pow(x, S.num(1.5)), 0.01, 100, expOf((v) => 1.5 * Math.log2(xv(v)) + 2), 0],
      [S.pow(x, S.sym('a')), 0.5, 4, expOf((v) => av(v) * Math.log2(xv(v)) + 2), 0],
      [S.call('sin', x), -3.1, 3.1, fixed(4), 2 ** -20],
      [S.call('cos', x), -3.1, 3.1, fixed(4), 2 ** -20],
      [S.call('tan', x), -1.5, 1.5, fixed(8), 2 ** -20],
      [S.call('tanh', x), -10, 10, fixed(8), 2 ** -21],
      [S.call('sinh', x), -10, 10, expOf(xv), 2 ** -21],
      [S.call('cosh', x), -10, 10, expOf(xv), 0],
      [S.call('atan', x), -100, 100, fixed(4096), 0],
      [S.add(S.mul(a, S.call('exp', x)), S.num(1)), -5, 5, fixed(0), 0],
    ];
    const n = 1024;
    const inputs = new Float32Array(4 * n * cases.length);
    cases.forEach(([, lo, hi], k) => {
      for (let i = 0; i < n; i++) {
        const t = i / (n - 1);
        const j = 4 * (k * n + i);
        inputs[j] = 1 + 7 * t; // a
        inputs[j + 2] = 8 - 7 * t; // c
        inputs[j + 3] = lo + (hi - lo) * t; // x
      }
    });
    const got = await run(
      cases.map(([e]) => e),
      inputs,
    );
    const failures: string[] = [];
    const report: string[] = [];
    cases.forEach(([e, lo, hi, ulps, abs], k) => {
      const js = jsFloat32(e);
      let worst = 0;
      for (let i = 0; i < n; i++) {
        const j = k * n + i;
        const v = [...inputs.subarray(4 * j, 4 * j + 4)];
        const want = js(v);
        const have = got[k]![j]!;
        const error = Math.abs(have - want);
        const tolerance = ulps(v) * ulp32(want) + abs;
        if (tolerance > 0) worst = Math.max(worst, error / tolerance);
        else if (!same(have, want)) worst = Infinity;
        if (!(error <= tolerance || same(have, want)) && failures.length < 8) {
          failures.push(`${new WgslPrinter().printExpr(e)} at x = ${v[3]}: ${have}, JS ${want}`);
        }
      }
      report.push(
        `${new WgslPrinter().printExpr(e)} on [${lo}, ${hi}]: worst ${worst.toFixed(2)} of tolerance`,
      );
    });
    console.info(report.join('\n'));
    expect(failures).toEqual([]);
  });

  /** Float32 values with bit patterns from..to (inclusive) in steps of `stride`. */
  function floats(from: number, to: number, stride: number): number[] {
    const bits = new Uint32Array(1);
    const f = new Float32Array(bits.buffer);
    const out: number[] = [];
    for (let b = from; b <= to; b += stride) {
      bits[0] = b;
      out.push(f[0]!);
    }
    return out;
  }

  /** Runs `fn(x)` for every x on the device and compares with the JavaScript float32 code, bit for bit. */
  async function bitForBit(fn: S.UnaryFn, xs: readonly number[]): Promise<string[]> {
    const inputs = new Float32Array(4 * xs.length);
    xs.forEach((v, i) => (inputs[4 * i + 3] = v));
    const e = S.call(fn, S.sym('x'));
    const [got] = await run([e], inputs);
    const js = jsFloat32(e);
    const bits = (v: number): string =>
      `0x${new Uint32Array(new Float32Array([v]).buffer)[0]!.toString(16)}`;
    const mismatches: string[] = [];
    let count = 0;
    xs.forEach((_, i) => {
      const x = inputs[4 * i + 3]!;
      const want = js([0, 0, 0, x]);
      const have = got![i]!;
      // NaN is NaN, whatever its payload; otherwise every bit (and the sign of zero) counts.
      const ok = Number.isNaN(want) ? Number.isNaN(have) : Object.is(have, want);
      if (!ok) {
        count++;
        if (mismatches.length < 8) {
          mismatches.push(
            `sf_${fn}(${x}) = ${have} (${bits(have)}), JavaScript ${want} (${bits(want)})`,
          );
        }
      }
    });
    if (count > mismatches.length) mismatches.push(`... ${count} in all`);
    return mismatches;
  }

  const SPECIAL = [0, -0, 1, -1, 2 ** -149, -(2 ** -149), Infinity, -Infinity, NaN];

  it('sf_exp: bit for bit the JavaScript float32 sf_exp, over [-104, 89] and the edges', async () => {
    const xs = [
      ...SPECIAL,
      ...floats(0, 0x42b20000, 8191), // 0 .. 89
      ...floats(0x80000000, 0xc2d00000, 8191), // -0 .. -104
      ...floats(0x42b17200, 0x42b17230, 1), // overflow: 88.7228
      ...floats(0xc2ae0000, 0xc2ae0100, 1), // results become subnormal: -87.34
      ...floats(0xc2cff1a0, 0xc2cff1c0, 1), // underflow to 0: -103.972
    ];
    expect(xs.length).toBeGreaterThan(250_000);
    expect(await bitForBit('exp', xs)).toEqual([]);
  });

  it('sf_log: bit for bit the JavaScript float32 sf_log, over every exponent, subnormals and specials included', async () => {
    const xs = [
      ...SPECIAL,
      -2,
      -(2 ** 100),
      3.4028234663852886e38,
      ...floats(1, 0x7f7fffff, 8191),
      ...floats(1, 0x100, 1), // smallest subnormals
      ...floats(0x3f7fff00, 0x3f800100, 1), // around 1
    ];
    expect(xs.length).toBeGreaterThan(250_000);
    expect(await bitForBit('log', xs)).toEqual([]);
  });

  it('sf_exprel: bit for bit the JavaScript float32 sf_exprel32, for |z| from 1e-30 to 100 and special values', async () => {
    // 1e-30 (exp rounds to 1), then where exp(z) is lost next to 1, then large z.
    const zs: number[] = [
      ...SPECIAL,
      1e-30,
      -1e-30,
      2 ** -26,
      -(2 ** -26),
      -17.3,
      -20,
      -30,
      17.3,
      30,
      88,
      88.7,
      89,
      100,
      -100,
    ];
    const steps = 20000;
    for (let i = 0; i <= steps; i++) {
      const m = 10 ** (-8 + (Math.log10(100) + 8) * (i / steps));
      zs.push(m, -m);
    }
    expect(await bitForBit('exprel', zs)).toEqual([]);
  });
});
