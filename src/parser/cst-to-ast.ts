import type { CstElement, CstNode, IToken } from './chevrotain.js';
import type { SourceFile, Span } from '../diagnostics/source.js';
import { InternalError } from '../diagnostics/diagnostic.js';
import type * as A from './ast.js';
import { spkParser } from './parser.js';

type Children = Record<string, CstElement[] | undefined>;

const BaseVisitor = spkParser.getBaseCstVisitorConstructor();

/** Exclusive end offset of a token. */
function tokenEnd(t: IToken): number {
  return t.endOffset === undefined ? t.startOffset + t.image.length : t.endOffset + 1;
}

function isToken(e: CstElement | undefined): e is IToken {
  return e !== undefined && 'image' in e;
}

/**
 * Turns the chevrotain CST into the AST. Runs only on input without syntax
 * errors, so a missing child is a bug, reported as an InternalError.
 */
class AstBuilder extends BaseVisitor {
  constructor(private readonly source: SourceFile) {
    super();
    this.validateVisitor();
  }

  private span(node: CstNode | IToken): Span {
    if (isToken(node)) return { file: this.source, start: node.startOffset, end: tokenEnd(node) };
    const loc = node.location;
    if (loc === undefined || Number.isNaN(loc.startOffset))
      throw new InternalError(`node ${node.name} has no location`);
    return {
      file: this.source,
      start: loc.startOffset,
      end: (loc.endOffset ?? loc.startOffset) + 1,
    };
  }

  private tokens(c: Children, name: string): IToken[] {
    return (c[name] ?? []).filter(isToken);
  }

  private token(c: Children, name: string, index = 0): IToken {
    const t = this.tokens(c, name)[index];
    if (t === undefined) throw new InternalError(`missing token ${name}`);
    return t;
  }

  private nodes(c: Children, name: string): CstNode[] {
    return (c[name] ?? []).filter((e): e is CstNode => !isToken(e));
  }

  private node(c: Children, name: string, index = 0): CstNode {
    const n = this.nodes(c, name)[index];
    if (n === undefined) throw new InternalError(`missing node ${name}`);
    return n;
  }

  private name(t: IToken): A.Name {
    return { name: t.image, span: this.span(t) };
  }

  private expr(n: CstNode): A.Expression {
    return this.visit(n) as A.Expression;
  }

  /** Children in source order, for left-associative operator chains. */
  private ordered(c: Children): CstElement[] {
    const all = Object.values(c).flatMap((v) => v ?? []);
    const offset = (e: CstElement): number =>
      isToken(e) ? e.startOffset : (e.location?.startOffset ?? 0);
    return all.sort((a, b) => offset(a) - offset(b));
  }

  private leftChain(c: Children): A.Expression {
    const parts = this.ordered(c);
    const first = parts[0];
    if (first === undefined || isToken(first)) throw new InternalError('empty operator chain');
    let result = this.expr(first);
    for (let i = 1; i + 1 < parts.length; i += 2) {
      const op = parts[i];
      const rhs = parts[i + 1];
      if (!isToken(op) || rhs === undefined || isToken(rhs))
        throw new InternalError('malformed operator chain');
      const right = this.expr(rhs);
      result = {
        kind: 'binary',
        op: op.image as A.BinaryOperator,
        left: result,
        right,
        span: { file: this.source, start: result.span.start, end: right.span.end },
      };
    }
    return result;
  }

  file(c: Children): A.FileAst {
    return {
      imports: this.nodes(c, 'importDecl').map((n) => this.visit(n) as A.ImportDecl),
      models: this.nodes(c, 'modelDef').map((n) => this.visit(n) as A.ModelDef),
      networks: this.nodes(c, 'networkDef').map((n) => this.visit(n) as A.NetworkDef),
    };
  }

  importDecl(c: Children): A.ImportDecl {
    const t = this.token(c, 'StringLiteral');
    return { path: t.image.slice(1, -1), span: this.span(t) };
  }

  modelDef(c: Children): A.ModelDef {
    const kind: A.ModelKind = c['Kw_neuron'] ? 'neuron' : c['Kw_synapse'] ? 'synapse' : 'output';
    const first = this.token(c, `Kw_${kind}`);
    const close = this.token(c, 'RCurly');
    return {
      kind,
      name: this.name(this.token(c, 'Identifier')),
      items: this.nodes(c, 'modelItem').map((n) => this.visit(n) as A.ModelItem),
      span: { file: this.source, start: first.startOffset, end: tokenEnd(close) },
    };
  }

  modelItem(c: Children): A.ModelItem {
    const [child] = Object.values(c).flatMap((v) => v ?? []);
    if (child === undefined || isToken(child)) throw new InternalError('empty model item');
    return this.visit(child) as A.ModelItem;
  }

  parametersBlock(c: Children): A.ModelItem {
    return {
      kind: 'parameters',
      decls: this.nodes(c, 'parameterDecl').map((n) => this.visit(n) as A.ParameterDecl),
      span: this.span(this.token(c, 'Kw_parameters')),
    };
  }

  parameterDecl(c: Children): A.ParameterDecl {
    const unit = this.nodes(c, 'unit')[0];
    const value = this.nodes(c, 'expression')[0];
    const name = this.name(this.token(c, 'Identifier'));
    return {
      name,
      ...(unit === undefined ? {} : { unit: this.visit(unit) as A.UnitExpr }),
      ...(value === undefined ? {} : { value: this.expr(value) }),
      span: name.span,
    };
  }

  stateBlock(c: Children): A.ModelItem {
    return {
      kind: 'state',
      decls: this.nodes(c, 'stateDecl').map((n) => this.visit(n) as A.StateDecl),
      span: this.span(this.token(c, 'Kw_state')),
    };
  }

  stateDecl(c: Children): A.StateDecl {
    const unit = this.nodes(c, 'unit')[0];
    const value = this.nodes(c, 'expression')[0];
    const name = this.name(this.token(c, 'Identifier'));
    const op = c['Tilde'] ? '~' : '=';
    return {
      name,
      ...(unit === undefined ? {} : { unit: this.visit(unit) as A.UnitExpr }),
      ...(value === undefined ? {} : { init: { op, value: this.expr(value) } }),
      span: name.span,
    };
  }

  currentItem(c: Children): A.ModelItem {
    const keyword = this.span(this.token(c, 'Kw_current'));
    const value = this.nodes(c, 'expression')[0];
    if (value !== undefined)
      return { kind: 'outputCurrent', value: this.expr(value), span: keyword };
    const names = this.tokens(c, 'Identifier');
    const unit = this.nodes(c, 'unit')[0];
    const name = this.name(this.token(c, 'Identifier'));
    const flag = names[1];
    return {
      kind: 'currentInput',
      name,
      ...(flag === undefined ? {} : { flag: this.name(flag) }),
      ...(unit === undefined ? {} : { unit: this.visit(unit) as A.UnitExpr }),
      span: name.span,
    };
  }

  equationsBlock(c: Children): A.ModelItem {
    return {
      kind: 'equations',
      equations: this.nodes(c, 'equation').map((n) => this.visit(n) as A.EquationDecl),
      span: this.span(this.token(c, 'Kw_equations')),
    };
  }

  equation(c: Children): A.EquationDecl {
    const value = this.expr(this.node(c, 'expression'));
    const derivative = this.tokens(c, 'Derivative')[0];
    if (derivative !== undefined) {
      // `dV / dt`: the state name sits between the leading 'd' and the '/'.
      const stateName = derivative.image.slice(1, derivative.image.indexOf('/')).trim();
      const span = this.span(derivative);
      return {
        kind: 'ode',
        name: {
          name: stateName,
          span: {
            file: this.source,
            start: span.start + 1,
            end: span.start + 1 + stateName.length,
          },
        },
        value,
        span,
      };
    }
    const name = this.name(this.token(c, 'Identifier'));
    return { kind: 'subexpression', name, value, span: name.span };
  }

  spikeItem(c: Children): A.ModelItem {
    return {
      kind: 'spike',
      condition: this.expr(this.node(c, 'expression')),
      span: this.span(this.token(c, 'Kw_spike')),
    };
  }

  resetItem(c: Children): A.ModelItem {
    return {
      kind: 'reset',
      body: this.visit(this.node(c, 'block')) as A.Statement[],
      span: this.span(this.token(c, 'Kw_reset')),
    };
  }

  refractoryItem(c: Children): A.ModelItem {
    return {
      kind: 'refractory',
      value: this.expr(this.node(c, 'expression')),
      span: this.span(this.token(c, 'Kw_refractory')),
    };
  }

  methodItem(c: Children): A.ModelItem {
    return {
      kind: 'method',
      name: this.name(this.token(c, 'Identifier')),
      span: this.span(this.token(c, 'Kw_method')),
    };
  }

  onPreItem(c: Children): A.ModelItem {
    return {
      kind: 'onPre',
      body: this.visit(this.node(c, 'block')) as A.Statement[],
      span: this.span(this.token(c, 'Kw_on_pre')),
    };
  }

  onPostItem(c: Children): A.ModelItem {
    return {
      kind: 'onPost',
      body: this.visit(this.node(c, 'block')) as A.Statement[],
      span: this.span(this.token(c, 'Kw_on_post')),
    };
  }

  deliversItem(c: Children): A.ModelItem {
    return {
      kind: 'delivers',
      value: this.expr(this.node(c, 'expression')),
      span: this.span(this.token(c, 'Kw_delivers')),
    };
  }

  block(c: Children): A.Statement[] {
    return this.nodes(c, 'statement').map((n) => this.visit(n) as A.Statement);
  }

  statement(c: Children): A.Statement {
    const inner = this.nodes(c, 'ifStatement')[0] ?? this.node(c, 'assignment');
    return this.visit(inner) as A.Statement;
  }

  ifStatement(c: Children): A.Statement {
    const blocks = this.nodes(c, 'block');
    const nested = this.nodes(c, 'ifStatement')[0];
    const thenBlock = blocks[0];
    if (thenBlock === undefined) throw new InternalError('if without block');
    const elseBlock = blocks[1];
    const otherwise: A.Statement[] =
      nested !== undefined
        ? [this.visit(nested) as A.Statement]
        : elseBlock !== undefined
          ? (this.visit(elseBlock) as A.Statement[])
          : [];
    return {
      kind: 'if',
      condition: this.expr(this.node(c, 'expression')),
      then: this.visit(thenBlock) as A.Statement[],
      otherwise,
      span: this.span(this.token(c, 'Kw_if')),
    };
  }

  assignment(c: Children): A.Statement {
    const target = this.visit(this.node(c, 'qualifiedName')) as {
      target: A.Name;
      qualifier?: A.Name;
    };
    const opToken = this.ordered(c).find((e): e is IToken => isToken(e));
    if (opToken === undefined) throw new InternalError('assignment without operator');
    const value = this.expr(this.node(c, 'expression'));
    return {
      kind: 'assign',
      ...target,
      op: opToken.image as A.AssignOperator,
      value,
      span: {
        file: this.source,
        start: (target.qualifier ?? target.target).span.start,
        end: value.span.end,
      },
    };
  }

  qualifiedName(c: Children): { target: A.Name; qualifier?: A.Name } {
    const names = this.tokens(c, 'Identifier');
    const [first, second] = names;
    if (first === undefined) throw new InternalError('empty qualified name');
    return second === undefined
      ? { target: this.name(first) }
      : { target: this.name(second), qualifier: this.name(first) };
  }

  networkDef(c: Children): A.NetworkDef {
    return {
      name: this.name(this.token(c, 'Identifier')),
      items: this.nodes(c, 'networkItem').map((n) => this.visit(n) as A.NetworkItem),
      span: {
        file: this.source,
        start: this.token(c, 'Kw_network').startOffset,
        end: tokenEnd(this.token(c, 'RCurly')),
      },
    };
  }

  networkItem(c: Children): A.NetworkItem {
    const [child] = Object.values(c).flatMap((v) => v ?? []);
    if (child === undefined || isToken(child)) throw new InternalError('empty network item');
    return this.visit(child) as A.NetworkItem;
  }

  setting(c: Children): A.NetworkItem {
    const name = this.name(this.token(c, 'Identifier'));
    return { kind: 'setting', name, value: this.expr(this.node(c, 'expression')), span: name.span };
  }

  populationDef(c: Children): A.NetworkItem {
    const name = this.name(this.token(c, 'Identifier'));
    return {
      kind: 'population',
      name,
      model: this.visit(this.node(c, 'instantiation')) as A.Instantiation,
      overrides: this.nodes(c, 'override').map((n) => this.visit(n) as A.Override),
      span: name.span,
    };
  }

  instantiation(c: Children): A.Instantiation {
    const name = this.name(this.token(c, 'Identifier'));
    const list = this.nodes(c, 'argumentList')[0];
    return {
      name,
      args: list === undefined ? [] : (this.visit(list) as A.Argument[]),
      hasArgs: list !== undefined,
      span:
        list === undefined
          ? name.span
          : { file: this.source, start: name.span.start, end: this.span(list).end },
    };
  }

  override(c: Children): A.Override {
    const name = this.name(this.token(c, 'Identifier'));
    return {
      name,
      op: c['Tilde'] ? '~' : '=',
      value: this.expr(this.node(c, 'expression')),
      span: name.span,
    };
  }

  projectionDef(c: Children): A.NetworkItem {
    const name = this.name(this.token(c, 'Identifier'));
    return {
      kind: 'projection',
      name,
      pre: this.visit(this.node(c, 'populationRef', 0)) as A.PopulationRef,
      post: this.visit(this.node(c, 'populationRef', 1)) as A.PopulationRef,
      items: this.nodes(c, 'projectionItem').map((n) => this.visit(n) as A.ProjectionItem),
      span: name.span,
    };
  }

  populationRef(c: Children): A.PopulationRef {
    const name = this.name(this.token(c, 'Identifier'));
    const slice = this.nodes(c, 'slice')[0];
    return slice === undefined
      ? { name, span: name.span }
      : {
          name,
          slice: this.visit(slice) as A.Slice,
          span: { file: this.source, start: name.span.start, end: this.span(slice).end },
        };
  }

  slice(c: Children): A.Slice {
    // Which bounds are present is told by their position relative to the colon.
    const colon = this.token(c, 'Colon').startOffset;
    let start: A.Expression | undefined;
    let end: A.Expression | undefined;
    for (const n of this.nodes(c, 'expression')) {
      const e = this.expr(n);
      if (e.span.start < colon) start = e;
      else end = e;
    }
    const open = this.token(c, 'LBracket');
    const close = this.token(c, 'RBracket');
    return {
      ...(start === undefined ? {} : { start }),
      ...(end === undefined ? {} : { end }),
      span: { file: this.source, start: open.startOffset, end: tokenEnd(close) },
    };
  }

  projectionItem(c: Children): A.ProjectionItem {
    const inst = this.nodes(c, 'instantiation')[0];
    const expression = this.nodes(c, 'expression')[0];
    const keyword = this.ordered(c)[0];
    if (!isToken(keyword)) throw new InternalError('projection item without keyword');
    const span = this.span(keyword);
    switch (keyword.image) {
      case 'connect':
        return {
          kind: 'connect',
          connector: this.visit(inst!) as A.Instantiation,
          procedural: c['Kw_procedural'] !== undefined,
          span,
        };
      case 'weight':
        return { kind: 'weight', value: this.expr(expression!), span };
      case 'delay':
        return { kind: 'delay', value: this.expr(expression!), span };
      case 'synapse':
        return { kind: 'synapse', model: this.visit(inst!) as A.Instantiation, span };
      case 'output':
        return { kind: 'output', model: this.visit(inst!) as A.Instantiation, span };
      default: {
        // The choice is the token after `placement`: a name, or the keyword `synapse`.
        const choice = this.ordered(c)[1];
        if (!isToken(choice)) throw new InternalError('placement without a choice');
        return { kind: 'placement', choice: this.name(choice), span };
      }
    }
  }

  stimulusDef(c: Children): A.NetworkItem {
    const target = this.visit(this.node(c, 'populationRef')) as A.PopulationRef;
    return {
      kind: 'stimulus',
      target,
      variable: this.name(this.token(c, 'Identifier')),
      value: this.expr(this.node(c, 'expression')),
      span: this.span(this.token(c, 'Kw_stimulus')),
    };
  }

  recordDef(c: Children): A.NetworkItem {
    const slice = this.nodes(c, 'slice')[0];
    const every = this.nodes(c, 'expression')[0];
    return {
      kind: 'record',
      population: this.name(this.token(c, 'Identifier', 0)),
      variable: this.name(this.token(c, 'Identifier', 1)),
      ...(slice === undefined ? {} : { slice: this.visit(slice) as A.Slice }),
      ...(every === undefined ? {} : { every: this.expr(every) }),
      span: this.span(this.token(c, 'Kw_record')),
    };
  }

  argumentList(c: Children): A.Argument[] {
    return this.nodes(c, 'argument').map((n) => this.visit(n) as A.Argument);
  }

  argument(c: Children): A.Argument {
    const value = this.expr(this.node(c, 'expression'));
    const nameToken = this.tokens(c, 'Identifier')[0];
    if (nameToken === undefined) return { value, span: value.span };
    const name = this.name(nameToken);
    return {
      name: name.name,
      nameSpan: name.span,
      value,
      span: { file: this.source, start: name.span.start, end: value.span.end },
    };
  }

  expression(c: Children): A.Expression {
    return this.leftChain(c);
  }

  andExpression(c: Children): A.Expression {
    return this.leftChain(c);
  }

  notExpression(c: Children): A.Expression {
    const not = this.tokens(c, 'Kw_not')[0];
    if (not === undefined) return this.expr(this.node(c, 'comparison'));
    const operand = this.expr(this.node(c, 'notExpression'));
    return {
      kind: 'unary',
      op: 'not',
      operand,
      span: { file: this.source, start: not.startOffset, end: operand.span.end },
    };
  }

  comparison(c: Children): A.Expression {
    return this.leftChain(c);
  }

  additive(c: Children): A.Expression {
    return this.leftChain(c);
  }

  multiplicative(c: Children): A.Expression {
    return this.leftChain(c);
  }

  unary(c: Children): A.Expression {
    const power = this.nodes(c, 'power')[0];
    if (power !== undefined) return this.expr(power);
    const sign = this.tokens(c, 'Minus')[0] ?? this.token(c, 'Plus');
    const operand = this.expr(this.node(c, 'unary'));
    return {
      kind: 'unary',
      op: sign.image as '-' | '+',
      operand,
      span: { file: this.source, start: sign.startOffset, end: operand.span.end },
    };
  }

  power(c: Children): A.Expression {
    const base = this.expr(this.node(c, 'primary'));
    const exponent = this.nodes(c, 'unary')[0];
    if (exponent === undefined) return base;
    const right = this.expr(exponent);
    return {
      kind: 'binary',
      op: '^',
      left: base,
      right,
      span: { file: this.source, start: base.span.start, end: right.span.end },
    };
  }

  primary(c: Children): A.Expression {
    const inner = this.nodes(c, 'expression')[0];
    if (inner !== undefined) {
      // Keep the parentheses in the span so that carets cover what the user wrote.
      const e = this.expr(inner);
      return {
        ...e,
        span: {
          file: this.source,
          start: this.token(c, 'LParen').startOffset,
          end: tokenEnd(this.token(c, 'RParen')),
        },
      };
    }
    const sub =
      this.nodes(c, 'quantity')[0] ??
      this.nodes(c, 'reference')[0] ??
      this.nodes(c, 'listLiteral')[0];
    if (sub !== undefined) return this.expr(sub);
    const str = this.tokens(c, 'StringLiteral')[0];
    if (str !== undefined)
      return { kind: 'string', value: str.image.slice(1, -1), span: this.span(str) };
    const t = this.tokens(c, 'Kw_true')[0] ?? this.token(c, 'Kw_false');
    return { kind: 'bool', value: t.image === 'true', span: this.span(t) };
  }

  quantity(c: Children): A.Expression {
    const number = this.token(c, 'NumberLiteral');
    const unitNode = this.nodes(c, 'unit')[0];
    if (unitNode === undefined)
      return { kind: 'number', text: number.image, span: this.span(number) };
    const unit = this.visit(unitNode) as A.UnitExpr;
    return {
      kind: 'number',
      text: number.image,
      unit,
      span: { file: this.source, start: number.startOffset, end: unit.span.end },
    };
  }

  reference(c: Children): A.Expression {
    const [first, second] = this.tokens(c, 'Identifier');
    if (first === undefined) throw new InternalError('reference without name');
    const span = this.span(first);
    if (second !== undefined) {
      return {
        kind: 'member',
        object: first.image,
        member: second.image,
        memberSpan: this.span(second),
        span: { file: this.source, start: span.start, end: tokenEnd(second) },
      };
    }
    const list = this.nodes(c, 'argumentList')[0];
    if (list === undefined) return { kind: 'name', name: first.image, span };
    const args = this.visit(list) as A.Argument[];
    return {
      kind: 'call',
      callee: first.image,
      calleeSpan: span,
      args,
      span: { file: this.source, start: span.start, end: this.span(list).end },
    };
  }

  listLiteral(c: Children): A.Expression {
    return {
      kind: 'list',
      items: this.nodes(c, 'expression').map((n) => this.expr(n)),
      span: {
        file: this.source,
        start: this.token(c, 'LBracket').startOffset,
        end: tokenEnd(this.token(c, 'RBracket')),
      },
    };
  }

  unit(c: Children): A.UnitExpr {
    // Walk tokens and factors in order: a '/' negates the exponent of the factor after it.
    let negate = false;
    const factors: A.UnitFactor[] = [];
    for (const e of this.ordered(c)) {
      if (isToken(e)) {
        negate = e.image === '/';
        continue;
      }
      const f = this.visit(e) as A.UnitFactor;
      factors.push(negate ? { ...f, exponent: -f.exponent } : f);
    }
    const first = factors[0];
    const last = factors[factors.length - 1];
    if (first === undefined || last === undefined) throw new InternalError('empty unit');
    const start = Math.min(first.span.start, ...this.tokens(c, 'Slash').map((t) => t.startOffset));
    return { factors, span: { file: this.source, start, end: last.span.end } };
  }

  unitFactor(c: Children): A.UnitFactor {
    const nameToken = this.tokens(c, 'Identifier')[0] ?? this.token(c, 'Kw_weight');
    const exponentToken = this.tokens(c, 'NumberLiteral')[0];
    const sign = c['Minus'] ? -1 : 1;
    const exponent = exponentToken === undefined ? 1 : sign * Number(exponentToken.image);
    const end = exponentToken === undefined ? tokenEnd(nameToken) : tokenEnd(exponentToken);
    return {
      name: nameToken.image,
      exponent,
      span: { file: this.source, start: nameToken.startOffset, end },
    };
  }
}

export function buildAst(cst: CstNode, source: SourceFile): A.FileAst {
  return new AstBuilder(source).visit(cst) as A.FileAst;
}
