import {
  EOF,
  type IParserErrorMessageProvider,
  type IToken,
  type TokenType,
} from './chevrotain.js';
import type { DiagnosticOptions } from '../diagnostics/diagnostic.js';
import type { Span } from '../diagnostics/source.js';
import { Identifier, RESERVED_WORDS } from './lexer.js';

/** A lexical or syntax error found in a file, reported with the others in source order. */
export interface Found {
  readonly span: Span;
  readonly message: string;
  readonly options: DiagnosticOptions;
}

/** What a rule stands for, in the words of an error message. */
export const RULE_DESCRIPTIONS: Readonly<Record<string, string>> = {
  file: "a definition ('neuron', 'synapse', 'output', 'network' or 'import')",
  modelItem:
    "a model item ('parameters', 'state', 'current', 'equations', 'spike when', 'reset', 'refractory', 'method', 'on_pre', 'on_post' or 'delivers')",
  networkItem:
    "a network item ('population', 'projection', 'stimulus', 'record' or a setting such as 'dt = 0.1 ms')",
  projectionItem:
    "a projection item ('connect', 'weight', 'delay', 'synapse', 'output' or 'placement')",
  statement: "a statement ('x = ...', 'x += ...' or 'if')",
  currentItem: "a current name or '= expression'",
  equation: "an equation ('dX/dt = ...' or 'name = ...')",
};

function describeToken(token: IToken): string {
  return token.tokenType === EOF ? 'the end of the file' : `'${token.image}'`;
}

function describeExpected(tokens: readonly TokenType[]): string {
  const labels = [...new Set(tokens.map((t) => t.LABEL ?? t.name))];
  if (labels.length > 6) return 'an expression';
  return labels.length === 1 ? (labels[0] ?? '') : `one of ${labels.join(', ')}`;
}

function describeRule(ruleName: string, paths: TokenType[][][]): string {
  const known = RULE_DESCRIPTIONS[ruleName];
  if (known !== undefined) return known;
  if (
    [
      'expression',
      'primary',
      'unary',
      'power',
      'additive',
      'multiplicative',
      'comparison',
      'notExpression',
      'andExpression',
    ].includes(ruleName)
  ) {
    return 'an expression';
  }
  return describeExpected(
    paths
      .flat()
      .map((p) => p[0])
      .filter((t): t is TokenType => t !== undefined),
  );
}

/** The message for a reserved word where a name belongs: `neuron spike {`, `parameters { delay = 2 ms }`. */
export function reservedWordMessage(word: string): string {
  return `'${word}' is a reserved word and cannot be used as a name`;
}

function isReservedWord(token: IToken): boolean {
  return token.tokenType.name.startsWith('Kw_') && RESERVED_WORDS.has(token.image);
}

/** Error messages in the user's terms rather than chevrotain's token names. */
export const parserErrorMessages: IParserErrorMessageProvider = {
  buildMismatchTokenMessage: ({ expected, actual }) =>
    expected === EOF
      ? `unexpected ${describeToken(actual)}: expected ${RULE_DESCRIPTIONS['file']}`
      : expected === Identifier && isReservedWord(actual)
        ? reservedWordMessage(actual.image)
        : `expected ${expected.LABEL ?? expected.name} but found ${describeToken(actual)}`,
  buildNotAllInputParsedMessage: ({ firstRedundant }) =>
    `unexpected ${describeToken(firstRedundant)}: expected ${RULE_DESCRIPTIONS['file']}`,
  buildNoViableAltMessage: ({ expectedPathsPerAlt, actual, ruleName }) =>
    `expected ${describeRule(ruleName, expectedPathsPerAlt)} but found ${describeToken(actual[0] ?? ({ image: '?' } as IToken))}`,
  buildEarlyExitMessage: ({ expectedIterationPaths, actual, ruleName }) =>
    `expected ${describeRule(ruleName, [expectedIterationPaths])} but found ${describeToken(actual[0] ?? ({ image: '?' } as IToken))}`,
};
