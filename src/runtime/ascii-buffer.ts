/** Character codes the output writes byte by byte. */
export const COMMA = 44;
export const NEWLINE = 10;
export const MINUS = 45;
const POINT = 46;
const ZERO = 48;

/**
 * ASCII text built as bytes in a buffer that is kept and reused: the output files are mostly
 * numbers, and a string per number, joined, cost more than formatting it.
 */
export class AsciiBuffer {
  private bytes = new Uint8Array(1 << 16);
  length = 0;

  private reserve(extra: number): void {
    if (this.length + extra <= this.bytes.length) return;
    const grown = new Uint8Array(Math.max(2 * this.bytes.length, this.length + extra));
    grown.set(this.bytes.subarray(0, this.length));
    this.bytes = grown;
  }

  byte(code: number): void {
    this.reserve(1);
    this.bytes[this.length++] = code;
  }

  /** An ASCII string. */
  ascii(text: string): void {
    this.reserve(text.length);
    for (let k = 0; k < text.length; k++) this.bytes[this.length++] = text.charCodeAt(k);
  }

  /** Text already encoded (short: copied byte by byte). */
  text(encoded: Uint8Array): void {
    this.reserve(encoded.length);
    for (let k = 0; k < encoded.length; k++) this.bytes[this.length++] = encoded[k]!;
  }

  /** A non-negative integer below 2^53 in decimal. */
  digits(n: number): void {
    let count = 1;
    for (let rest = n; rest >= 10; rest = Math.floor(rest / 10)) count++;
    this.reserve(count);
    for (let k = count - 1, rest = n; k >= 0; k--, rest = Math.floor(rest / 10))
      this.bytes[this.length + k] = ZERO + (rest % 10);
    this.length += count;
  }

  /**
   * m * 10^-k (m a positive integer below 2^31, k >= 0) as String() prints a number inside
   * [1e-7, 1e21): no exponent, no trailing zeros. Integer division (`| 0`): this runs for
   * every recorded value.
   */
  decimal(m: number, k: number): void {
    while (k > 0 && m % 10 === 0) {
      m = (m / 10) | 0;
      k--;
    }
    let count = 1;
    for (let rest = m; rest >= 10; rest = (rest / 10) | 0) count++;
    // Filled from the end: k fraction digits (leading zeros included), the point, the integer part.
    const total = k === 0 ? count : count > k ? count + 1 : k + 2;
    this.reserve(total);
    let at = this.length + total - 1;
    let rest = m;
    for (let j = 0; j < k; j++) {
      const q = (rest / 10) | 0;
      this.bytes[at--] = ZERO + rest - 10 * q;
      rest = q;
    }
    if (k > 0) {
      this.bytes[at--] = POINT;
      if (rest === 0) this.bytes[at] = ZERO;
    }
    for (; rest > 0; rest = (rest / 10) | 0) this.bytes[at--] = ZERO + (rest % 10);
    this.length += total;
  }

  clear(): void {
    this.length = 0;
  }

  view(): Uint8Array {
    return this.bytes.subarray(0, this.length);
  }

  toString(): string {
    return String.fromCharCode(...this.bytes.subarray(0, this.length));
  }
}
