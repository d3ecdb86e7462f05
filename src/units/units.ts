/**
 * Units and the internal unit system that generated kernels compute in:
 * length um (1e-6 m), mass ug (1e-9 kg), time ms, current nA, temperature K,
 * amount amol (1e-18 mol), luminous intensity cd. The derived units follow:
 * volt -> mV, siemens -> uS, farad -> nF, ohm -> Mohm, Hz -> 1/ms, molar -> mM,
 * litre -> 1e15 um^3, gram -> 1e6 ug. Every unit the language accepts is an
 * exact power of ten of its internal unit, so converting a literal is a shift
 * of its decimal exponent.
 */
import {
  CAPACITANCE,
  CONCENTRATION,
  CONDUCTANCE,
  DIMENSIONLESS,
  type Dimension,
  RESISTANCE,
  VOLTAGE,
  dimDiv,
  dimMul,
  dimPow,
  dimensionOf,
  formatDimension,
} from './dimension.js';

/** A unit: 1 of it equals 10^pow10 of the internal unit of `dimension`. `pow10` is an integer. */
export interface UnitValue {
  readonly dimension: Dimension;
  readonly pow10: number;
}

/** The unit of a pure number. */
export const DIMENSIONLESS_UNIT: UnitValue = { dimension: DIMENSIONLESS, pow10: 0 };

// 1 volt = 1 kg m^2 s^-3 A^-1 = 1e9 * 1e12 * 1e-9 * 1e-9 internal = 1e3 mV, and so on.
const VOLUME = dimensionOf({ m: 3 });
const BASE_UNITS: ReadonlyMap<string, UnitValue> = new Map([
  ['V', { dimension: VOLTAGE, pow10: 3 }],
  ['A', { dimension: dimensionOf({ A: 1 }), pow10: 9 }],
  ['S', { dimension: CONDUCTANCE, pow10: 6 }],
  ['ohm', { dimension: RESISTANCE, pow10: -6 }],
  ['F', { dimension: CAPACITANCE, pow10: 9 }],
  ['s', { dimension: dimensionOf({ s: 1 }), pow10: 3 }],
  ['Hz', { dimension: dimensionOf({ s: -1 }), pow10: -3 }],
  ['M', { dimension: CONCENTRATION, pow10: 3 }],
  ['m', { dimension: dimensionOf({ m: 1 }), pow10: 6 }],
  ['mol', { dimension: dimensionOf({ mol: 1 }), pow10: 18 }],
  ['l', { dimension: VOLUME, pow10: 15 }],
  ['L', { dimension: VOLUME, pow10: 15 }],
  ['g', { dimension: dimensionOf({ kg: 1 }), pow10: 6 }],
  ['K', { dimension: dimensionOf({ K: 1 }), pow10: 0 }],
]);

const PREFIXES: ReadonlyMap<string, number> = new Map([
  ['f', -15],
  ['p', -12],
  ['n', -9],
  ['u', -6],
  ['m', -3],
  ['c', -2],
  ['k', 3],
  ['M', 6],
  ['G', 9],
]);

/** The abstract unit of a synapse's weight, made concrete at a projection. */
export const WEIGHT_UNIT: UnitValue = { dimension: dimensionOf({ weight: 1 }), pow10: 0 };

/**
 * The unit spelled `symbol`: `weight`, a base symbol (V A S ohm F s Hz M m mol
 * l L g K), or an SI prefix (f p n u m c k M G) followed by one. The whole
 * string is tried as a base symbol first, so "M" is molar and "m" metre, while
 * "mM" is millimolar, "Mohm" megaohm and "ms" millisecond.
 */
export function lookupUnit(symbol: string): UnitValue | undefined {
  if (symbol === 'weight') return WEIGHT_UNIT;
  const whole = BASE_UNITS.get(symbol);
  if (whole !== undefined) return whole;
  const prefix = PREFIXES.get(symbol.charAt(0));
  const base = BASE_UNITS.get(symbol.slice(1));
  if (prefix === undefined || base === undefined) return undefined;
  return { dimension: base.dimension, pow10: base.pow10 + prefix };
}

/** Every spelling {@link lookupUnit} accepts: `weight`, the base symbols, and each prefix with each base symbol. */
export function unitSpellings(): readonly string[] {
  return UNIT_SPELLINGS;
}

const UNIT_SPELLINGS: readonly string[] = [
  'weight',
  ...BASE_UNITS.keys(),
  ...[...PREFIXES.keys()].flatMap((p) => [...BASE_UNITS.keys()].map((b) => p + b)),
].filter((s, i, all) => all.indexOf(s) === i && lookupUnit(s) !== undefined);

/** Whether `symbol` names a unit (exactly when {@link lookupUnit} finds it). */
export function isUnitSpelling(symbol: string): boolean {
  return lookupUnit(symbol) !== undefined;
}

export function unitMul(a: UnitValue, b: UnitValue): UnitValue {
  return { dimension: dimMul(a.dimension, b.dimension), pow10: a.pow10 + b.pow10 };
}

export function unitDiv(a: UnitValue, b: UnitValue): UnitValue {
  return { dimension: dimDiv(a.dimension, b.dimension), pow10: a.pow10 - b.pow10 };
}

/**
 * `a` to the power `k`, or undefined when that is not a unit of this system: a
 * dimension exponent off the half-integers, or a scale that is no longer an
 * integer power of ten (ms^0.5 is a unit, s^0.5 = 10^1.5 ms^0.5 is not).
 */
export function unitPow(a: UnitValue, k: number): UnitValue | undefined {
  const dimension = dimPow(a.dimension, k);
  // `+ 0` turns -0 (0 * -1) into 0.
  const pow10 = a.pow10 * k + 0;
  if (dimension === undefined || !Number.isInteger(pow10)) return undefined;
  return { dimension, pow10 };
}

// A decimal literal as the lexer reads it, with an optional sign for callers that fold one in.
const DECIMAL = /^([+-]?(?:\d+(?:\.\d*)?|\.\d+))(?:[eE]([+-]?\d+))?$/;

/**
 * The value of the decimal literal `literalText` ("65", "0.1", "1e-3", ".5",
 * "2.5E+4", "-65") times 10^pow10, rounded to a double once: the power of ten
 * is added to the literal's own exponent before the text is converted, so
 * ("0.1", -3) gives exactly the double nearest 1e-4, which 0.1 * 1e-3 does not.
 * Throws a RangeError for text that is not such a literal or a non-integer pow10.
 */
export function literalToInternal(literalText: string, pow10: number): number {
  const match = DECIMAL.exec(literalText);
  if (match === null || !Number.isInteger(pow10)) {
    throw new RangeError(`cannot convert ${JSON.stringify(literalText)} times 10^${pow10}`);
  }
  const [, mantissa, exponent = '0'] = match;
  return Number(`${mantissa}e${Number.parseInt(exponent, 10) + pow10}`);
}

/**
 * The name of the internal unit of a dimension ("mV", "nA/um^2", "1"): the
 * unit that kernel values of that dimension are in. The same text as
 * {@link formatDimension}, since error messages name dimensions by their
 * internal units.
 */
export const internalUnitName: (d: Dimension) => string = formatDimension;
