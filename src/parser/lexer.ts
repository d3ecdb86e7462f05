import { Lexer, createToken, type TokenType } from './chevrotain.js';

/**
 * A character class (without the brackets) of the non-ASCII characters of the Basic
 * Multilingual Plane that `property` (a Unicode property escape) matches, as \uXXXX ranges.
 * Built once: chevrotain drops the `u` flag that property escapes need.
 */
function nonAsciiClass(property: RegExp): string {
  const hex = (c: number): string => `\\u${c.toString(16).padStart(4, '0')}`;
  let body = '';
  let start = -1;
  // Up to 0x10000, which matches nothing and so closes the last range.
  for (let c = 0x80; c <= 0x10000; c++) {
    const matches = c < 0x10000 && property.test(String.fromCharCode(c));
    if (matches && start < 0) start = c;
    if (!matches && start >= 0) {
      body += start === c - 1 ? hex(start) : `${hex(start)}-${hex(c - 1)}`;
      start = -1;
    }
  }
  return body;
}

/**
 * Names are ASCII (grammar/spk.ebnf), but the lexer takes a word with other letters too
 * (`Réseau`, `Vθ`, `µS`) as one name, so that checkNameCharacters reports it once
 * instead of the lexer reporting each letter and the parser what is left.
 */
const NAME_START = `A-Za-z_${nonAsciiClass(/\p{L}/u)}`;
const NAME_PART = `A-Za-z0-9_${nonAsciiClass(/[\p{L}\p{M}\p{Nd}]/u)}`;

export const Identifier = createToken({
  name: 'Identifier',
  pattern: new RegExp(`[${NAME_START}][${NAME_PART}]*`),
  label: 'a name',
});

/** Reserved words; each may not be used as a name. */
function keyword(word: string): TokenType {
  return createToken({
    name: `Kw_${word}`,
    pattern: new RegExp(word),
    longer_alt: Identifier,
    label: `'${word}'`,
  });
}

export const Import = keyword('import');
export const Neuron = keyword('neuron');
export const Synapse = keyword('synapse');
export const Output = keyword('output');
export const Network = keyword('network');
export const Parameters = keyword('parameters');
export const State = keyword('state');
export const Current = keyword('current');
export const Equations = keyword('equations');
export const Spike = keyword('spike');
export const When = keyword('when');
export const Reset = keyword('reset');
export const Refractory = keyword('refractory');
export const Method = keyword('method');
export const OnPre = keyword('on_pre');
export const OnPost = keyword('on_post');
export const Delivers = keyword('delivers');
export const Population = keyword('population');
export const Projection = keyword('projection');
export const Stimulus = keyword('stimulus');
export const Record = keyword('record');
export const Every = keyword('every');
export const Connect = keyword('connect');
export const Weight = keyword('weight');
export const Delay = keyword('delay');
export const Placement = keyword('placement');
export const Procedural = keyword('procedural');
export const If = keyword('if');
export const Else = keyword('else');
export const And = keyword('and');
export const Or = keyword('or');
export const Not = keyword('not');
export const True = keyword('true');
export const False = keyword('false');

export const KEYWORDS: readonly TokenType[] = [
  Import,
  Neuron,
  Synapse,
  Output,
  Network,
  Parameters,
  State,
  Current,
  Equations,
  Spike,
  When,
  Reset,
  Refractory,
  Method,
  OnPre,
  OnPost,
  Delivers,
  Population,
  Projection,
  Stimulus,
  Record,
  Every,
  Connect,
  Weight,
  Delay,
  Placement,
  Procedural,
  If,
  Else,
  And,
  Or,
  Not,
  True,
  False,
];

export const RESERVED_WORDS: ReadonlySet<string> = new Set(
  KEYWORDS.map((k) => (k.LABEL ?? '').slice(1, -1)),
);

const WhiteSpace = createToken({ name: 'WhiteSpace', pattern: /\s+/, group: Lexer.SKIPPED });
const LineComment = createToken({
  name: 'LineComment',
  pattern: /\/\/[^\n\r]*/,
  group: Lexer.SKIPPED,
});
const BlockComment = createToken({
  name: 'BlockComment',
  pattern: /\/\*[\s\S]*?\*\//,
  group: Lexer.SKIPPED,
});

/** `dV/dt` as one token: the left-hand side of a differential equation. */
export const Derivative = createToken({
  name: 'Derivative',
  pattern: new RegExp(`d[${NAME_START}][${NAME_PART}]*[ \\t]*\\/[ \\t]*dt(?![${NAME_PART}])`),
  label: "'dX/dt'",
});
export const NumberLiteral = createToken({
  name: 'NumberLiteral',
  pattern: /(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?/,
  label: 'a number',
});
export const StringLiteral = createToken({
  name: 'StringLiteral',
  pattern: /"[^"\n\r]*"/,
  label: 'a string',
});

/**
 * Lexical errors that the lexer recognises so that they get a message of their
 * own: a block comment or a string that is never closed. They are lexed into
 * the group LEXICAL_ERRORS, never reach the parser, and are not part of the
 * grammar (ALL_TOKENS).
 */
export const LEXICAL_ERRORS = 'lexicalErrors';
/** `/*` without its `*\/`: the rest of the file. Tried after BlockComment. */
export const UnterminatedComment = createToken({
  name: 'UnterminatedComment',
  pattern: /\/\*[\s\S]*/,
  group: LEXICAL_ERRORS,
});
/** `"` without its closing `"` on the same line. Tried after StringLiteral. */
export const UnterminatedString = createToken({
  name: 'UnterminatedString',
  pattern: /"[^"\n\r]*/,
  group: LEXICAL_ERRORS,
});

export const LCurly = createToken({ name: 'LCurly', pattern: /{/, label: "'{'" });
export const RCurly = createToken({ name: 'RCurly', pattern: /}/, label: "'}'" });
export const LParen = createToken({ name: 'LParen', pattern: /\(/, label: "'('" });
export const RParen = createToken({ name: 'RParen', pattern: /\)/, label: "')'" });
export const LBracket = createToken({ name: 'LBracket', pattern: /\[/, label: "'['" });
export const RBracket = createToken({ name: 'RBracket', pattern: /]/, label: "']'" });
export const Comma = createToken({ name: 'Comma', pattern: /,/, label: "','" });
export const Colon = createToken({ name: 'Colon', pattern: /:/, label: "':'" });
export const Dot = createToken({ name: 'Dot', pattern: /\./, label: "'.'" });
export const Arrow = createToken({ name: 'Arrow', pattern: /->/, label: "'->'" });
export const PlusAssign = createToken({ name: 'PlusAssign', pattern: /\+=/, label: "'+='" });
export const MinusAssign = createToken({ name: 'MinusAssign', pattern: /-=/, label: "'-='" });
export const StarAssign = createToken({ name: 'StarAssign', pattern: /\*=/, label: "'*='" });
export const SlashAssign = createToken({ name: 'SlashAssign', pattern: /\/=/, label: "'/='" });
export const EqualEqual = createToken({ name: 'EqualEqual', pattern: /==/, label: "'=='" });
export const NotEqual = createToken({ name: 'NotEqual', pattern: /!=/, label: "'!='" });
export const LessEqual = createToken({ name: 'LessEqual', pattern: /<=/, label: "'<='" });
export const GreaterEqual = createToken({ name: 'GreaterEqual', pattern: />=/, label: "'>='" });
export const Less = createToken({ name: 'Less', pattern: /</, label: "'<'" });
export const Greater = createToken({ name: 'Greater', pattern: />/, label: "'>'" });
export const Equals = createToken({ name: 'Equals', pattern: /=/, label: "'='" });
export const Tilde = createToken({ name: 'Tilde', pattern: /~/, label: "'~'" });
export const Plus = createToken({ name: 'Plus', pattern: /\+/, label: "'+'" });
export const Minus = createToken({ name: 'Minus', pattern: /-/, label: "'-'" });
export const Star = createToken({ name: 'Star', pattern: /\*/, label: "'*'" });
export const Slash = createToken({ name: 'Slash', pattern: /\//, label: "'/'" });
export const Caret = createToken({ name: 'Caret', pattern: /\^/, label: "'^'" });

/** Order matters: comments before '/', multi-character operators before their prefixes, keywords before Identifier. */
export const ALL_TOKENS: readonly TokenType[] = [
  WhiteSpace,
  LineComment,
  BlockComment,
  Derivative,
  NumberLiteral,
  StringLiteral,
  LCurly,
  RCurly,
  LParen,
  RParen,
  LBracket,
  RBracket,
  Comma,
  Colon,
  Dot,
  Arrow,
  PlusAssign,
  MinusAssign,
  StarAssign,
  SlashAssign,
  EqualEqual,
  NotEqual,
  LessEqual,
  GreaterEqual,
  Less,
  Greater,
  Equals,
  Tilde,
  Plus,
  Minus,
  Star,
  Slash,
  Caret,
  ...KEYWORDS,
  Identifier,
];

/** What the lexer tries, in order: the grammar's tokens with the lexical errors right after what they are a broken form of. */
const LEXER_TOKENS: readonly TokenType[] = ALL_TOKENS.flatMap((t) =>
  t === BlockComment
    ? [t, UnterminatedComment]
    : t === StringLiteral
      ? [t, UnterminatedString]
      : [t],
);

export const spkLexer = new Lexer([...LEXER_TOKENS], {
  positionTracking: 'full',
  ensureOptimizations: false,
});
