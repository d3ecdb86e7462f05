import {
  type CstNode,
  EOF,
  type IRecognitionException,
  type IToken,
  tokenMatcher,
} from './chevrotain.js';
import type { Diagnostics } from '../diagnostics/diagnostic.js';
import type { SourceFile, Span } from '../diagnostics/source.js';
import { suggestUnit } from '../ir/suggest.js';
import { isUnitSpelling } from '../units/units.js';
import type { FileAst } from './ast.js';
import { brian2Annotations } from './brian2-annotations.js';
import { buildAst } from './cst-to-ast.js';
import { type Found, reservedWordMessage } from './error-messages.js';
import { LEXICAL_ERRORS, RESERVED_WORDS, spkLexer } from './lexer.js';
import * as T from './lexer.js';
import { checkNameCharacters } from './name-characters.js';
import { checkNesting } from './nesting.js';
import { spkParser } from './parser.js';

function tokenSpan(source: SourceFile, token: IToken): Span {
  return {
    file: source,
    start: token.startOffset,
    end: token.startOffset + Math.max(1, token.image.length),
  };
}

function isKeyword(token: IToken | undefined): token is IToken {
  return (
    token !== undefined && token.tokenType.name.startsWith('Kw_') && RESERVED_WORDS.has(token.image)
  );
}

/** Tokens that follow a name being declared or defined: `x = `, `x ~ `, `x : `. */
function startsDeclaration(token: IToken | undefined): boolean {
  return (
    token !== undefined &&
    (tokenMatcher(token, T.Equals) || tokenMatcher(token, T.Tilde) || tokenMatcher(token, T.Colon))
  );
}

/**
 * Where the parser stopped at or right after a name that follows a number on
 * the same line and is not a unit (`10 msec`): the parser read the number
 * alone and took the name for the start of something new. Returns the index
 * of that name in `tokens`; `k` is the index of the token the parser stopped at.
 */
function misspeltUnitAt(tokens: readonly IToken[], k: number): number | undefined {
  for (const j of [k - 1, k]) {
    const name = tokens[j];
    const number = tokens[j - 1];
    const after = tokens[j + 1];
    if (
      name !== undefined &&
      number !== undefined &&
      tokenMatcher(name, T.Identifier) &&
      tokenMatcher(number, T.NumberLiteral) &&
      !isUnitSpelling(name.image) &&
      number.endLine === name.startLine &&
      // `10 x = ...`, `10 f(...)`, `10 post.V`: a new declaration or a call, not a unit.
      (after === undefined ||
        !(startsDeclaration(after) || tokenMatcher(after, T.LParen) || tokenMatcher(after, T.Dot)))
    ) {
      return j;
    }
  }
  return undefined;
}

function unknownUnit(source: SourceFile, name: IToken, number: IToken | undefined): Found {
  const hint = suggestUnit(name.image);
  return {
    span: tokenSpan(source, name),
    message: `unknown unit '${name.image}'`,
    options: {
      ...(hint === undefined ? {} : { label: `did you mean '${hint}'?` }),
      notes: [
        `a number is followed by '${name.image}', which is not a unit; to multiply by '${name.image}', write ${number?.image ?? 'NUMBER'} * ${name.image}`,
      ],
    },
  };
}

/** How many repairs one parse may try (each costs a parse). */
const MAX_REPAIRS = 8;

/**
 * Parses `tokens`, and repairs two common mistakes where the parser stops,
 * so that they get a message of their own and no knock-on errors: a reserved
 * word used as a name (`parameters { delay = 2 ms }`), tried as a name, and a
 * misspelt unit after a number (`10 msec`), tried without it. A repair is kept
 * when the parse then goes on without an error in the next few tokens; the
 * errors are those of the repaired parse, and `repairs` says what was wrong.
 */
function parseTokens(
  tokens: readonly IToken[],
  source: SourceFile,
): { cst: CstNode; errors: IRecognitionException[]; repairs: Found[]; tokens: IToken[] } {
  const parse = (input: readonly IToken[]): { cst: CstNode; errors: IRecognitionException[] } => {
    spkParser.input = [...input];
    const cst = spkParser.file();
    const errors = [...spkParser.errors];
    // Release the tokens: the parser is shared, and a large input should not stay alive through it.
    spkParser.input = [];
    return { cst, errors };
  };
  let current = [...tokens];
  let result = parse(current);
  const repairs: Found[] = [];
  const tried = new Set<string>();
  // Whether a repaired parse has no error from `from` up to a few tokens after position `k` of `attempt`.
  const fits = (
    attempt: readonly IToken[],
    errors: readonly IRecognitionException[],
    from: number,
    k: number,
  ): boolean => {
    const to = attempt[Math.min(k + 3, attempt.length - 1)]?.startOffset ?? from;
    return !errors.some(
      (e) => e.token.tokenType !== EOF && e.token.startOffset >= from && e.token.startOffset <= to,
    );
  };
  for (let round = 0; round < MAX_REPAIRS; round++) {
    let repaired = false;
    for (const e of result.errors) {
      const k = e.token.tokenType === EOF ? current.length : current.indexOf(e.token);
      if (k < 0) continue;
      const at = current[k];
      if (isKeyword(at) && !tried.has(`name:${at.startOffset}`)) {
        tried.add(`name:${at.startOffset}`);
        const asName: IToken = {
          ...at,
          tokenType: T.Identifier,
          tokenTypeIdx: T.Identifier.tokenTypeIdx!,
        };
        const attempt = [...current.slice(0, k), asName, ...current.slice(k + 1)];
        const retried = parse(attempt);
        if (fits(attempt, retried.errors, at.startOffset, k)) {
          repairs.push({
            span: tokenSpan(source, at),
            message: reservedWordMessage(at.image),
            options: {},
          });
          current = attempt;
          result = retried;
          repaired = true;
          break;
        }
      }
      const j = misspeltUnitAt(current, k);
      const name = j === undefined ? undefined : current[j];
      if (j !== undefined && name !== undefined && !tried.has(`unit:${name.startOffset}`)) {
        tried.add(`unit:${name.startOffset}`);
        const attempt = [...current.slice(0, j), ...current.slice(j + 1)];
        const retried = parse(attempt);
        if (fits(attempt, retried.errors, name.startOffset, j)) {
          repairs.push(unknownUnit(source, name, current[j - 1]));
          current = attempt;
          result = retried;
          repaired = true;
          break;
        }
      }
    }
    if (!repaired) break;
  }
  return { ...result, repairs, tokens: current };
}

/**
 * Lexes and parses one file. Every lexical and syntax error goes to
 * `diagnostics` (the parser recovers and goes on, so one run reports them
 * all); the AST is returned only when there were none. Input nested deeper
 * than the parser can take is refused before parsing, with one error.
 */
export function parseFile(source: SourceFile, diagnostics: Diagnostics): FileAst | undefined {
  // A binary file would give an error for most of its bytes; one is enough.
  const nul = source.text.indexOf('\0');
  if (nul >= 0) {
    diagnostics.error(
      { file: source, start: nul, end: nul + 1 },
      'this is not a text file: it contains a NUL byte',
      { notes: ['.spk files are text; is this the file you meant?'] },
    );
    return undefined;
  }
  const lexed = spkLexer.tokenize(source.text);
  const found: Found[] = lexed.errors.map((e) =>
    unexpectedCharacter({ file: source, start: e.offset, end: e.offset + Math.max(1, e.length) }),
  );
  const lexicalErrors = lexed.groups[LEXICAL_ERRORS] ?? [];
  let tokens: readonly IToken[] = lexed.tokens;
  let unterminatedComment = false;
  for (const t of lexicalErrors) {
    if (tokenMatcher(t, T.UnterminatedComment)) {
      unterminatedComment = true;
      found.push({
        span: { file: source, start: t.startOffset, end: t.startOffset + 2 },
        message: 'unterminated comment',
        options: { notes: ["a comment that starts with '/*' must end with '*/'"] },
      });
    } else {
      const end = t.startOffset + Math.max(1, t.image.length);
      found.push({
        span: { file: source, start: t.startOffset, end },
        message: 'unterminated string',
        options: { notes: ["a string must end with '\"' on the same line"] },
      });
      // The parser sees it as the string it was meant to be, so that what follows is not reported as knock-on errors.
      const asString: IToken = {
        ...t,
        tokenType: T.StringLiteral,
        tokenTypeIdx: T.StringLiteral.tokenTypeIdx!,
      };
      tokens = [
        ...tokens.filter((x) => x.startOffset < t.startOffset),
        asString,
        ...tokens.filter((x) => x.startOffset > t.startOffset),
      ];
    }
  }
  const names = checkNameCharacters(tokens, source);
  for (const f of names.found) found.push(f);
  tokens = names.tokens;
  const pasted = brian2Annotations(tokens, source);
  for (const f of pasted.found) found.push(f);
  tokens = pasted.tokens;
  const nesting = checkNesting(tokens);
  if (nesting !== undefined) {
    report(
      [
        ...found,
        {
          span: tokenSpan(source, nesting.token),
          message: nesting.message,
          options: { notes: nesting.notes },
        },
      ],
      diagnostics,
    );
    return undefined;
  }
  const parsed = parseTokens(tokens, source);
  found.push(...parsed.repairs);
  for (const e of parsed.errors) {
    // An unterminated comment runs to the end of the file: what is missing there is a knock-on error.
    if (unterminatedComment && e.token.tokenType === EOF) continue;
    const k = e.token.tokenType === EOF ? parsed.tokens.length : parsed.tokens.indexOf(e.token);
    const j = k < 0 ? undefined : misspeltUnitAt(parsed.tokens, k);
    const name = j === undefined ? undefined : parsed.tokens[j];
    if (j !== undefined && name !== undefined) {
      found.push(unknownUnit(source, name, parsed.tokens[j - 1]));
      continue;
    }
    const token = e.token.tokenType === EOF ? parsed.tokens[parsed.tokens.length - 1] : e.token;
    const start =
      token === undefined || Number.isNaN(token.startOffset)
        ? source.text.length
        : token.startOffset;
    const end = token === undefined ? start + 1 : start + Math.max(1, token.image.length);
    // Python's and Brian2's power operator, `v**2`.
    const before = k > 0 ? parsed.tokens[k - 1] : undefined;
    const power =
      e.token.image === '*' &&
      before?.image === '*' &&
      (before.endOffset ?? -2) + 1 === e.token.startOffset;
    found.push({
      span: { file: source, start, end },
      message: e.message,
      options: power ? { notes: ["powers are written 'x^2' ('**' in Python and Brian2)"] } : {},
    });
  }
  if (found.length > 0) {
    report(found, diagnostics);
    return undefined;
  }
  return buildAst(parsed.cst, source);
}

/** The most syntax errors shown for one file: past them, the rest are mostly knock-on errors. */
const MAX_SYNTAX_ERRORS = 20;

/** Reports a file's syntax errors in source order, each position once, at most MAX_SYNTAX_ERRORS. */
function report(found: readonly Found[], diagnostics: Diagnostics): void {
  // Recovery can report the same position twice; once is enough.
  const seen = new Set<number>();
  const unique = [...found]
    .sort((a, b) => a.span.start - b.span.start)
    .filter((f) => !seen.has(f.span.start) && (seen.add(f.span.start), true));
  const shown = unique.slice(0, MAX_SYNTAX_ERRORS);
  const hidden = unique.length - shown.length;
  shown.forEach((f, k) => {
    const last = hidden > 0 && k === shown.length - 1;
    const notes = [
      ...(f.options.notes ?? []),
      ...(last ? [`${hidden} more syntax errors in this file are not shown`] : []),
    ];
    diagnostics.error(f.span, f.message, { ...f.options, ...(notes.length > 0 ? { notes } : {}) });
  });
}

/** A character no token starts with; control characters are named by their code point. */
function unexpectedCharacter(span: Span): Found {
  const code = span.file.text.codePointAt(span.start) ?? 0;
  const c = String.fromCodePoint(code);
  const shown =
    code < 0x20 || code === 0x7f || code === 0xfffd
      ? `U+${code.toString(16).toUpperCase().padStart(4, '0')}`
      : `'${c}'`;
  return {
    span,
    message: `unexpected character ${shown}`,
    options: code === 0xfffd ? { notes: ['the file is not valid UTF-8 here'] } : {},
  };
}
