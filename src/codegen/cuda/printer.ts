/**
 * CUDA C++ expression printer, float (`f32`: `expf`, `1.5f`) or double (`f64`: `exp`, `1.5`).
 *
 * Notes for kernel generators:
 * - compile without `--use_fast_math` (it swaps division/sqrtf and the other math functions
 *   for approximations, and flushes subnormals) and with `--fmad=false` where results must
 *   match the JavaScript float32 backend bit for bit: by default nvcc contracts `a * b + c`
 *   into one fused multiply-add;
 * - in float code `exp` and `log` print as the prelude's `sf_exp` / `sf_log`
 *   (src/codegen/math32.ts, written with `__fadd_rn`-style intrinsics, so never contracted),
 *   not `expf` / `logf`: the same operations as the WGSL and JavaScript float32 backends.
 *   The other math functions (`sinf`, `tanhf`, `powf`, `log10f`...) are CUDA's own;
 * - `fminf`/`fmaxf` return the other argument when one is NaN (JavaScript's Math.min/max
 *   return NaN);
 * - infinities and NaN print as the `INFINITY` / `NAN` macros in float code and as
 *   `HUGE_VAL` / `static_cast<double>(NAN)` in double code (nvcc defines them without
 *   includes).
 */

import {
  type Precision,
  CLikePrinter,
  type FunctionSpec,
  type FunctionTable,
  words,
} from '../printer.js';
import { cudaPrelude } from './prelude.js';

/** The C math function of `name` at `precision` (`expf` / `exp`). */
const math = (name: string, precision: Precision, exact = false): FunctionSpec => {
  const spelled = precision === 'f32' ? `${name}f` : name;
  return exact ? { name: spelled, exact } : { name: spelled };
};

function functions(p: Precision): FunctionTable {
  return {
    // Float: the prelude's sf_exp / sf_log (src/codegen/math32.ts), the operations the WGSL and
    // JavaScript float32 backends compute; double: the C library's.
    exp: p === 'f32' ? { name: 'sf_exp', helper: 'sf_exp' } : math('exp', p),
    log: p === 'f32' ? { name: 'sf_log', helper: 'sf_log' } : math('log', p),
    log10: math('log10', p),
    // Overloaded for float and double in the prelude.
    exprel: { name: 'sf_exprel', helper: 'sf_exprel', exact: true },
    sqrt: math('sqrt', p),
    abs: math('fabs', p, true),
    sin: math('sin', p),
    cos: math('cos', p),
    tan: math('tan', p),
    tanh: math('tanh', p),
    sinh: math('sinh', p),
    cosh: math('cosh', p),
    atan: math('atan', p),
    floor: math('floor', p, true),
    ceil: math('ceil', p, true),
    min: math('fmin', p, true),
    max: math('fmax', p, true),
    pow: math('pow', p),
  };
}

/** C++ keywords, CUDA built-in variables and vector types, math names, common macros. */
export const CUDA_RESERVED: readonly string[] = words(`
  alignas alignof and and_eq asm auto bitand bitor bool break case catch char char8_t char16_t
  char32_t class compl concept const consteval constexpr constinit const_cast continue
  co_await co_return co_yield decltype default delete do double dynamic_cast else enum
  explicit export extern false float for friend goto if inline int long mutable namespace new
  noexcept not not_eq nullptr operator or or_eq private protected public register
  reinterpret_cast requires restrict return short signed sizeof static static_assert
  static_cast struct switch template this thread_local throw true try typedef typeid typename
  union unsigned using virtual void volatile wchar_t while xor xor_eq final override
  # CUDA
  threadIdx blockIdx blockDim gridDim warpSize dim3 size_t ptrdiff_t int8_t int16_t int32_t
  int64_t uint8_t uint16_t uint32_t uint64_t std half nv_bfloat16
  # macros and math names printed code or headers use
  INFINITY NAN HUGE_VAL HUGE_VALF NULL EOF assert errno signbit isnan isinf isfinite min max
  abs exp expf exp2 exp2f expm1 expm1f log logf log2 log2f log10 log10f log1p log1pf sqrt
  sqrtf rsqrt rsqrtf pow powf fabs fabsf fmin fminf fmax fmaxf fma fmaf sin sinf cos cosf tan
  tanf sinh sinhf cosh coshf tanh tanhf atan atanf atan2 atan2f floor floorf ceil ceilf round
  roundf trunc truncf copysign copysignf printf malloc free M_PI M_E
`).concat(
  // Vector types: float4, uint2...
  words('char uchar short ushort int uint long ulong longlong ulonglong float double').flatMap(
    (t) => [1, 2, 3, 4].map((n) => `${t}${n}`),
  ),
);

export interface CudaPrinterOptions {
  /** `f32` (float, the default) or `f64` (double). */
  readonly precision?: Precision;
}

/** Prints symbolic expressions as CUDA C++ float or double expressions (device code). */
export class CudaPrinter extends CLikePrinter {
  constructor(options: CudaPrinterOptions = {}) {
    const precision = options.precision ?? 'f32';
    super({
      target: 'cuda',
      precision,
      types: { f32: 'float', f64: 'double', u32: 'unsigned int', i32: 'int', bool: 'bool' },
      functions: functions(precision),
      operators: {
        and: '&&',
        or: '||',
        not: '!',
        cmp: { '<': '<', '<=': '<=', '>': '>', '>=': '>=', '==': '==', '!=': '!=' },
      },
      where: 'ternary',
      boolToFloat: (c) => (precision === 'f32' ? `(${c} ? 1.0f : 0.0f)` : `(${c} ? 1.0 : 0.0)`),
      literals: {
        floatSuffix: precision === 'f32' ? 'f' : '',
        floatNeedsPoint: true,
        u32Suffix: 'u',
        i32Suffix: '',
        true: 'true',
        false: 'false',
        // INFINITY and NAN are float: in double code `fmin(x, INFINITY)` would pick a
        // mixed-type host template (an error in device code), hence HUGE_VAL and a cast.
        infinity: { text: precision === 'f32' ? 'INFINITY' : 'HUGE_VAL' },
        nan: { text: precision === 'f32' ? 'NAN' : 'static_cast<double>(NAN)' },
      },
      reserved: CUDA_RESERVED,
    });
  }

  prelude(helpers: Iterable<string> = this.helpers): string {
    return cudaPrelude(helpers);
  }
}
