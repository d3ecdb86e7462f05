import type { Precision } from '../codegen/printer.js';

/** Prints a time in ms without float noise (0.30000000000000004 -> 0.3). */
export function formatTime(ms: number): string {
  return String(Number(ms.toPrecision(12)));
}

/**
 * The text of a recorded value: of a float32, the shortest of toPrecision(6..9) that reads back
 * as the same float32 (else String(v)); of a double (f64), String(v). The CUDA standalone host
 * program prints the same text (standalone.ts).
 */
export function formatValue(v: number, precision: Precision): string {
  if (precision === 'f64') return String(v);
  return formatFloat32Fast(v) ?? formatFloat32(v);
}

/** The definition of formatValue for a float32, through toPrecision (about 0.8 us a value). */
export function formatFloat32(v: number): string {
  for (let digits = 6; digits < 10; digits++) {
    const text = v.toPrecision(digits);
    if (Math.fround(Number(text)) === Math.fround(v)) return String(Number(text));
  }
  return String(v);
}

const POWERS_OF_TEN = Array.from({ length: 23 }, (_, k) => 10 ** k);

/**
 * formatFloat32's text computed with integers, 3-4x faster (traces are most of a run's output),
 * or undefined where it might differ. The d-digit candidate is m * 10^-k with m = round(|x| *
 * 10^k) (x's own digits, as toPrecision's, even when x is not a float32); it reads back as
 * Math.fround(m / 10^k), which is Number(text) exactly since m and 10^k
 * (k <= 22) are exact doubles. The product is inexact, so m could differ from toPrecision's
 * digits only when it lies within 1e-6 of a tie: those values take the slow path. Inside
 * [1e-5, 1e20] String() prints plain decimals, which `plainDecimal` lays out.
 */
function formatFloat32Fast(x: number): string | undefined {
  const a = Math.abs(x);
  const target = Math.fround(a);
  if (!(a >= 1e-5 && a <= 1e20)) return undefined;
  const exponent = Math.floor(Math.log10(a));
  for (let digits = 6; digits < 10; digits++) {
    const k = digits - 1 - exponent;
    if (k < 0 || k > 22) return undefined;
    const scaled = a * POWERS_OF_TEN[k]!;
    if (Math.abs(scaled - Math.floor(scaled) - 0.5) < 1e-6) return undefined;
    const m = Math.round(scaled);
    if (Math.fround(m / POWERS_OF_TEN[k]!) === target)
      return x < 0 ? `-${plainDecimal(m, k)}` : plainDecimal(m, k);
  }
  return undefined;
}

/** m * 10^-k (m a positive integer) as String() prints it: no exponent, no trailing zeros. */
function plainDecimal(m: number, k: number): string {
  let digits = String(m);
  let end = digits.length;
  while (k > 0 && digits.charCodeAt(end - 1) === 48 /* '0' */) {
    end--;
    k--;
  }
  digits = digits.slice(0, end);
  if (k === 0) return digits;
  if (digits.length > k) return `${digits.slice(0, digits.length - k)}.${digits.slice(-k)}`;
  return `0.${'0'.repeat(k - digits.length)}${digits}`;
}
