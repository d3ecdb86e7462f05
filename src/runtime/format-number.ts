import type { Precision } from '../codegen/printer.js';
import { AsciiBuffer, MINUS } from './ascii-buffer.js';

/** Prints a time in ms without float noise (0.30000000000000004 -> 0.3). */
export function formatTime(ms: number): string {
  return String(Number(ms.toPrecision(12)));
}

/**
 * The text of a recorded value: of a float32, the shortest of toPrecision(6..9) that reads back
 * as the same float32 (else String(v)); of a double (f64), String(v). The CUDA standalone host
 * program prints the same text (standalone.ts).
 */
export function writeValue(out: AsciiBuffer, v: number, precision: Precision): void {
  if (precision === 'f64') out.ascii(String(v));
  else if (!writeFloat32Fast(out, v)) out.ascii(formatFloat32(v));
}

const scratch = new AsciiBuffer();

/** writeValue's text as a string. */
export function formatValue(v: number, precision: Precision): string {
  scratch.clear();
  writeValue(scratch, v, precision);
  return scratch.toString();
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
 * formatFloat32's text computed with integers and written as bytes, several times faster
 * (traces are most of a run's output), or false (nothing written) where it might differ. The
 * d-digit candidate is m * 10^-k with m = round(|x| * 10^k) (x's own digits, as
 * toPrecision's, even when x is not a float32); it reads back as Math.fround(m / 10^k), which
 * is Number(text) exactly since m and 10^k (k <= 22) are exact doubles. The product is
 * inexact, so m could differ from toPrecision's digits only when it lies within 1e-6 of a tie:
 * those values take the slow path. Inside [1e-5, 1e20] String() prints plain decimals, which
 * `AsciiBuffer.decimal` lays out.
 */
function writeFloat32Fast(out: AsciiBuffer, x: number): boolean {
  const a = Math.abs(x);
  const target = Math.fround(a);
  if (!(a >= 1e-5 && a <= 1e20)) return false;
  const exponent = Math.floor(Math.log10(a));
  let digits: number;
  let m: number;
  if (a === target) {
    // x is a float32. A candidate with more digits is at least as close to x, so it reads back
    // whenever a shorter one does: search from 8 digits (most values need 8 or 9) downwards.
    digits = 8;
    m = candidate(a, target, exponent, 8);
    if (m === UNSAFE) return false;
    if (m === NO) {
      digits = 9;
      m = candidate(a, target, exponent, 9);
    } else
      for (let fewer = 7; fewer >= 6; fewer--) {
        const shorter = candidate(a, target, exponent, fewer);
        if (shorter === UNSAFE) return false;
        if (shorter === NO) break;
        [digits, m] = [fewer, shorter];
      }
  } else {
    digits = 6;
    m = candidate(a, target, exponent, digits);
    while (m === NO && digits < 9) m = candidate(a, target, exponent, ++digits);
  }
  if (m < 0) return false;
  if (x < 0) out.byte(MINUS);
  out.decimal(m, digits - 1 - exponent);
  return true;
}

const NO = -1;
const UNSAFE = -2;

/**
 * The `digits`-digit candidate m (|x| = m * 10^-k), NO when it does not read back as `target`,
 * or UNSAFE when it is too near a tie to trust, or out of the plain-decimal range.
 */
function candidate(a: number, target: number, exponent: number, digits: number): number {
  const k = digits - 1 - exponent;
  if (k < 0 || k > 22) return UNSAFE;
  const scaled = a * POWERS_OF_TEN[k]!;
  if (Math.abs(scaled - Math.floor(scaled) - 0.5) < 1e-6) return UNSAFE;
  const m = Math.round(scaled);
  return Math.fround(m / POWERS_OF_TEN[k]!) === target ? m : NO;
}
