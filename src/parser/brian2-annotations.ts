import { type IToken, type TokenType, tokenMatcher } from './chevrotain.js';
import { type SourceFile, type Span, spanText } from '../diagnostics/source.js';
import { isUnitSpelling } from '../units/units.js';
import type { Found } from './error-messages.js';
import * as T from './lexer.js';
import { OPERAND_ENDS } from './nesting.js';

/** Tokens that end a line of equations (the end of an expression) or the block's '{' before the first. */
const LINE_ENDS: readonly TokenType[] = [...OPERAND_ENDS, T.LCurly];

const UNITS_NOTE =
  "units come from the values, not from ': UNIT' after the equation: a state has the unit of its initial value, state { v = -60 mV }, or the one declared with it, state { g : nS = 0 }";
const REFRACTORY_NOTE =
  "'(unless refractory)' is what 'refractory T' does for V: V is held while the neuron is refractory, and its other states keep integrating";

/** Brian2's unit names, each with the symbol that spikeforge writes; both take the same prefixes. */
const BRIAN2_UNITS: ReadonlyMap<string, string> = new Map([
  ['volt', 'V'],
  ['amp', 'A'],
  ['ampere', 'A'],
  ['siemens', 'S'],
  ['farad', 'F'],
  ['ohm', 'ohm'],
  ['second', 's'],
  ['hertz', 'Hz'],
  ['metre', 'm'],
  ['meter', 'm'],
  ['molar', 'M'],
]);

/** A Brian2 unit (`siemens`, `mvolt`, `nS`) as spikeforge writes it, where it is one unit name. */
function spikeforgeUnit(unit: string): string | undefined {
  if (isUnitSpelling(unit)) return unit;
  for (const [name, symbol] of BRIAN2_UNITS) {
    if (!unit.endsWith(name)) continue;
    const written = unit.slice(0, unit.length - name.length) + symbol;
    if (isUnitSpelling(written)) return written;
  }
  return undefined;
}

function is(token: IToken | undefined, type: TokenType): token is IToken {
  return token !== undefined && tokenMatcher(token, type);
}

/** Index just past the annotation that starts with the ':' at `colon`: the rest of its line, up to the '}' that closes the block. */
function annotationEnd(tokens: readonly IToken[], colon: number): number {
  const line = tokens[colon]!.startLine;
  let parentheses = 0;
  let k = colon + 1;
  for (; k < tokens.length && tokens[k]!.startLine === line; k++) {
    const t = tokens[k]!;
    if (is(t, T.RCurly) && parentheses === 0) break;
    if (is(t, T.LParen)) parentheses++;
    if (is(t, T.RParen)) parentheses--;
  }
  return k;
}

/** The flags of an annotation, `(unless refractory)`: a parenthesised group at its end, after the unit. */
function flagsOf(annotation: readonly IToken[]): readonly IToken[] {
  if (!is(annotation[annotation.length - 1], T.RParen)) return [];
  let depth = 0;
  for (let k = annotation.length - 1; k >= 1; k--) {
    const t = annotation[k]!;
    if (is(t, T.RParen)) depth++;
    if (is(t, T.LParen) && --depth === 0) return annotation.slice(k);
  }
  return [];
}

function tokensSpan(source: SourceFile, first: IToken, last: IToken): Span {
  return { file: source, start: first.startOffset, end: (last.endOffset ?? last.startOffset) + 1 };
}

/** Source text on one line, with its spacing made single. */
function shown(span: Span): string {
  return spanText(span).replace(/\s+/g, ' ');
}

/**
 * Finds Brian2's unit annotations pasted into an equations block: `dv/dt = ... : volt
 * (unless refractory)`, `I = ... : amp`, and the bare `ge : siemens` that declares a variable
 * without an equation. No ':' belongs in an equations block, and Brian2 writes one equation a
 * line, so an annotation is a ':' and the rest of its line. Each is one error, with how
 * spikeforge writes it; the tokens returned leave it out (a bare declaration with its name), so
 * that the parser reads the equations around it without knock-on errors.
 */
export function brian2Annotations(
  tokens: readonly IToken[],
  source: SourceFile,
): { readonly tokens: readonly IToken[]; readonly found: readonly Found[] } {
  const found: Found[] = [];
  const kept: IToken[] = [];
  // Braces open inside an equations block; 0 outside one.
  let depth = 0;
  for (let k = 0; k < tokens.length;) {
    const t = tokens[k]!;
    if (depth === 0 || !is(t, T.Colon)) {
      if (is(t, T.LCurly) && (depth > 0 || is(kept[kept.length - 1], T.Equations))) depth++;
      if (is(t, T.RCurly) && depth > 0) depth--;
      kept.push(t);
      k++;
      continue;
    }
    const end = annotationEnd(tokens, k);
    const annotation = tokens.slice(k + 1, end);
    const flags = flagsOf(annotation);
    const last = tokens[end - 1]!;
    const name = kept[kept.length - 1];
    const before = kept[kept.length - 2];
    // `ge : siemens` on a line of its own: a name where a new line of equations starts.
    const bare =
      is(name, T.Identifier) &&
      LINE_ENDS.some((type) => is(before, type)) &&
      (is(before, T.LCurly) || (before!.endLine ?? 0) < (name.startLine ?? 0));
    const notes = flags.some((f) => /^unless$/i.test(f.image)) ? [REFRACTORY_NOTE] : [];
    if (bare) {
      kept.pop();
      const unitTokens = annotation.slice(0, annotation.length - flags.length);
      const unit =
        unitTokens.length === 0
          ? ''
          : shown(tokensSpan(source, unitTokens[0]!, unitTokens[unitTokens.length - 1]!));
      // Brian2's `1` is dimensionless, which spikeforge writes without a unit.
      const declared = unit === '1' ? '' : ` : ${spikeforgeUnit(unit) ?? 'UNIT'}`;
      const parameter = `parameters { ${name.image}${declared === '' ? ' = VALUE' : declared} }`;
      found.push({
        span: tokensSpan(source, name, last),
        message: `unexpected declaration '${shown(tokensSpan(source, name, last))}' in equations`,
        options: {
          notes: [
            `a bare 'x : unit' line of Brian2 is a parameter or a state here: ${parameter} or state { ${name.image}${declared} = 0 }`,
            ...notes,
          ],
        },
      });
    } else {
      found.push({
        span: tokensSpan(source, t, last),
        message: `unexpected unit annotation '${shown(tokensSpan(source, t, last))}' after an equation`,
        options: { notes: [UNITS_NOTE, ...notes] },
      });
    }
    k = end;
  }
  return { tokens: found.length === 0 ? tokens : kept, found };
}
