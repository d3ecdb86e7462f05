import { CstParser, type IToken, type TokenType, tokenMatcher } from './chevrotain.js';
import * as T from './lexer.js';
import { isUnitSpelling } from '../units/units.js';
import { parserErrorMessages } from './error-messages.js';

/** Tokens after which a name starts a new declaration, so it cannot be a unit of the number before it. */
const DECLARATION_FOLLOWERS: readonly TokenType[] = [
  T.Equals,
  T.Tilde,
  T.Colon,
  T.PlusAssign,
  T.MinusAssign,
  T.StarAssign,
  T.SlashAssign,
  T.LParen,
  T.Dot,
  T.LBracket,
];

function adjacent(a: IToken, b: IToken): boolean {
  return (a.endOffset ?? a.startOffset + a.image.length - 1) + 1 === b.startOffset;
}

function isOneOf(token: IToken, types: readonly TokenType[]): boolean {
  return types.some((t) => tokenMatcher(token, t));
}

/**
 * The .spk grammar. Every rule here is documented in grammar/spk.ebnf (a test
 * keeps the two in step). Units after numbers are recognised by gates that look
 * at the unit table and at spacing, see grammar/decisions.md.
 */
export class SpkParser extends CstParser {
  constructor() {
    super([...T.ALL_TOKENS], {
      recoveryEnabled: true,
      maxLookahead: 3,
      // The AST takes only offsets from the CST; lines and columns in every node cost memory.
      nodeLocationTracking: 'onlyOffset',
      errorMessageProvider: parserErrorMessages,
    });
    this.performSelfAnalysis();
  }

  /** A unit name after a number: a known unit spelling not followed by what starts a declaration. */
  private unitStartsHere(): boolean {
    const first = this.LA(1);
    if (tokenMatcher(first, T.Identifier)) {
      return isUnitSpelling(first.image) && !isOneOf(this.LA(2), DECLARATION_FOLLOWERS);
    }
    if (tokenMatcher(first, T.Slash)) {
      const name = this.LA(2);
      return (
        tokenMatcher(name, T.Identifier) &&
        adjacent(first, name) &&
        isUnitSpelling(name.image) &&
        !isOneOf(this.LA(3), DECLARATION_FOLLOWERS)
      );
    }
    return false;
  }

  /** `*` or `/` written without spaces between two unit names continues a unit. */
  private unitContinues(): boolean {
    const op = this.LA(1);
    const name = this.LA(2);
    const before = this.LA(0);
    return (
      (tokenMatcher(op, T.Star) || tokenMatcher(op, T.Slash)) &&
      adjacent(before, op) &&
      adjacent(op, name) &&
      (tokenMatcher(name, T.Identifier) || tokenMatcher(name, T.Weight)) &&
      !isOneOf(this.LA(3), [T.LParen, T.Dot])
    );
  }

  private namedArgumentHere(): boolean {
    return tokenMatcher(this.LA(1), T.Identifier) && tokenMatcher(this.LA(2), T.Equals);
  }

  public file = this.RULE('file', () => {
    this.MANY(() => {
      this.OR([
        { ALT: () => this.SUBRULE(this.importDecl) },
        { ALT: () => this.SUBRULE(this.modelDef) },
        { ALT: () => this.SUBRULE(this.networkDef) },
      ]);
    });
  });

  public importDecl = this.RULE('importDecl', () => {
    this.CONSUME(T.Import);
    this.CONSUME(T.StringLiteral);
  });

  public modelDef = this.RULE('modelDef', () => {
    this.OR([
      { ALT: () => this.CONSUME(T.Neuron) },
      { ALT: () => this.CONSUME(T.Synapse) },
      { ALT: () => this.CONSUME(T.Output) },
    ]);
    this.CONSUME(T.Identifier);
    this.CONSUME(T.LCurly);
    this.MANY(() => this.SUBRULE(this.modelItem));
    this.CONSUME(T.RCurly);
  });

  public modelItem = this.RULE('modelItem', () => {
    this.OR([
      { ALT: () => this.SUBRULE(this.parametersBlock) },
      { ALT: () => this.SUBRULE(this.stateBlock) },
      { ALT: () => this.SUBRULE(this.currentItem) },
      { ALT: () => this.SUBRULE(this.equationsBlock) },
      { ALT: () => this.SUBRULE(this.spikeItem) },
      { ALT: () => this.SUBRULE(this.resetItem) },
      { ALT: () => this.SUBRULE(this.refractoryItem) },
      { ALT: () => this.SUBRULE(this.methodItem) },
      { ALT: () => this.SUBRULE(this.onPreItem) },
      { ALT: () => this.SUBRULE(this.onPostItem) },
      { ALT: () => this.SUBRULE(this.deliversItem) },
    ]);
  });

  public parametersBlock = this.RULE('parametersBlock', () => {
    this.CONSUME(T.Parameters);
    this.CONSUME(T.LCurly);
    this.MANY(() => this.SUBRULE(this.parameterDecl));
    this.CONSUME(T.RCurly);
  });

  public parameterDecl = this.RULE('parameterDecl', () => {
    this.CONSUME(T.Identifier);
    this.OPTION(() => {
      this.CONSUME(T.Colon);
      this.SUBRULE(this.unit);
    });
    this.OPTION2(() => {
      this.CONSUME(T.Equals);
      this.SUBRULE(this.expression);
    });
  });

  public stateBlock = this.RULE('stateBlock', () => {
    this.CONSUME(T.State);
    this.CONSUME(T.LCurly);
    this.MANY(() => this.SUBRULE(this.stateDecl));
    this.CONSUME(T.RCurly);
  });

  public stateDecl = this.RULE('stateDecl', () => {
    this.CONSUME(T.Identifier);
    this.OPTION(() => {
      this.CONSUME(T.Colon);
      this.SUBRULE(this.unit);
    });
    this.OPTION2(() => {
      this.OR([{ ALT: () => this.CONSUME(T.Equals) }, { ALT: () => this.CONSUME(T.Tilde) }]);
      this.SUBRULE(this.expression);
    });
  });

  /** `current I (ltc) : nA` in neurons, `current = EXPR` in outputs. */
  public currentItem = this.RULE('currentItem', () => {
    this.CONSUME(T.Current);
    this.OR([
      {
        ALT: () => {
          this.CONSUME(T.Equals);
          this.SUBRULE(this.expression);
        },
      },
      {
        ALT: () => {
          this.CONSUME(T.Identifier);
          this.OPTION(() => {
            this.CONSUME(T.LParen);
            this.CONSUME2(T.Identifier);
            this.CONSUME(T.RParen);
          });
          this.OPTION2(() => {
            this.CONSUME(T.Colon);
            this.SUBRULE(this.unit);
          });
        },
      },
    ]);
  });

  public equationsBlock = this.RULE('equationsBlock', () => {
    this.CONSUME(T.Equations);
    this.CONSUME(T.LCurly);
    this.MANY(() => this.SUBRULE(this.equation));
    this.CONSUME(T.RCurly);
  });

  public equation = this.RULE('equation', () => {
    this.OR([{ ALT: () => this.CONSUME(T.Derivative) }, { ALT: () => this.CONSUME(T.Identifier) }]);
    this.CONSUME(T.Equals);
    this.SUBRULE(this.expression);
  });

  public spikeItem = this.RULE('spikeItem', () => {
    this.CONSUME(T.Spike);
    this.CONSUME(T.When);
    this.SUBRULE(this.expression);
  });

  public resetItem = this.RULE('resetItem', () => {
    this.CONSUME(T.Reset);
    this.SUBRULE(this.block);
  });

  public refractoryItem = this.RULE('refractoryItem', () => {
    this.CONSUME(T.Refractory);
    this.SUBRULE(this.expression);
  });

  public methodItem = this.RULE('methodItem', () => {
    this.CONSUME(T.Method);
    this.CONSUME(T.Identifier);
  });

  public onPreItem = this.RULE('onPreItem', () => {
    this.CONSUME(T.OnPre);
    this.SUBRULE(this.block);
  });

  public onPostItem = this.RULE('onPostItem', () => {
    this.CONSUME(T.OnPost);
    this.SUBRULE(this.block);
  });

  public deliversItem = this.RULE('deliversItem', () => {
    this.CONSUME(T.Delivers);
    this.SUBRULE(this.expression);
  });

  public block = this.RULE('block', () => {
    this.CONSUME(T.LCurly);
    this.MANY(() => this.SUBRULE(this.statement));
    this.CONSUME(T.RCurly);
  });

  public statement = this.RULE('statement', () => {
    this.OR([
      { ALT: () => this.SUBRULE(this.ifStatement) },
      { ALT: () => this.SUBRULE(this.assignment) },
    ]);
  });

  public ifStatement = this.RULE('ifStatement', () => {
    this.CONSUME(T.If);
    this.SUBRULE(this.expression);
    this.SUBRULE(this.block);
    this.OPTION(() => {
      this.CONSUME(T.Else);
      this.OR([
        { ALT: () => this.SUBRULE(this.ifStatement) },
        { ALT: () => this.SUBRULE2(this.block) },
      ]);
    });
  });

  public assignment = this.RULE('assignment', () => {
    this.SUBRULE(this.qualifiedName);
    this.OR([
      { ALT: () => this.CONSUME(T.Equals) },
      { ALT: () => this.CONSUME(T.PlusAssign) },
      { ALT: () => this.CONSUME(T.MinusAssign) },
      { ALT: () => this.CONSUME(T.StarAssign) },
      { ALT: () => this.CONSUME(T.SlashAssign) },
    ]);
    this.SUBRULE(this.expression);
  });

  /** `x` or `post.x`. */
  public qualifiedName = this.RULE('qualifiedName', () => {
    this.CONSUME(T.Identifier);
    this.OPTION(() => {
      this.CONSUME(T.Dot);
      this.CONSUME2(T.Identifier);
    });
  });

  public networkDef = this.RULE('networkDef', () => {
    this.CONSUME(T.Network);
    this.CONSUME(T.Identifier);
    this.CONSUME(T.LCurly);
    this.MANY(() => this.SUBRULE(this.networkItem));
    this.CONSUME(T.RCurly);
  });

  public networkItem = this.RULE('networkItem', () => {
    this.OR([
      { ALT: () => this.SUBRULE(this.setting) },
      { ALT: () => this.SUBRULE(this.populationDef) },
      { ALT: () => this.SUBRULE(this.projectionDef) },
      { ALT: () => this.SUBRULE(this.stimulusDef) },
      { ALT: () => this.SUBRULE(this.recordDef) },
    ]);
  });

  /** `dt = 0.1 ms`, `duration = ...`, `seed = 42`. */
  public setting = this.RULE('setting', () => {
    this.CONSUME(T.Identifier);
    this.CONSUME(T.Equals);
    this.SUBRULE(this.expression);
  });

  public populationDef = this.RULE('populationDef', () => {
    this.CONSUME(T.Population);
    this.CONSUME(T.Identifier);
    this.CONSUME(T.Equals);
    this.SUBRULE(this.instantiation);
    this.OPTION(() => {
      this.CONSUME(T.LCurly);
      this.MANY(() => this.SUBRULE(this.override));
      this.CONSUME(T.RCurly);
    });
  });

  /** `Model(args)` or a bare `Model`. */
  public instantiation = this.RULE('instantiation', () => {
    this.CONSUME(T.Identifier);
    this.OPTION(() => this.SUBRULE(this.argumentList));
  });

  public override = this.RULE('override', () => {
    this.CONSUME(T.Identifier);
    this.OR([{ ALT: () => this.CONSUME(T.Equals) }, { ALT: () => this.CONSUME(T.Tilde) }]);
    this.SUBRULE(this.expression);
  });

  public projectionDef = this.RULE('projectionDef', () => {
    this.CONSUME(T.Projection);
    this.CONSUME(T.Identifier);
    this.CONSUME(T.Equals);
    this.SUBRULE(this.populationRef);
    this.CONSUME(T.Arrow);
    this.SUBRULE2(this.populationRef);
    this.CONSUME(T.LCurly);
    this.MANY(() => this.SUBRULE(this.projectionItem));
    this.CONSUME(T.RCurly);
  });

  public populationRef = this.RULE('populationRef', () => {
    this.CONSUME(T.Identifier);
    this.OPTION(() => this.SUBRULE(this.slice));
  });

  /** `[a:b]`, either bound optional. */
  public slice = this.RULE('slice', () => {
    this.CONSUME(T.LBracket);
    this.OPTION(() => this.SUBRULE(this.expression));
    this.CONSUME(T.Colon);
    this.OPTION2(() => this.SUBRULE2(this.expression));
    this.CONSUME(T.RBracket);
  });

  public projectionItem = this.RULE('projectionItem', () => {
    this.OR([
      {
        ALT: () => {
          this.CONSUME(T.Connect);
          this.SUBRULE(this.instantiation);
          this.OPTION(() => this.CONSUME(T.Procedural));
        },
      },
      {
        ALT: () => {
          this.CONSUME(T.Weight);
          this.SUBRULE(this.expression);
        },
      },
      {
        ALT: () => {
          this.CONSUME(T.Delay);
          this.SUBRULE2(this.expression);
        },
      },
      {
        ALT: () => {
          this.CONSUME(T.Synapse);
          this.SUBRULE2(this.instantiation);
        },
      },
      {
        ALT: () => {
          this.CONSUME(T.Output);
          this.SUBRULE3(this.instantiation);
        },
      },
      {
        ALT: () => {
          this.CONSUME(T.Placement);
          // `synapse` is a keyword, and one of the three placements.
          this.OR2([
            { ALT: () => this.CONSUME(T.Identifier) },
            { ALT: () => this.CONSUME2(T.Synapse) },
          ]);
        },
      },
    ]);
  });

  public stimulusDef = this.RULE('stimulusDef', () => {
    this.CONSUME(T.Stimulus);
    this.SUBRULE(this.populationRef);
    this.CONSUME(T.Dot);
    this.CONSUME(T.Identifier);
    this.CONSUME(T.Equals);
    this.SUBRULE(this.expression);
  });

  public recordDef = this.RULE('recordDef', () => {
    this.CONSUME(T.Record);
    this.CONSUME(T.Identifier);
    this.CONSUME(T.Dot);
    this.CONSUME2(T.Identifier);
    this.OPTION(() => this.SUBRULE(this.slice));
    this.OPTION2(() => {
      this.CONSUME(T.Every);
      this.SUBRULE(this.expression);
    });
  });

  public argumentList = this.RULE('argumentList', () => {
    this.CONSUME(T.LParen);
    this.OPTION(() => {
      this.SUBRULE(this.argument);
      this.MANY(() => {
        this.CONSUME(T.Comma);
        this.SUBRULE2(this.argument);
      });
    });
    this.CONSUME(T.RParen);
  });

  public argument = this.RULE('argument', () => {
    this.OPTION({
      GATE: () => this.namedArgumentHere(),
      DEF: () => {
        this.CONSUME(T.Identifier);
        this.CONSUME(T.Equals);
      },
    });
    this.SUBRULE(this.expression);
  });

  public expression = this.RULE('expression', () => {
    this.SUBRULE(this.andExpression);
    this.MANY(() => {
      this.CONSUME(T.Or);
      this.SUBRULE2(this.andExpression);
    });
  });

  public andExpression = this.RULE('andExpression', () => {
    this.SUBRULE(this.notExpression);
    this.MANY(() => {
      this.CONSUME(T.And);
      this.SUBRULE2(this.notExpression);
    });
  });

  public notExpression = this.RULE('notExpression', () => {
    this.OR([
      {
        ALT: () => {
          this.CONSUME(T.Not);
          this.SUBRULE(this.notExpression);
        },
      },
      { ALT: () => this.SUBRULE(this.comparison) },
    ]);
  });

  public comparison = this.RULE('comparison', () => {
    this.SUBRULE(this.additive);
    this.OPTION(() => {
      this.OR([
        { ALT: () => this.CONSUME(T.Less) },
        { ALT: () => this.CONSUME(T.LessEqual) },
        { ALT: () => this.CONSUME(T.Greater) },
        { ALT: () => this.CONSUME(T.GreaterEqual) },
        { ALT: () => this.CONSUME(T.EqualEqual) },
        { ALT: () => this.CONSUME(T.NotEqual) },
      ]);
      this.SUBRULE2(this.additive);
    });
  });

  public additive = this.RULE('additive', () => {
    this.SUBRULE(this.multiplicative);
    this.MANY(() => {
      this.OR([{ ALT: () => this.CONSUME(T.Plus) }, { ALT: () => this.CONSUME(T.Minus) }]);
      this.SUBRULE2(this.multiplicative);
    });
  });

  public multiplicative = this.RULE('multiplicative', () => {
    this.SUBRULE(this.unary);
    this.MANY(() => {
      this.OR([{ ALT: () => this.CONSUME(T.Star) }, { ALT: () => this.CONSUME(T.Slash) }]);
      this.SUBRULE2(this.unary);
    });
  });

  public unary = this.RULE('unary', () => {
    this.OR([
      {
        ALT: () => {
          this.OR2([{ ALT: () => this.CONSUME(T.Minus) }, { ALT: () => this.CONSUME(T.Plus) }]);
          this.SUBRULE(this.unary);
        },
      },
      { ALT: () => this.SUBRULE(this.power) },
    ]);
  });

  /** Right-associative and tighter than unary minus: `-x^2` is `-(x^2)`, `a^-1` is allowed. */
  public power = this.RULE('power', () => {
    this.SUBRULE(this.primary);
    this.OPTION(() => {
      this.CONSUME(T.Caret);
      this.SUBRULE(this.unary);
    });
  });

  public primary = this.RULE('primary', () => {
    this.OR([
      { ALT: () => this.SUBRULE(this.quantity) },
      { ALT: () => this.SUBRULE(this.reference) },
      {
        ALT: () => {
          this.CONSUME(T.LParen);
          this.SUBRULE(this.expression);
          this.CONSUME(T.RParen);
        },
      },
      { ALT: () => this.SUBRULE(this.listLiteral) },
      { ALT: () => this.CONSUME(T.True) },
      { ALT: () => this.CONSUME(T.False) },
      { ALT: () => this.CONSUME(T.StringLiteral) },
    ]);
  });

  /** A number with an optional unit: `-65 mV` is unary minus applied to `65 mV`. */
  public quantity = this.RULE('quantity', () => {
    this.CONSUME(T.NumberLiteral);
    this.OPTION({ GATE: () => this.unitStartsHere(), DEF: () => this.SUBRULE(this.unit) });
  });

  /** A name, a member `post.V`, or a call `f(args)`. */
  public reference = this.RULE('reference', () => {
    this.CONSUME(T.Identifier);
    this.OPTION(() => {
      this.OR([
        {
          ALT: () => {
            this.CONSUME(T.Dot);
            this.CONSUME2(T.Identifier);
          },
        },
        { ALT: () => this.SUBRULE(this.argumentList) },
      ]);
    });
  });

  public listLiteral = this.RULE('listLiteral', () => {
    this.CONSUME(T.LBracket);
    this.OPTION(() => {
      this.SUBRULE(this.expression);
      this.MANY(() => {
        this.CONSUME(T.Comma);
        this.SUBRULE2(this.expression);
      });
    });
    this.CONSUME(T.RBracket);
  });

  /** `mV`, `/ms`, `mS/cm^2`, `nA*ms`, `weight`. */
  public unit = this.RULE('unit', () => {
    this.OPTION(() => this.CONSUME(T.Slash));
    this.SUBRULE(this.unitFactor);
    this.MANY({
      GATE: () => this.unitContinues(),
      DEF: () => {
        this.OR([{ ALT: () => this.CONSUME(T.Star) }, { ALT: () => this.CONSUME2(T.Slash) }]);
        this.SUBRULE2(this.unitFactor);
      },
    });
  });

  public unitFactor = this.RULE('unitFactor', () => {
    this.OR([{ ALT: () => this.CONSUME(T.Identifier) }, { ALT: () => this.CONSUME(T.Weight) }]);
    this.OPTION(() => {
      this.CONSUME(T.Caret);
      this.OPTION2(() => this.CONSUME(T.Minus));
      this.CONSUME(T.NumberLiteral);
    });
  });
}

/** One parser instance, reused: chevrotain parsers are expensive to build and reset per input. */
export const spkParser = new SpkParser();
