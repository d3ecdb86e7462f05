import { type IToken, tokenMatcher } from './chevrotain.js';
import type { SourceFile } from '../diagnostics/source.js';
import { isUnitSpelling } from '../units/units.js';
import type { Found } from './error-messages.js';
import { Derivative, Identifier, RESERVED_WORDS } from './lexer.js';

const NON_ASCII = /[^\x00-\x7f]/;
const ASCII_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const MARK = /\p{M}/u;

/** Unit symbols as Brian2 prints them, which the ASCII unit names replace. */
const UNIT_SYMBOLS: ReadonlyMap<string, { readonly ascii: string; readonly note: string }> =
  new Map([
    ['\u00b5', { ascii: 'u', note: "micro is written 'u': uS, uF, uA, um" }],
    ['\u03bc', { ascii: 'u', note: "micro is written 'u': uS, uF, uA, um" }],
    ['\u03a9', { ascii: 'ohm', note: "ohm is written 'ohm': Mohm, kohm" }],
    ['\u2126', { ascii: 'ohm', note: "ohm is written 'ohm': Mohm, kohm" }],
  ]);

const GREEK_NAMES =
  'alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma sigma tau upsilon phi chi psi omega'.split(
    ' ',
  );

/** Greek letters spelled out, as names are written: θ is theta, Δ is Delta, µ (micro) is mu. */
const GREEK: ReadonlyMap<string, string> = new Map([
  // α to ω, with the final sigma ς in its place before σ.
  ...GREEK_NAMES.map((n, k) => [String.fromCharCode(0x3b1 + k), n] as const),
  // Α to Ω; U+03A2, where the final sigma would be, is unassigned.
  ...GREEK_NAMES.flatMap((n, k) =>
    k === 17 ? [] : [[String.fromCharCode(0x391 + k), n[0]!.toUpperCase() + n.slice(1)] as const],
  ),
  ['\u00b5', 'mu'],
  ['\u2126', 'Omega'],
]);

/**
 * `word` in ASCII, where accents can be dropped and Greek letters spelled out (`Réseau` is
 * Reseau, `Vθ` is V_theta, `τm` is tau_m); undefined for other letters, or where the result
 * is a reserved word.
 */
function asciiSpelling(word: string): string | undefined {
  const letters = [...word.normalize('NFD').replace(/\p{M}/gu, '')];
  let result = '';
  letters.forEach((c, k) => {
    const greek = GREEK.get(c);
    if (greek === undefined) {
      result += c;
      return;
    }
    // An '_' between the spelled-out letter and a letter or digit before it or a letter after it.
    const before = /[A-Za-z0-9]$/.test(result) ? '_' : '';
    const next = letters[k + 1];
    const after = next !== undefined && /\p{L}/u.test(next) ? '_' : '';
    result += `${before}${greek}${after}`;
  });
  return ASCII_NAME.test(result) && !RESERVED_WORDS.has(result) ? result : undefined;
}

/** The first character of `word` outside ASCII, with the letter a combining mark belongs to. */
function firstNonAscii(word: string): string {
  const k = word.search(NON_ASCII);
  let start = k;
  if (start > 0 && MARK.test(word[start]!)) start--;
  let end = k + 1;
  while (end < word.length && MARK.test(word[end]!)) end++;
  return word.slice(start, end);
}

/**
 * Reports the names that are not written in ASCII. The lexer takes a word with other letters
 * as one name (lexer.ts); here a unit written with µ or Ω, as Brian2 prints it, is reported at
 * that letter with its ASCII spelling, and any other such name once, at its first use.
 * Returns the tokens with those units in their ASCII spelling, so that the parser reads them
 * as units and goes on as it would without the mistake.
 */
export function checkNameCharacters(
  tokens: readonly IToken[],
  source: SourceFile,
): { readonly tokens: readonly IToken[]; readonly found: readonly Found[] } {
  const found: Found[] = [];
  const reported = new Set<string>();
  let result: IToken[] | undefined;
  tokens.forEach((t, k) => {
    const derivative = tokenMatcher(t, Derivative);
    if (!derivative && !tokenMatcher(t, Identifier)) return;
    // The state's name in `dX/dt`.
    const word = derivative ? t.image.slice(1, t.image.indexOf('/')).trimEnd() : t.image;
    if (!NON_ASCII.test(word)) return;
    const start = t.startOffset + (derivative ? 1 : 0);
    const unit = derivative
      ? undefined
      : word.replace(/./g, (c) => UNIT_SYMBOLS.get(c)?.ascii ?? c);
    if (unit !== undefined && !NON_ASCII.test(unit) && isUnitSpelling(unit)) {
      const at = word.search(NON_ASCII);
      found.push({
        span: { file: source, start: start + at, end: start + at + 1 },
        message: `unexpected character '${word[at]!}'`,
        options: { notes: [UNIT_SYMBOLS.get(word[at]!)!.note] },
      });
      result ??= [...tokens];
      result[k] = { ...t, image: unit };
      return;
    }
    if (reported.has(word)) return;
    reported.add(word);
    const ascii = asciiSpelling(word);
    found.push({
      span: { file: source, start, end: start + word.length },
      message: `names are written in ASCII letters, digits and '_': '${word}' has '${firstNonAscii(word)}'`,
      options: ascii === undefined ? {} : { label: `write '${ascii}'` },
    });
  });
  return { tokens: result ?? tokens, found };
}
