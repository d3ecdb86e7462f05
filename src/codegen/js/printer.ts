/**
 * JavaScript expression printer for the CPU backend, float64 or float32.
 *
 * In float32 mode the code computes exactly what a GPU with correctly rounded + - * / does:
 * every arithmetic result is wrapped in `Math.fround` (`Math.fround(a * b)`; rounding a double
 * result of float32 operands gives the correctly rounded float32 result), and so is every
 * inexact math function (`Math.fround(Math.sin(x))`); `exp` and `log` call the prelude's
 * float32 `sf_exp` / `sf_log`, the operations the GPU kernels compute (src/codegen/math32.ts).
 * abs, floor, ceil, min, max, negation and comparisons are exact and stay bare. Literals print plain when the float32 value is a
 * short decimal (`1.5`, `0.25`) and as `Math.fround(0.1)` otherwise. Symbols must hold float32
 * values (read from a Float32Array, or rounded by the caller).
 */

import {
  type Code,
  type Precision,
  CLikePrinter,
  PREC,
  type FunctionSpec,
  type FunctionTable,
  words,
  shortestFloat32,
} from '../printer.js';
import { jsPrelude } from './prelude.js';

function functions(p: Precision): FunctionTable {
  const m = (name: string, exact = false): FunctionSpec =>
    exact ? { name: `Math.${name}`, exact } : { name: `Math.${name}` };
  return {
    // Float32: the GPU kernels' sf_exp / sf_log (src/codegen/math32.ts), bit for bit, rather
    // than the correctly rounded Math.exp / Math.log that no GPU reproduces.
    exp: p === 'f32' ? { name: 'sf_exp', helper: 'sf_exp', exact: true } : m('exp'),
    log: p === 'f32' ? { name: 'sf_log', helper: 'sf_log', exact: true } : m('log'),
    log10: m('log10'),
    exprel:
      p === 'f32'
        ? { name: 'sf_exprel32', helper: 'sf_exprel32', exact: true }
        : { name: 'sf_exprel', helper: 'sf_exprel', exact: true },
    sqrt: m('sqrt'),
    abs: m('abs', true),
    sin: m('sin'),
    cos: m('cos'),
    tan: m('tan'),
    tanh: m('tanh'),
    sinh: m('sinh'),
    cosh: m('cosh'),
    atan: m('atan'),
    floor: m('floor', true),
    ceil: m('ceil', true),
    min: m('min', true),
    max: m('max', true),
    pow: m('pow'),
  };
}

/** JavaScript reserved words (strict mode, modules) and globals printed code relies on. */
export const JS_RESERVED: readonly string[] = words(`
  await break case catch class const continue debugger default delete do else enum export
  extends false finally for function if implements import in instanceof interface let new null
  package private protected public return static super switch this throw true try typeof var
  void while with yield async of get set arguments eval undefined NaN Infinity Math Number
  Object Array Float32Array Float64Array Uint32Array Int32Array Uint8Array globalThis console
  Error Symbol BigInt String Boolean JSON Date Map Set Promise Reflect Proxy Function
  constructor prototype __proto__
`);

export interface JsPrinterOptions {
  /** `f64` (plain JavaScript numbers, the default) or `f32` (`Math.fround` after every operation). */
  readonly precision?: Precision;
}

/** Prints symbolic expressions as JavaScript number expressions. */
export class JsPrinter extends CLikePrinter {
  constructor(options: JsPrinterOptions = {}) {
    const precision = options.precision ?? 'f64';
    super({
      target: 'js',
      precision,
      types: { f32: 'number', f64: 'number', u32: 'number', i32: 'number', bool: 'boolean' },
      functions: functions(precision),
      operators: {
        and: '&&',
        or: '||',
        not: '!',
        cmp: { '<': '<', '<=': '<=', '>': '>', '>=': '>=', '==': '===', '!=': '!==' },
      },
      where: 'ternary',
      boolToFloat: (c) => `(${c} ? 1 : 0)`,
      literals: {
        floatSuffix: '',
        floatNeedsPoint: false,
        u32Suffix: '',
        i32Suffix: '',
        true: 'true',
        false: 'false',
        infinity: { text: 'Infinity' },
        nan: { text: 'NaN' },
      },
      reserved: JS_RESERVED,
    });
  }

  prelude(helpers: Iterable<string> = this.helpers): string {
    return jsPrelude(helpers);
  }

  protected override rounded(code: Code): Code {
    return this.precision === 'f32' ? { text: `Math.fround(${code.text})`, prec: PREC.atom } : code;
  }

  protected override floatDigits(v: number): Code {
    if (this.precision === 'f64') return { text: String(v), prec: PREC.atom };
    const d = shortestFloat32(v);
    // A short decimal that is exactly the float32 needs no rounding at run time.
    return { text: d === v ? String(d) : `Math.fround(${String(d)})`, prec: PREC.atom };
  }
}
