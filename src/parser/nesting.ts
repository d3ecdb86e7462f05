import { type IToken, type TokenType, tokenMatcher } from './chevrotain.js';
import * as T from './lexer.js';

/**
 * Limits on how deeply input may nest. The parser and every pass after it
 * recurse over the nesting, so input beyond these limits would overflow the
 * stack; it is refused before parsing with a message at the token that goes
 * past the limit. Real models stay far below them.
 */
export const LIMITS = {
  /** Parentheses and brackets open at once. */
  parentheses: 50,
  /** Braces open at once (definitions, blocks, nested ifs). */
  braces: 50,
  /** Unary operators (`-`, `+`, `not`) in a row. */
  unaryRun: 64,
  /** `^` in one chain: `a ^ b ^ c ...` nests to the right. */
  powerChain: 64,
  /** Operators in one expression (with those of the expressions it is nested in): a long sum is a deep tree too. */
  operators: 500,
} as const;

export interface NestingProblem {
  readonly token: IToken;
  readonly message: string;
  readonly notes: readonly string[];
}

const OPENERS: readonly TokenType[] = [T.LParen, T.LBracket, T.LCurly];
const CLOSERS: readonly TokenType[] = [T.RParen, T.RBracket, T.RCurly];
/** Tokens after which a `-` or `+` is binary: the end of an operand. */
export const OPERAND_ENDS: readonly TokenType[] = [
  T.Identifier,
  T.NumberLiteral,
  T.StringLiteral,
  T.True,
  T.False,
  T.RParen,
  T.RBracket,
];
const BINARY: readonly TokenType[] = [
  T.Star,
  T.Slash,
  T.Caret,
  T.Less,
  T.LessEqual,
  T.Greater,
  T.GreaterEqual,
  T.EqualEqual,
  T.NotEqual,
  T.And,
  T.Or,
];
/** Tokens that end one expression and may start another: what comes after them is counted afresh. */
const EXPRESSION_STARTS: readonly TokenType[] = [
  T.Equals,
  T.Tilde,
  T.Colon,
  T.Comma,
  T.Arrow,
  T.PlusAssign,
  T.MinusAssign,
  T.StarAssign,
  T.SlashAssign,
];
/** Keywords that may stand inside an expression; every other keyword starts something new. */
const EXPRESSION_KEYWORDS: readonly TokenType[] = [T.And, T.Or, T.Not, T.True, T.False];

function is(token: IToken | undefined, types: readonly TokenType[]): boolean {
  return token !== undefined && types.some((t) => tokenMatcher(token, t));
}

const SPLIT_NOTE =
  'split it into named subexpressions (NAME = ... in equations { }) or simplify it';

/**
 * Finds the first place where `tokens` nest deeper than {@link LIMITS}, in one
 * pass without recursion. Undefined when the input is within the limits.
 */
export function checkNesting(tokens: readonly IToken[]): NestingProblem | undefined {
  // One level per open bracket: the operators counted in it so far, and the current chain of '^'.
  const levels: { operators: number; powers: number }[] = [{ operators: 0, powers: 0 }];
  let parentheses = 0;
  let braces = 0;
  let operators = 0; // the sum over all open levels
  let unaryRun = 0;
  let previous: IToken | undefined;
  for (const token of tokens) {
    const level = levels[levels.length - 1]!;
    const restart = (): void => {
      operators -= level.operators;
      level.operators = 0;
      level.powers = 0;
    };
    const countOperator = (): NestingProblem | undefined => {
      level.operators++;
      operators++;
      if (operators > LIMITS.operators) {
        return {
          token,
          message: `expression too long (more than ${LIMITS.operators} operators)`,
          notes: [SPLIT_NOTE],
        };
      }
      return undefined;
    };
    const unaryPosition = !is(previous, OPERAND_ENDS);
    if (is(token, [T.Minus, T.Plus, T.Not]) && (unaryPosition || tokenMatcher(token, T.Not))) {
      unaryRun++;
      if (unaryRun > LIMITS.unaryRun) {
        return {
          token,
          message: `expression nested too deeply (more than ${LIMITS.unaryRun} unary operators in a row)`,
          notes: [],
        };
      }
      const problem = countOperator();
      if (problem !== undefined) return problem;
      previous = token;
      continue;
    }
    unaryRun = 0;
    if (is(token, OPENERS)) {
      const brace = tokenMatcher(token, T.LCurly);
      if (brace) braces++;
      else parentheses++;
      if (brace && braces > LIMITS.braces) {
        return {
          token,
          message: `blocks nested too deeply (more than ${LIMITS.braces} levels)`,
          notes: [],
        };
      }
      if (!brace && parentheses > LIMITS.parentheses) {
        return {
          token,
          message: `expression nested too deeply (more than ${LIMITS.parentheses} levels)`,
          notes: [SPLIT_NOTE],
        };
      }
      levels.push({ operators: 0, powers: 0 });
    } else if (is(token, CLOSERS)) {
      // A stray closer is the parser's to report; only a matching level is left.
      if (levels.length > 1) {
        operators -= level.operators;
        levels.pop();
        if (tokenMatcher(token, T.RCurly)) braces = Math.max(0, braces - 1);
        else parentheses = Math.max(0, parentheses - 1);
      }
    } else if (
      is(token, EXPRESSION_STARTS) ||
      (token.tokenType.name.startsWith('Kw_') && !is(token, EXPRESSION_KEYWORDS))
    ) {
      restart();
    } else if (is(token, BINARY) || is(token, [T.Minus, T.Plus])) {
      const problem = countOperator();
      if (problem !== undefined) return problem;
      if (tokenMatcher(token, T.Caret)) {
        level.powers++;
        if (level.powers > LIMITS.powerChain) {
          return {
            token,
            message: `expression nested too deeply (more than ${LIMITS.powerChain} '^' in a row)`,
            notes: [SPLIT_NOTE],
          };
        }
      } else {
        level.powers = 0;
      }
    }
    previous = token;
  }
  return undefined;
}
