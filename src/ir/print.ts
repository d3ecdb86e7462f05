import { assertNever } from '../diagnostics/diagnostic.js';
import { type Dimension, formatDimension, isDimensionless } from '../units/dimension.js';
import { constantValue } from './lower-expr.js';
import { analysePlacement } from './placement.js';
import type {
  Expr,
  Model,
  Network,
  Override,
  Projection,
  Statement,
  SymbolDimensions,
  SynapseModel,
} from './types.js';
import { refName } from './walk.js';

/** Binding strength of each operator, loosest first, for parenthesizing only where needed. */
const PRECEDENCE: Readonly<Record<string, number>> = {
  or: 1,
  and: 2,
  not: 3,
  '<': 4,
  '<=': 4,
  '>': 4,
  '>=': 4,
  '==': 4,
  '!=': 4,
  '+': 5,
  '-': 5,
  '*': 6,
  '/': 6,
  neg: 7,
  '^': 8,
};
const ATOM = 9;

function precedence(e: Expr): number {
  if (e.kind === 'binary') return PRECEDENCE[e.op] ?? ATOM;
  if (e.kind === 'unary') return PRECEDENCE[e.op] ?? ATOM;
  if (e.kind === 'literal' && (e.value < 0 || !isDimensionless(e.dimension)))
    return PRECEDENCE['*']!;
  return ATOM;
}

function unitSuffix(d: Dimension): string {
  return isDimensionless(d) ? '' : ` ${formatDimension(d)}`;
}

/** Prints an IR expression as readable math; literals show their value in internal units. */
export function formatExpr(e: Expr): string {
  const wrap = (child: Expr, level: number, strict = false): string => {
    const text = formatExpr(child);
    const p = precedence(child);
    return p < level || (strict && p === level) ? `(${text})` : text;
  };
  switch (e.kind) {
    case 'literal':
      return `${e.value}${unitSuffix(e.dimension)}`;
    case 'bool':
      return String(e.value);
    case 'ref':
      return refName(e.ref);
    case 'prev':
      return `prev(${e.state})`;
    case 'wiener':
      return 'wiener()';
    case 'unary':
      if (e.op === 'neg' && e.operand.kind === 'literal') return `-${formatExpr(e.operand)}`;
      return e.op === 'not'
        ? `not ${wrap(e.operand, PRECEDENCE['not']!)}`
        : `-${wrap(e.operand, PRECEDENCE['neg']!, true)}`;
    case 'binary': {
      const p = PRECEDENCE[e.op]!;
      // Left-associative operators need parentheses on the right at equal precedence; '^' on the left.
      const left = wrap(e.left, p, e.op === '^');
      const right = wrap(e.right, p, e.op !== '^' && e.op !== '+' && e.op !== '*');
      return `${left} ${e.op} ${right}`;
    }
    case 'call':
      return `${e.fn}(${e.args.map(formatExpr).join(', ')})`;
    case 'random':
      return `${e.distribution}(${e.args.map(formatExpr).join(', ')})`;
    case 'section':
      return `section([${e.values.map(formatExpr).join(', ')}], [${e.durations.map(formatExpr).join(', ')}])`;
    default:
      return assertNever(e);
  }
}

function formatStatements(body: readonly Statement[], indent: string): string[] {
  const lines: string[] = [];
  for (const s of body) {
    if (s.kind === 'assign') {
      const target =
        s.target.kind === 'weight'
          ? 'w'
          : s.target.kind === 'state'
            ? s.target.name
            : `${s.target.kind}.${s.target.name}`;
      lines.push(`${indent}${target} ${s.op} ${formatExpr(s.value)}`);
    } else {
      lines.push(
        `${indent}if ${formatExpr(s.condition)} {`,
        ...formatStatements(s.then, `${indent}  `),
      );
      if (s.otherwise.length > 0)
        lines.push(`${indent}} else {`, ...formatStatements(s.otherwise, `${indent}  `));
      lines.push(`${indent}}`);
    }
  }
  return lines;
}

function unitOf(dims: SymbolDimensions, name: string): string {
  const d = dims.get(name);
  return d === undefined ? '?' : isDimensionless(d) ? '1' : formatDimension(d);
}

/** The IR of one model, one declaration per line, with the unit the check pass found for each name. */
export function formatModel(model: Model, dims: SymbolDimensions): string {
  const lines: string[] = [
    `${model.kind} ${model.name}${model.kind === 'output' ? '' : ` (method ${model.method})`}`,
  ];
  for (const p of model.parameters) {
    lines.push(
      `  parameter ${p.name} : ${unitOf(dims, p.name)}${p.value === undefined ? ' (required)' : ` = ${formatExpr(p.value)}`}`,
    );
  }
  if (model.kind === 'output') {
    lines.push(`  current = ${formatExpr(model.current)}`);
    return lines.join('\n');
  }
  for (const s of model.states) {
    const init =
      s.init.kind === 'zero'
        ? '0'
        : s.init.kind === 'value'
          ? formatExpr(s.init.value)
          : `~ ${formatExpr(s.init.value)}`;
    lines.push(
      `  state ${s.name} : ${unitOf(dims, s.name)} ${s.init.kind === 'distribution' ? init : `= ${init}`}`,
    );
  }
  if (model.kind === 'neuron' && model.input !== undefined) {
    lines.push(
      `  current ${model.input.name} : ${unitOf(dims, model.input.name)}${model.input.ltc ? ' (ltc)' : ''}`,
    );
  }
  for (const s of model.subexpressions)
    lines.push(`  ${s.name} = ${formatExpr(s.value)}    [${unitOf(dims, s.name)}]`);
  for (const e of model.equations) lines.push(`  d${e.state}/dt = ${formatExpr(e.rhs)}`);
  if (model.kind === 'neuron') {
    if (model.spike !== undefined) lines.push(`  spike when ${formatExpr(model.spike)}`);
    if (model.reset.length > 0)
      lines.push('  reset {', ...formatStatements(model.reset, '    '), '  }');
    if (model.refractory !== undefined) lines.push(`  refractory ${formatExpr(model.refractory)}`);
  } else {
    if (model.onPre.length > 0)
      lines.push('  on_pre {', ...formatStatements(model.onPre, '    '), '  }');
    if (model.onPost.length > 0)
      lines.push('  on_post {', ...formatStatements(model.onPost, '    '), '  }');
    if (model.delivers !== undefined) lines.push(`  delivers ${formatExpr(model.delivers)}`);
    lines.push(`  ${placementLine(model)}`);
  }
  return lines.join('\n');
}

function formatOverrides(list: readonly Override[]): string {
  return list.map((o) => `${o.name} = ${formatExpr(o.value)}`).join(', ');
}

/** Where the synapse state lives and why (the compiler's choice, or the one the projection asked for). */
function placementLine(synapse: SynapseModel, p?: Projection): string {
  const requested = p?.placement?.choice;
  const decision = analysePlacement(
    synapse,
    p === undefined
      ? {}
      : {
          weightsVary: constantValue(p.weight) === undefined,
          delaysVary: p.delay !== undefined && constantValue(p.delay) === undefined,
        },
  );
  if (requested === undefined || requested === decision.placement)
    return `placement ${decision.placement}: ${decision.reason}`;
  return `placement ${requested} (requested; the compiler would choose ${decision.placement}: ${decision.reason})`;
}

export function formatNetwork(n: Network): string {
  const lines = [
    `network ${n.name}`,
    `  dt = ${n.dt} ms   duration = ${n.duration} ms   seed = ${n.seed}`,
  ];
  for (const p of n.populations) {
    const what =
      p.source.kind === 'neuron'
        ? p.source.perNeuronParameters.length === 0
          ? p.source.model.name
          : `${p.source.model.name} (per neuron: ${p.source.perNeuronParameters.join(', ')})`
        : p.source.kind === 'poisson'
          ? `Poisson(rate = ${formatExpr(p.source.rate)})`
          : 'SpikeTimes';
    lines.push(`  population ${p.name} = ${what} x ${p.size}`);
    if (p.parameters.length > 0) lines.push(`    parameters: ${formatOverrides(p.parameters)}`);
    if (p.states.length > 0)
      lines.push(
        `    initial: ${p.states.map((o) => `${o.name} ${o.value.kind === 'random' ? '~' : '='} ${formatExpr(o.value)}`).join(', ')}`,
      );
  }
  for (const p of n.projections) {
    const c = p.connector;
    const connector =
      c.kind === 'fixed_probability'
        ? `fixed_probability(${c.p})`
        : c.kind === 'pairwise_probability'
          ? `fixed_probability(${formatExpr(c.p)})`
          : c.kind === 'fixed_in_degree' || c.kind === 'fixed_out_degree'
            ? `${c.kind}(${c.k})`
            : c.kind === 'from_file'
              ? `from_file("${c.path}")`
              : c.kind;
    lines.push(
      `  projection ${p.name} = ${p.pre}[${p.preRange.start}:${p.preRange.end}] -> ${p.post}[${p.postRange.start}:${p.postRange.end}]`,
      `    connect ${connector}${p.procedural ? ' procedural' : ''}`,
      `    weight ${formatExpr(p.weight)}${p.delay === undefined ? '' : `   delay ${formatExpr(p.delay)}`}`,
      `    synapse ${p.synapse.model.name}(${formatOverrides(p.synapse.arguments)})${p.output === undefined ? '' : `   output ${p.output.model.name}(${formatOverrides(p.output.arguments)})`}`,
      `    ${placementLine(p.synapse.model, p)}`,
    );
  }
  for (const s of n.stimuli)
    lines.push(
      `  stimulus ${s.population}[${s.range.start}:${s.range.end}].${s.variable} = ${formatExpr(s.value)}`,
    );
  for (const r of n.recordings)
    lines.push(
      `  record ${r.population}.${r.variable}${r.range === undefined ? '' : `[${r.range.start}:${r.range.end}]`}${r.every === undefined ? '' : ` every ${Number(r.every.toPrecision(12))} ms`}`,
    );
  return lines.join('\n');
}
