/**
 * WGSL expression printer: float32 only (WGSL has no f64).
 *
 * Notes for kernel generators:
 * - literals are `1.5f`, `2.0f`, `-0.25f`; infinities and NaN have no literal in WGSL (and a
 *   constant expression may not produce them), so they print as the prelude helpers
 *   `sf_inf()` / `sf_nan()`. Implementations may still assume no inf/NaN at run time;
 * - a subexpression of literals only is evaluated by the WGSL compiler, and overflow there is
 *   a compile error (`cosh(100.0f)`): fold constants before printing;
 * - `exp` and `log` print as the prelude's `sf_exp` / `sf_log` (src/codegen/math32.ts): WGSL's
 *   own are loose (exp 3 + 2|x| ulps, llvmpipe up to 17 ulp; log only absolute on [0.5, 2],
 *   llvmpipe ~1e5 ulp just above 1), the helpers compute the float32 operations the
 *   JavaScript and CUDA float backends compute. `log10`, `pow`, `sinh`, `cosh`, `tanh` and
 *   the trigonometric functions stay WGSL's own;
 * - `min`/`max` with a NaN argument are implementation-defined;
 * - the shader compiler may rewrite arithmetic algebraically (Mesa's llvmpipe turns
 *   `(a + b) - b` into `a`), so bit-equality with the JavaScript float32 backend holds for
 *   expressions that leave it nothing to rewrite.
 */

import {
  type Precision,
  CLikePrinter,
  type FunctionSpec,
  type FunctionTable,
  words,
} from '../printer.js';
import { wgslPrelude } from './prelude.js';

const same = (name: string, exact = false): FunctionSpec => (exact ? { name, exact } : { name });

const FUNCTIONS: FunctionTable = {
  // The prelude's: the same float32 operations as the JavaScript and CUDA float backends
  // (src/codegen/math32.ts), where WGSL's own exp and log are loosely specified.
  exp: { name: 'sf_exp', helper: 'sf_exp' },
  log: { name: 'sf_log', helper: 'sf_log' },
  log10: { name: 'sf_log10', helper: 'sf_log10' },
  exprel: { name: 'sf_exprel', helper: 'sf_exprel' },
  sqrt: same('sqrt'),
  abs: same('abs', true),
  sin: same('sin'),
  cos: same('cos'),
  tan: same('tan'),
  tanh: same('tanh'),
  sinh: same('sinh'),
  cosh: same('cosh'),
  atan: same('atan'),
  floor: same('floor', true),
  ceil: same('ceil', true),
  min: same('min', true),
  max: same('max', true),
  pow: same('pow'),
};

/** WGSL keywords, reserved words and the predeclared names generated code may call. */
export const WGSL_RESERVED: readonly string[] = words(`
  # keywords
  alias break case const const_assert continue continuing default diagnostic discard else
  enable false fn for if let loop override requires return struct switch true var while
  # reserved words
  NULL Self abstract active alignas alignof as asm asm_fragment async attribute auto await
  become binding_array cast catch class co_await co_return co_yield coherent column_major
  common compile compile_fragment concept const_cast consteval constexpr constinit crate
  debugger decltype delete demote demote_to_helper do dynamic_cast enum explicit export
  extends extern external fallthrough filter final finally friend from fxgroup get goto
  groupshared highp impl implements import inline instanceof interface layout lowp macro
  macro_rules match mediump meta mod module move mut mutable namespace new nil noexcept
  noinline nointerpolation noperspective null nullptr of operator package packoffset partition
  pass patch pixelfragment precise precision premerge priv protected pub public readonly ref
  regardless register reinterpret_cast require resource restrict self set shared sizeof smooth
  snorm static static_assert static_cast std subroutine super target template this
  thread_local throw trait try type typedef typeid typename typeof union unless unorm unsafe
  unsized use using varying virtual volatile wgsl where with writeonly yield
  # predeclared types and enumerants (shadowing them is legal but breaks later uses)
  bool f16 f32 i32 u32 vec2 vec3 vec4 mat2x2 mat2x3 mat2x4 mat3x2 mat3x3 mat3x4 mat4x2 mat4x3
  mat4x4 array atomic ptr sampler sampler_comparison vec2f vec3f vec4f vec2i vec3i vec4i vec2u
  vec3u vec4u vec2h vec3h vec4h read write read_write function private workgroup uniform
  storage
  # predeclared functions
  abs acos acosh all any arrayLength asin asinh atan atan2 atanh atomicAdd atomicAnd
  atomicCompareExchangeWeak atomicExchange atomicLoad atomicMax atomicMin atomicOr atomicStore
  atomicSub atomicXor bitcast ceil clamp cos cosh countLeadingZeros countOneBits
  countTrailingZeros cross degrees determinant distance dot exp exp2 extractBits faceForward
  firstLeadingBit firstTrailingBit floor fma fract frexp insertBits inverseSqrt ldexp length
  log log2 max min mix modf normalize pow quantizeToF16 radians reflect refract reverseBits
  round saturate select sign sin sinh smoothstep sqrt step storageBarrier tan tanh transpose
  trunc workgroupBarrier workgroupUniformLoad pack2x16float unpack2x16float
`);

export interface WgslPrinterOptions {
  /** Only `f32`: WGSL has no 64-bit float. */
  readonly precision?: Precision;
}

/** Prints symbolic expressions as WGSL `f32` expressions. */
export class WgslPrinter extends CLikePrinter {
  constructor(options: WgslPrinterOptions = {}) {
    const precision = options.precision ?? 'f32';
    if (precision !== 'f32') throw new Error('WGSL has no f64: the WGSL backend prints f32 only');
    super({
      target: 'wgsl',
      precision,
      types: { f32: 'f32', u32: 'u32', i32: 'i32', bool: 'bool' },
      functions: FUNCTIONS,
      operators: {
        and: '&&',
        or: '||',
        not: '!',
        cmp: { '<': '<', '<=': '<=', '>': '>', '>=': '>=', '==': '==', '!=': '!=' },
      },
      where: 'select',
      boolToFloat: (c) => `f32(${c})`,
      literals: {
        floatSuffix: 'f',
        floatNeedsPoint: true,
        u32Suffix: 'u',
        i32Suffix: 'i',
        true: 'true',
        false: 'false',
        infinity: { text: 'sf_inf()', helper: 'sf_inf' },
        nan: { text: 'sf_nan()', helper: 'sf_nan' },
      },
      reserved: WGSL_RESERVED,
    });
  }

  prelude(helpers: Iterable<string> = this.helpers): string {
    return wgslPrelude(helpers);
  }
}
