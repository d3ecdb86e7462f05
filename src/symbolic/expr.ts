/**
 * Interned, immutable expression nodes (hash-consing in the style of tinygrad's UOps).
 *
 * Every constructor returns the unique node for its structure: two structurally equal
 * expressions are the same object, so `===` is structural equality and nodes can key
 * `Map`s and `WeakMap`s directly. Constructors also canonicalise:
 *
 * - nested `add`/`mul` (and `and`/`or`) are flattened;
 * - the arguments of commutative nodes are sorted by {@link compareExpr}, a purely
 *   structural order, so the result never depends on construction order or node ids;
 * - numeric arguments of `add`/`mul` are folded into one constant (summed or multiplied in
 *   sorted order, so the float result is reproducible too), `pow(num, num)` is folded,
 *   `0` is dropped from sums and `1` from products;
 * - `sub(a, b)` is `add(a, mul(-1, b))`, `neg(a)` is `mul(-1, a)` and `div(a, b)` is
 *   `mul(a, pow(b, -1))`; there are no sub/div node kinds.
 *
 * NaN/infinity policy: numeric folding uses float64 arithmetic, so it yields exactly what
 * the operation would at run time (`num(0) / num(0)` folds to NaN). The one exception is
 * a zero coefficient: `mul(0, x)` folds to `0` even though `0 * x` is NaN when `x` is
 * infinite or NaN. That is the usual algebraic convention and lets terms cancel; it can
 * turn a NaN into 0 but never changes a finite result. Everything else that is algebraic
 * rather than numeric (like terms, `x^1`, calls on constants...) is left to `simplify`.
 *
 * `-0` is normalised to `0` so that there is one zero node.
 *
 * The intern table lives for the process (a compiler run): nodes are never freed.
 */

/** Elementary functions with one argument. `exprel(z) = (exp(z) - 1) / z`, `exprel(0) = 1`. */
export type UnaryFn =
  | 'exp'
  | 'log'
  | 'log10'
  | 'exprel'
  | 'sqrt'
  | 'abs'
  | 'sin'
  | 'cos'
  | 'tan'
  | 'tanh'
  | 'sinh'
  | 'cosh'
  | 'atan'
  | 'floor'
  | 'ceil';

/** Functions with two arguments. */
export type BinaryFn = 'min' | 'max';

/** Any function a `call` node may apply. */
export type Fn = UnaryFn | BinaryFn;

/** Comparison operators. A comparison evaluates to 1 (true) or 0 (false). */
export type CmpOp = '<' | '<=' | '>' | '>=' | '==' | '!=';

/** Every unary function name, in a fixed order. */
export const UNARY_FNS: readonly UnaryFn[] = [
  'exp',
  'log',
  'log10',
  'exprel',
  'sqrt',
  'abs',
  'sin',
  'cos',
  'tan',
  'tanh',
  'sinh',
  'cosh',
  'atan',
  'floor',
  'ceil',
];

/** Every binary function name. */
export const BINARY_FNS: readonly BinaryFn[] = ['min', 'max'];

/** Fields shared by every node. */
interface NodeBase {
  /** Unique per node, in creation order. Identity only: never used for ordering. */
  readonly id: number;
}

/** A float64 constant (never `-0`). */
export interface Num extends NodeBase {
  readonly kind: 'num';
  readonly value: number;
}

/** A named quantity: a state, parameter, input, named subexpression, `t`, `dt`... */
export interface Sym extends NodeBase {
  readonly kind: 'sym';
  readonly name: string;
}

/** n-ary sum (at least two args, at most one `num`, which sorts first; no nested `add`). */
export interface Add extends NodeBase {
  readonly kind: 'add';
  readonly args: readonly Expr[];
}

/** n-ary product (at least two args, at most one `num` coefficient, which sorts first; no nested `mul`). */
export interface Mul extends NodeBase {
  readonly kind: 'mul';
  readonly args: readonly Expr[];
}

/** `base ^ exp`. Division is `pow(x, -1)`; square roots stay `call('sqrt', x)`. */
export interface Pow extends NodeBase {
  readonly kind: 'pow';
  readonly base: Expr;
  readonly exp: Expr;
}

/** Application of a one-argument function. */
export interface UnaryCall extends NodeBase {
  readonly kind: 'call';
  readonly fn: UnaryFn;
  readonly args: readonly [Expr];
}

/** Application of `min` or `max`. */
export interface BinaryCall extends NodeBase {
  readonly kind: 'call';
  readonly fn: BinaryFn;
  readonly args: readonly [Expr, Expr];
}

/** Function application; narrow on `fn` to get a typed argument tuple. */
export type Call = UnaryCall | BinaryCall;

/** `cond ? then : else`. `cond` is true when it is non-zero (NaN counts as true, as in C). */
export interface Where extends NodeBase {
  readonly kind: 'where';
  readonly cond: Expr;
  readonly then: Expr;
  readonly else: Expr;
}

/** Comparison `a op b`, valued 1 or 0. Comparisons with NaN are false except `!=`. */
export interface Cmp extends NodeBase {
  readonly kind: 'cmp';
  readonly op: CmpOp;
  readonly a: Expr;
  readonly b: Expr;
}

/** Logical conjunction (1 when every arg is non-zero, else 0); args flattened and sorted. */
export interface And extends NodeBase {
  readonly kind: 'and';
  readonly args: readonly Expr[];
}

/** Logical disjunction (1 when some arg is non-zero, else 0); args flattened and sorted. */
export interface Or extends NodeBase {
  readonly kind: 'or';
  readonly args: readonly Expr[];
}

/** Logical negation: 1 when `arg` is 0, else 0. */
export interface Not extends NodeBase {
  readonly kind: 'not';
  readonly arg: Expr;
}

/** A symbolic expression. Nodes are interned: compare with `===`. */
export type Expr = Num | Sym | Add | Mul | Pow | Call | Where | Cmp | And | Or | Not;

/** The `kind` tag of a node. */
export type Kind = Expr['kind'];

// ---------------------------------------------------------------------------------------
// Interning

const table = new Map<string, Expr>();
let nextId = 0;

/** Looks `key` up in the intern table, creating (and freezing) the node on a miss. */
function intern<T extends Expr>(key: string, make: (id: number) => T): T {
  const hit = table.get(key);
  if (hit !== undefined) return hit as T;
  const node = make(nextId++);
  Object.freeze(node);
  table.set(key, node);
  return node;
}

const ids = (xs: readonly Expr[]): string => xs.map((x) => x.id).join(',');

// ---------------------------------------------------------------------------------------
// Structural order

// Rank of each kind in the canonical order: constants first, so that a sum's constant and a
// product's coefficient are always args[0].
const KIND_RANK: Readonly<Record<Kind, number>> = {
  num: 0,
  sym: 1,
  pow: 2,
  mul: 3,
  add: 4,
  call: 5,
  where: 6,
  cmp: 7,
  not: 8,
  and: 9,
  or: 10,
};

const CMP_RANK: Readonly<Record<CmpOp, number>> = {
  '<': 0,
  '<=': 1,
  '>': 2,
  '>=': 3,
  '==': 4,
  '!=': 5,
};

function compareNumbers(a: number, b: number): number {
  // NaN sorts after every other number; values are never -0.
  if (Number.isNaN(a)) return Number.isNaN(b) ? 0 : 1;
  if (Number.isNaN(b)) return -1;
  return a < b ? -1 : a > b ? 1 : 0;
}

function compareStrings(a: string, b: string): number {
  // Code-unit order, independent of locale.
  return a < b ? -1 : a > b ? 1 : 0;
}

function compareLists(a: readonly Expr[], b: readonly Expr[]): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const c = compareExpr(a[i]!, b[i]!);
    if (c !== 0) return c;
  }
  return a.length - b.length;
}

/**
 * Total structural order on expressions: negative, zero or positive like `Array.sort`
 * comparators. It is zero only for identical nodes and never looks at ids, so sorting with
 * it is reproducible whatever order the nodes were created in.
 */
export function compareExpr(a: Expr, b: Expr): number {
  if (a === b) return 0;
  const rank = KIND_RANK[a.kind] - KIND_RANK[b.kind];
  if (rank !== 0) return rank;
  switch (a.kind) {
    case 'num':
      return compareNumbers(a.value, (b as Num).value);
    case 'sym':
      return compareStrings(a.name, (b as Sym).name);
    case 'add':
    case 'mul':
    case 'and':
    case 'or':
      return compareLists(a.args, (b as Add | Mul | And | Or).args);
    case 'pow': {
      const p = b as Pow;
      return compareExpr(a.base, p.base) || compareExpr(a.exp, p.exp);
    }
    case 'call': {
      const c = b as Call;
      return compareStrings(a.fn, c.fn) || compareLists(a.args, c.args);
    }
    case 'where': {
      const w = b as Where;
      return (
        compareExpr(a.cond, w.cond) || compareExpr(a.then, w.then) || compareExpr(a.else, w.else)
      );
    }
    case 'cmp': {
      const c = b as Cmp;
      return CMP_RANK[a.op] - CMP_RANK[c.op] || compareExpr(a.a, c.a) || compareExpr(a.b, c.b);
    }
    case 'not':
      return compareExpr(a.arg, (b as Not).arg);
  }
}

const sorted = (xs: Expr[]): Expr[] => xs.sort(compareExpr);

// ---------------------------------------------------------------------------------------
// Constructors

/** The constant `value` (`-0` becomes `0`). */
export function num(value: number): Num {
  const v = value === 0 ? 0 : value;
  return intern(`n:${v}`, (id) => ({ kind: 'num', id, value: v }));
}

/** The symbol `name`. */
export function sym(name: string): Sym {
  return intern(`s:${name}`, (id) => ({ kind: 'sym', id, name }));
}

/** Is `e` the constant `value` (when given; NaN matches NaN) or any constant? */
export function isNum(e: Expr, value?: number): e is Num {
  if (e.kind !== 'num' || value === undefined) return e.kind === 'num';
  return e.value === value || (Number.isNaN(value) && Number.isNaN(e.value));
}

/** Flattens nested nodes of `kind` and splits the numeric constants from the rest. */
function flatten(kind: 'add' | 'mul', xs: readonly Expr[]): { nums: number[]; rest: Expr[] } {
  const nums: number[] = [];
  const rest: Expr[] = [];
  const visit = (x: Expr): void => {
    if (x.kind === kind) x.args.forEach(visit);
    else if (x.kind === 'num') nums.push(x.value);
    else rest.push(x);
  };
  xs.forEach(visit);
  // Fold in sorted order so that the float result does not depend on argument order.
  nums.sort(compareNumbers);
  return { nums, rest: sorted(rest) };
}

/** Sum of `xs` (flattened, sorted, constants folded). `add()` is `0`. */
export function add(...xs: readonly Expr[]): Expr {
  const { nums, rest } = flatten('add', xs);
  const c = nums.reduce((s, v) => s + v, 0);
  if (Number.isNaN(c)) return num(NaN);
  const args = c === 0 ? rest : [num(c), ...rest];
  if (args.length === 0) return num(0);
  if (args.length === 1) return args[0]!;
  return intern(`add:${ids(args)}`, (id) => ({ kind: 'add', id, args: Object.freeze(args) }));
}

/** Product of `xs` (flattened, sorted, constants folded; a zero coefficient gives `0`). `mul()` is `1`. */
export function mul(...xs: readonly Expr[]): Expr {
  const { nums, rest } = flatten('mul', xs);
  const c = nums.reduce((p, v) => p * v, 1);
  if (c === 0 || Number.isNaN(c)) return num(c);
  const args = c === 1 ? rest : [num(c), ...rest];
  if (args.length === 0) return num(1);
  if (args.length === 1) return args[0]!;
  return intern(`mul:${ids(args)}`, (id) => ({ kind: 'mul', id, args: Object.freeze(args) }));
}

/** `-a`, as `mul(-1, a)`. */
export function neg(a: Expr): Expr {
  return mul(num(-1), a);
}

/** `a - b`, as `add(a, mul(-1, b))`. */
export function sub(a: Expr, b: Expr): Expr {
  return add(a, neg(b));
}

/** `a / b`, as `mul(a, pow(b, -1))`. */
export function div(a: Expr, b: Expr): Expr {
  return mul(a, pow(b, num(-1)));
}

/** `base ^ exp`; two constants fold with `Math.pow`. */
export function pow(base: Expr, exp: Expr): Expr {
  if (base.kind === 'num' && exp.kind === 'num') return num(Math.pow(base.value, exp.value));
  return intern(`pow:${base.id},${exp.id}`, (id) => ({ kind: 'pow', id, base, exp }));
}

/** `fn(args...)`. Throws when the number of arguments does not fit `fn`. */
export function call(fn: UnaryFn, a: Expr): UnaryCall;
export function call(fn: BinaryFn, a: Expr, b: Expr): BinaryCall;
export function call(fn: Fn, ...args: readonly Expr[]): Call;
export function call(fn: Fn, ...args: readonly Expr[]): Call {
  const arity = (BINARY_FNS as readonly string[]).includes(fn) ? 2 : 1;
  if (args.length !== arity) {
    throw new Error(`${fn} takes ${arity} argument(s), got ${args.length}`);
  }
  return intern(
    `call:${fn}:${ids(args)}`,
    (id) => ({ kind: 'call', id, fn, args: Object.freeze([...args]) }) as Call,
  );
}

/** `cond ? then : else`. */
export function where(cond: Expr, then: Expr, otherwise: Expr): Where {
  return intern(`where:${cond.id},${then.id},${otherwise.id}`, (id) => ({
    kind: 'where',
    id,
    cond,
    then,
    else: otherwise,
  }));
}

/** The comparison `a op b`. Not reordered: `a > b` and `b < a` are different nodes. */
export function cmp(op: CmpOp, a: Expr, b: Expr): Cmp {
  return intern(`cmp:${op}:${a.id},${b.id}`, (id) => ({ kind: 'cmp', id, op, a, b }));
}

/** Is `e` known to be 0 or 1, the values of comparisons and logic nodes? */
export function isBoolean(e: Expr): boolean {
  switch (e.kind) {
    case 'cmp':
    case 'and':
    case 'or':
    case 'not':
      return true;
    case 'num':
      return e.value === 0 || e.value === 1;
    default:
      return false;
  }
}

function logic(kind: 'and' | 'or', xs: readonly Expr[]): Expr {
  const args: Expr[] = [];
  const visit = (x: Expr): void => {
    if (x.kind === kind) x.args.forEach(visit);
    else args.push(x);
  };
  xs.forEach(visit);
  if (args.length === 0) return num(kind === 'and' ? 1 : 0);
  // A single 0/1-valued argument is its own conjunction; any other value must stay wrapped
  // so that the node still evaluates to 0 or 1.
  if (args.length === 1 && isBoolean(args[0]!)) return args[0]!;
  sorted(args);
  return intern(`${kind}:${ids(args)}`, (id) => ({ kind, id, args: Object.freeze(args) }));
}

/** Conjunction (flattened, sorted). `and()` is `1`. */
export function and(...xs: readonly Expr[]): Expr {
  return logic('and', xs);
}

/** Disjunction (flattened, sorted). `or()` is `0`. */
export function or(...xs: readonly Expr[]): Expr {
  return logic('or', xs);
}

/** Logical negation. */
export function not(arg: Expr): Not {
  return intern(`not:${arg.id}`, (id) => ({ kind: 'not', id, arg }));
}

// ---------------------------------------------------------------------------------------
// Traversal

/** The direct children of `e`, in a fixed order (`where`: cond, then, else; `cmp`: a, b). */
export function children(e: Expr): readonly Expr[] {
  switch (e.kind) {
    case 'num':
    case 'sym':
      return [];
    case 'add':
    case 'mul':
    case 'and':
    case 'or':
    case 'call':
      return e.args;
    case 'pow':
      return [e.base, e.exp];
    case 'where':
      return [e.cond, e.then, e.else];
    case 'cmp':
      return [e.a, e.b];
    case 'not':
      return [e.arg];
  }
}

/**
 * Rebuilds `e` with every child replaced by `f(child)`, through the constructors (so the
 * result is canonical again). Returns `e` itself when no child changed.
 */
export function mapChildren(e: Expr, f: (child: Expr) => Expr): Expr {
  const old = children(e);
  const next = old.map(f);
  if (next.every((c, i) => c === old[i])) return e;
  switch (e.kind) {
    case 'num':
    case 'sym':
      return e;
    case 'add':
      return add(...next);
    case 'mul':
      return mul(...next);
    case 'and':
      return and(...next);
    case 'or':
      return or(...next);
    case 'call':
      return call(e.fn, ...next);
    case 'pow':
      return pow(next[0]!, next[1]!);
    case 'where':
      return where(next[0]!, next[1]!, next[2]!);
    case 'cmp':
      return cmp(e.op, next[0]!, next[1]!);
    case 'not':
      return not(next[0]!);
  }
}
