/**
 * The base dimensions, in the order of a {@link Dimension}'s exponents: the
 * seven SI base quantities, then `weight`, an abstract dimension standing for
 * the unit of a synapse's weight until a projection substitutes a real one.
 */
export const BASE_DIMENSIONS = ['m', 'kg', 's', 'A', 'K', 'mol', 'cd', 'weight'] as const;

/** One of {@link BASE_DIMENSIONS}. */
export type BaseDimension = (typeof BASE_DIMENSIONS)[number];

/**
 * A physical dimension: one exponent per entry of {@link BASE_DIMENSIONS}
 * (always 8 of them). Exponents are integers or half-integers, so that the
 * square root of a time (the unit of white noise) is expressible.
 */
export type Dimension = readonly number[];

const WEIGHT = BASE_DIMENSIONS.indexOf('weight');

/** Builds a dimension from the nonzero exponents: `dimensionOf({ m: 2, kg: 1, s: -3, A: -1 })`. */
export function dimensionOf(exponents: Partial<Record<BaseDimension, number>>): Dimension {
  return Object.freeze(BASE_DIMENSIONS.map((base) => exponents[base] ?? 0));
}

/** The dimension of a pure number. */
export const DIMENSIONLESS: Dimension = dimensionOf({});

/** Dimension of the volt (internal unit mV). */
export const VOLTAGE: Dimension = dimensionOf({ m: 2, kg: 1, s: -3, A: -1 });
/** Dimension of the siemens (internal unit uS). */
export const CONDUCTANCE: Dimension = dimensionOf({ m: -2, kg: -1, s: 3, A: 2 });
/** Dimension of the farad (internal unit nF). */
export const CAPACITANCE: Dimension = dimensionOf({ m: -2, kg: -1, s: 4, A: 2 });
/** Dimension of the ohm (internal unit Mohm). */
export const RESISTANCE: Dimension = dimensionOf({ m: 2, kg: 1, s: -3, A: -2 });
/** Dimension of the molar, mol/L (internal unit mM). */
export const CONCENTRATION: Dimension = dimensionOf({ m: -3, mol: 1 });

// A missing exponent reads as 0; every Dimension has all 8.
function combine(a: Dimension, b: Dimension, f: (x: number, y: number) => number): Dimension {
  // `+ 0` turns -0 into 0, so that exponents print and compare plainly.
  return Object.freeze(a.map((x, i) => f(x, b[i] ?? 0) + 0));
}

/** The dimension of a product. */
export function dimMul(a: Dimension, b: Dimension): Dimension {
  return combine(a, b, (x, y) => x + y);
}

/** The dimension of a quotient. */
export function dimDiv(a: Dimension, b: Dimension): Dimension {
  return combine(a, b, (x, y) => x - y);
}

/**
 * The dimension of `a` raised to `k`, or undefined when some resulting exponent
 * is not a multiple of 1/2 (the cube root of a time, the square root of ms^0.5).
 */
export function dimPow(a: Dimension, k: number): Dimension | undefined {
  const result: number[] = [];
  for (const x of a) {
    const halves = x * k * 2;
    const rounded = Math.round(halves);
    // Tolerate the last-bit error of a k such as 1/3, which has no exact float.
    if (!(Math.abs(halves - rounded) <= 1e-9)) return undefined;
    result.push(rounded / 2 + 0);
  }
  return Object.freeze(result);
}

/** The dimension of a square root, or undefined when an exponent would not be a multiple of 1/2. */
export function dimSqrt(a: Dimension): Dimension | undefined {
  return dimPow(a, 0.5);
}

/** Whether two dimensions are the same. */
export function dimEquals(a: Dimension, b: Dimension): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Whether `a` is the dimension of a pure number. */
export function isDimensionless(a: Dimension): boolean {
  return a.every((x) => x === 0);
}

/** Whether `a` still involves the abstract `weight` dimension. */
export function hasWeight(a: Dimension): boolean {
  return (a[WEIGHT] ?? 0) !== 0;
}

/**
 * Replaces `weight^k` in `d` by `weight^k` with the projection's real weight
 * dimension: the result is `d` without its weight exponent, times `weight` to
 * the k. Throws a RangeError when that power is not expressible, which takes
 * both a half-integer k (a square root of a weight) and a half-integer exponent
 * in `weight`.
 */
export function substituteWeight(d: Dimension, weight: Dimension): Dimension {
  const k = d[WEIGHT] ?? 0;
  const power = dimPow(weight, k);
  if (power === undefined) {
    throw new RangeError(`cannot raise ${formatDimension(weight)} to the power ${k}`);
  }
  const withoutWeight = d.map((x, i) => (i === WEIGHT ? 0 : x));
  return dimMul(withoutWeight, power);
}

/** A unit name used to spell dimensions, and how much choosing it costs on ties. */
interface NamedUnit {
  readonly name: string;
  readonly dimension: Dimension;
  readonly cost: number;
}

// The internal units (see units.ts). The derived ones are tried as factors of a
// name; mV is as cheap as a base unit so that rates read mV/ms rather than nA/nF.
const DERIVED_UNITS: readonly NamedUnit[] = [
  { name: 'mV', dimension: VOLTAGE, cost: 1 },
  { name: 'uS', dimension: CONDUCTANCE, cost: 2 },
  { name: 'nF', dimension: CAPACITANCE, cost: 2 },
  { name: 'Mohm', dimension: RESISTANCE, cost: 2 },
  { name: 'mM', dimension: CONCENTRATION, cost: 2 },
];
const BASE_UNIT_NAMES: Readonly<Record<BaseDimension, string>> = {
  m: 'um',
  kg: 'ug',
  s: 'ms',
  A: 'nA',
  K: 'K',
  mol: 'amol',
  cd: 'cd',
  weight: 'weight',
};
// Printing order: weight, the derived units, then the base units, current and time first.
const NAME_ORDER = [
  'weight',
  ...DERIVED_UNITS.map((u) => u.name),
  ...(['A', 's', 'm', 'kg', 'K', 'mol', 'cd'] as const).map((b) => BASE_UNIT_NAMES[b]),
];
interface Factor {
  readonly name: string;
  readonly exponent: number;
}

/** A product of derived units, tried as the start of a name. */
interface DerivedPart {
  readonly factors: readonly Factor[];
  readonly dimension: Dimension;
}

// Up to two derived units, each to a power in [-2, 2]: "mV/mM" needs two.
const EXPONENTS = [-2, -1.5, -1, -0.5, 0.5, 1, 1.5, 2];
const DERIVED_PARTS: readonly DerivedPart[] = (() => {
  const singles = DERIVED_UNITS.flatMap((unit) =>
    EXPONENTS.flatMap((exponent) => {
      const dimension = dimPow(unit.dimension, exponent);
      return dimension ? [{ unit, factor: { name: unit.name, exponent }, dimension }] : [];
    }),
  );
  const parts: DerivedPart[] = [{ factors: [], dimension: DIMENSIONLESS }];
  singles.forEach((a, i) => {
    parts.push({ factors: [a.factor], dimension: a.dimension });
    for (const b of singles.slice(i + 1)) {
      if (b.unit !== a.unit) {
        parts.push({ factors: [a.factor, b.factor], dimension: dimMul(a.dimension, b.dimension) });
      }
    }
  });
  return parts;
})();

/** `d` as the derived units of `part` times whatever base units remain. */
function spell(d: Dimension, part: DerivedPart): Factor[] {
  const rest = dimDiv(d, part.dimension);
  const factors = [...part.factors];
  BASE_DIMENSIONS.forEach((base, i) => {
    const exponent = rest[i] ?? 0;
    if (exponent !== 0) factors.push({ name: BASE_UNIT_NAMES[base], exponent });
  });
  return factors;
}

// Fewer factors, then smaller powers, then fewer in the denominator, then cheaper names.
function score(factors: readonly Factor[]): number[] {
  const costOf = (name: string) => DERIVED_UNITS.find((u) => u.name === name)?.cost ?? 1;
  return [
    factors.length,
    factors.reduce((sum, f) => sum + Math.abs(f.exponent), 0),
    factors.filter((f) => f.exponent < 0).length,
    factors.reduce((sum, f) => sum + costOf(f.name), 0),
  ];
}

function lessThan(a: readonly number[], b: readonly number[]): boolean {
  const i = a.findIndex((x, j) => x !== b[j]);
  return i >= 0 && (a[i] ?? 0) < (b[i] ?? 0);
}

function power(f: Factor): string {
  const e = Math.abs(f.exponent);
  return e === 1 ? f.name : `${f.name}^${e}`;
}

/** Names found so far, keyed by the exponents: the search is slow, and models use few dimensions. */
const FORMATTED = new Map<string, string>();

/**
 * The readable name of a dimension in the internal units, for error messages:
 * "mV", "nA", "ms", "/ms", "uS", "nF", "Mohm", "mM", "mV/ms", "/mM/ms",
 * "nA/um^2", "weight*mV", "ms^0.5"; "1" for a dimensionless quantity (callers
 * phrase that one themselves). The name is the shortest product of internal
 * unit names (mV uS nF Mohm mM, and the base units um ug ms nA K amol cd).
 */
export function formatDimension(d: Dimension): string {
  const key = d.join(',');
  const known = FORMATTED.get(key);
  if (known !== undefined) return known;
  const name = spellDimension(d);
  // Bounded, in case a generated input spells very many dimensions.
  if (FORMATTED.size >= 4096) FORMATTED.clear();
  FORMATTED.set(key, name);
  return name;
}

function spellDimension(d: Dimension): string {
  let best: Factor[] = [];
  let bestScore: number[] = [];
  for (const part of DERIVED_PARTS) {
    const factors = spell(d, part);
    const candidateScore = score(factors);
    if (bestScore.length === 0 || lessThan(candidateScore, bestScore)) {
      best = factors;
      bestScore = candidateScore;
    }
  }
  best.sort((a, b) => NAME_ORDER.indexOf(a.name) - NAME_ORDER.indexOf(b.name));
  const numerator = best
    .filter((f) => f.exponent > 0)
    .map(power)
    .join('*');
  const denominator = best
    .filter((f) => f.exponent < 0)
    .map((f) => `/${power(f)}`)
    .join('');
  return numerator + denominator || '1';
}
