import { describe, it, expect } from 'vitest';
import {
  BASE_DIMENSIONS,
  DIMENSIONLESS,
  dimDiv,
  dimEquals,
  dimMul,
  dimPow,
  dimSqrt,
  dimensionOf,
  formatDimension,
  hasWeight,
  isDimensionless,
  substituteWeight,
  type Dimension,
} from '../src/units/dimension.js';
import {
  DIMENSIONLESS_UNIT,
  type UnitValue,
  internalUnitName,
  isUnitSpelling,
  literalToInternal,
  lookupUnit,
  unitDiv,
  unitMul,
  unitPow,
  unitSpellings,
} from '../src/units/units.js';
import { editDistance, suggestUnit, suggestion } from '../src/ir/suggest.js';

function unit(symbol: string): UnitValue {
  const u = lookupUnit(symbol);
  if (u === undefined) throw new Error(`no unit ${symbol}`);
  return u;
}

function pow(u: UnitValue, k: number): UnitValue {
  const p = unitPow(u, k);
  if (p === undefined) throw new Error(`no power ${k}`);
  return p;
}

function product(...units: UnitValue[]): UnitValue {
  return units.reduce(unitMul, DIMENSIONLESS_UNIT);
}

function dimOf(symbol: string): Dimension {
  return unit(symbol).dimension;
}

function dpow(d: Dimension, k: number): Dimension {
  const p = dimPow(d, k);
  if (p === undefined) throw new Error(`no power ${k}`);
  return p;
}

// pow10 of one SI base unit in internal units, from the definition of the system
// (um, 1e-9 kg, ms, nA, K, 1e-18 mol, cd), independent of the unit table.
const INTERNAL_SCALE: Record<string, number> = { m: 6, kg: 9, s: 3, A: 9, K: 0, mol: 18, cd: 0 };
function siScale(d: Dimension): number {
  return BASE_DIMENSIONS.reduce(
    (sum, base, i) => sum + (d[i] ?? 0) * (INTERNAL_SCALE[base] ?? 0),
    0,
  );
}

describe('dimensions', () => {
  it('has eight base dimensions, weight last', () => {
    expect(BASE_DIMENSIONS).toHaveLength(8);
    expect(BASE_DIMENSIONS[7]).toBe('weight');
    expect(DIMENSIONLESS).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(isDimensionless(DIMENSIONLESS)).toBe(true);
    expect(isDimensionless(dimOf('ms'))).toBe(false);
  });

  it('multiplies and divides', () => {
    const time = dimensionOf({ s: 1 });
    expect(dimMul(time, time)).toEqual(dimensionOf({ s: 2 }));
    expect(dimDiv(DIMENSIONLESS, time)).toEqual(dimensionOf({ s: -1 }));
    expect(isDimensionless(dimDiv(time, time))).toBe(true);
    expect(Object.is(dimDiv(time, time)[2], 0)).toBe(true);
  });

  it('raises to half-integer powers', () => {
    const time = dimensionOf({ s: 1 });
    expect(dimSqrt(time)).toEqual(dimensionOf({ s: 0.5 }));
    expect(dimPow(time, -0.5)).toEqual(dimensionOf({ s: -0.5 }));
    expect(dimPow(dimensionOf({ s: 0.5 }), 3)).toEqual(dimensionOf({ s: 1.5 }));
    expect(dimPow(dimensionOf({ m: 3 }), 1 / 3)).toEqual(dimensionOf({ m: 1 }));
    expect(dimSqrt(dimensionOf({ s: 0.5 }))).toBeUndefined();
    expect(dimPow(time, 1 / 3)).toBeUndefined();
    expect(dimPow(dimOf('mV'), 0.25)).toBeUndefined();
    expect(dimPow(time, 0)).toEqual(DIMENSIONLESS);
  });

  it('compares', () => {
    expect(dimEquals(dimOf('mV'), dimOf('V'))).toBe(true);
    expect(dimEquals(dimOf('mV'), dimOf('nA'))).toBe(false);
    expect(dimEquals(dimMul(dimOf('ms'), dimOf('Hz')), DIMENSIONLESS)).toBe(true);
  });

  it('tracks and substitutes the weight dimension', () => {
    const weight = dimOf('weight');
    expect(hasWeight(weight)).toBe(true);
    expect(hasWeight(dimOf('nS'))).toBe(false);
    const perMs = dimDiv(DIMENSIONLESS, dimOf('ms'));
    // g : weight decaying with a rate: weight/ms becomes nS/ms at a projection in nS.
    expect(substituteWeight(dimMul(weight, perMs), dimOf('nS'))).toEqual(
      dimDiv(dimOf('nS'), dimOf('ms')),
    );
    expect(substituteWeight(dpow(weight, -2), dimOf('mV'))).toEqual(dimPow(dimOf('mV'), -2));
    expect(substituteWeight(dimOf('mV'), dimOf('nA'))).toEqual(dimOf('mV'));
    expect(substituteWeight(dimMul(weight, dimOf('mV')), DIMENSIONLESS)).toEqual(dimOf('mV'));
    expect(() => substituteWeight(dimensionOf({ weight: 0.5 }), dimensionOf({ s: 0.5 }))).toThrow(
      RangeError,
    );
  });
});

describe('formatDimension', () => {
  const perMs = dimDiv(DIMENSIONLESS, dimOf('ms'));
  const cases: [string, Dimension][] = [
    ['1', DIMENSIONLESS],
    ['mV', dimOf('V')],
    ['nA', dimOf('A')],
    ['ms', dimOf('s')],
    ['/ms', dimOf('Hz')],
    ['uS', dimOf('S')],
    ['nF', dimOf('F')],
    ['Mohm', dimOf('ohm')],
    ['mM', dimOf('M')],
    ['um', dimOf('cm')],
    ['ug', dimOf('kg')],
    ['amol', dimOf('mol')],
    ['um^3', dimOf('L')],
    ['mV/ms', dimMul(dimOf('mV'), perMs)],
    ['/mV', dimDiv(DIMENSIONLESS, dimOf('mV'))],
    ['/mM/ms', dimDiv(perMs, dimOf('mM'))],
    ['nA/um^2', dimDiv(dimOf('nA'), dpow(dimOf('um'), 2))],
    ['uS/um^2', dimDiv(dimOf('mS'), dpow(dimOf('cm'), 2))],
    ['nF/um^2', dimDiv(dimOf('uF'), dpow(dimOf('cm'), 2))],
    ['nA*ms', dimMul(dimOf('nA'), dimOf('ms'))],
    ['mV*ms', dimMul(dimOf('mV'), dimOf('ms'))],
    ['mV/mM', dimDiv(dimOf('mV'), dimOf('mM'))],
    ['mV*nA', dimMul(dimOf('mV'), dimOf('nA'))],
    ['Mohm*um^2', dimMul(dimOf('ohm'), dpow(dimOf('cm'), 2))],
    ['um^2/ms', dimDiv(dpow(dimOf('um'), 2), dimOf('ms'))],
    ['mV/K', dimDiv(dimOf('mV'), dimOf('K'))],
    ['weight', dimOf('weight')],
    ['weight*mV', dimMul(dimOf('weight'), dimOf('mV'))],
    ['weight/ms', dimMul(dimOf('weight'), perMs)],
    ['ms^0.5', dpow(dimOf('ms'), 0.5)],
    ['/ms^0.5', dpow(dimOf('ms'), -0.5)],
    ['mV/ms^0.5', dimMul(dimOf('mV'), dpow(dimOf('ms'), -0.5))],
    ['mV^2', dpow(dimOf('mV'), 2)],
  ];
  it.each(cases)('names %s', (name, d) => {
    expect(formatDimension(d)).toBe(name);
    expect(internalUnitName(d)).toBe(name);
  });

  it('gives the same name again, quickly, for an equal dimension built anew (the names are memoized)', () => {
    const first = formatDimension(dimMul(dimOf('mV'), perMs));
    const started = performance.now();
    for (let i = 0; i < 10_000; i++)
      expect(formatDimension(dimDiv(dimOf('mV'), dimOf('ms')))).toBe(first);
    // Unmemoized, one call took about 1.3 ms: 10 000 would take 13 s.
    expect(performance.now() - started).toBeLessThan(2000);
  });
});

describe('unitSpellings', () => {
  it('lists every spelling lookupUnit accepts, each once', () => {
    const all = unitSpellings();
    expect(new Set(all).size).toBe(all.length);
    for (const s of all) expect(isUnitSpelling(s), s).toBe(true);
    for (const s of ['mV', 'ms', 'Hz', 'kHz', 'uF', 'Mohm', 'mM', 'weight', 'V', 'cm'])
      expect(all).toContain(s);
  });
});

describe('suggestions for misspelt names and units', () => {
  it('counts an adjacent transposition as one edit', () => {
    expect(editDistance('tua', 'tau')).toBe(1);
    expect(editDistance('tau', 'tau')).toBe(0);
    expect(editDistance('Vrest', 'V_rest')).toBe(1);
    expect(editDistance('msec', 'ms')).toBe(2);
  });

  it('suggests a name one transposition away, and 2 edits away for names of 4+ characters when unique', () => {
    expect(suggestion('tua', ['tau', 'V_rest'])).toBe('tau');
    expect(suggestion('tau_m', ['tau', 'V_rest'])).toBe('tau');
    // Two candidates equally far: no guess.
    expect(suggestion('tauxy', ['tau', 'tauxyzw'])).toBeUndefined();
    expect(suggestion('xyz', ['tau'])).toBeUndefined();
  });

  it('suggests the unit a misspelt unit meant', () => {
    expect(suggestUnit('msec')).toBe('ms');
    expect(suggestUnit('mvolt')).toBe('mV');
    expect(suggestUnit('mVolt')).toBe('mV');
    expect(suggestUnit('mv')).toBe('mV');
    expect(suggestUnit('hz')).toBe('Hz');
    expect(suggestUnit('x')).toBeUndefined();
  });
});

describe('lookupUnit', () => {
  it('gives the pow10 of units relative to the internal system', () => {
    const pow10 = (s: string) => unit(s).pow10;
    expect(pow10('mV')).toBe(0);
    expect(pow10('V')).toBe(3);
    expect(pow10('nA')).toBe(0);
    expect(pow10('pA')).toBe(-3);
    expect(pow10('ms')).toBe(0);
    expect(pow10('s')).toBe(3);
    expect(pow10('uS')).toBe(0);
    expect(pow10('nS')).toBe(-3);
    expect(pow10('nF')).toBe(0);
    expect(pow10('pF')).toBe(-3);
    expect(pow10('Mohm')).toBe(0);
    expect(pow10('ohm')).toBe(-6);
    expect(pow10('GHz')).toBe(6);
    expect(pow10('Hz')).toBe(-3);
    expect(pow10('kHz')).toBe(0);
    expect(pow10('mM')).toBe(0);
    expect(pow10('M')).toBe(3);
    expect(pow10('um')).toBe(0);
    expect(pow10('m')).toBe(6);
    expect(pow10('mol')).toBe(18);
    expect(pow10('L')).toBe(15);
    expect(pow10('ml')).toBe(12);
    expect(pow10('g')).toBe(6);
    expect(pow10('kg')).toBe(9);
    expect(pow10('K')).toBe(0);
    expect(pow10('fF')).toBe(-6);
  });

  it('builds compound units', () => {
    const cm2 = pow(unit('cm'), 2);
    expect(unitDiv(unit('mS'), cm2).pow10).toBe(-5);
    expect(unitDiv(unit('uF'), cm2).pow10).toBe(-5);
    expect(unitDiv(unit('uA'), cm2).pow10).toBe(-5);
    const perMs = unitDiv(DIMENSIONLESS_UNIT, unit('ms'));
    expect(perMs.pow10).toBe(0);
    expect(perMs.dimension).toEqual(dimensionOf({ s: -1 }));
    expect(perMs).toEqual({ dimension: unit('kHz').dimension, pow10: 0 });
    expect(unitMul(unit('nA'), unit('ms')).pow10).toBe(0);
  });

  it('derives every base symbol from SI base units', () => {
    const [kg, m, s, A, K, mol] = ['kg', 'm', 's', 'A', 'K', 'mol'].map(unit) as [
      UnitValue,
      UnitValue,
      UnitValue,
      UnitValue,
      UnitValue,
      UnitValue,
    ];
    const milli: UnitValue = { dimension: DIMENSIONLESS, pow10: -3 };
    const V = product(kg, pow(m, 2), pow(s, -3), pow(A, -1));
    const litre = product(milli, pow(m, 3));
    const derived: Record<string, UnitValue> = {
      V,
      A,
      S: unitDiv(A, V),
      ohm: unitDiv(V, A),
      F: unitDiv(unitMul(A, s), V),
      s,
      Hz: unitDiv(DIMENSIONLESS_UNIT, s),
      M: unitDiv(mol, litre),
      m,
      mol,
      l: litre,
      L: litre,
      g: unitMul(milli, kg),
      K,
    };
    for (const [symbol, expected] of Object.entries(derived)) {
      expect(unit(symbol), symbol).toEqual(expected);
    }
    // The base units themselves, from the definition of the internal system.
    for (const symbol of ['kg', 'm', 's', 'A', 'K', 'mol', 'V', 'S', 'F', 'ohm', 'Hz']) {
      expect(unit(symbol).pow10, symbol).toBe(siScale(unit(symbol).dimension));
    }
    expect(unit('M').pow10).toBe(siScale(unit('M').dimension) + 3);
    expect(unit('L').pow10).toBe(siScale(unit('L').dimension) - 3);
    expect(unit('g').pow10).toBe(siScale(unit('g').dimension) - 3);
  });

  it('resolves ambiguous spellings whole symbol first', () => {
    expect(unit('M').dimension).toEqual(unit('mM').dimension);
    expect(unit('M').pow10).toBe(3);
    expect(unit('Mohm').dimension).toEqual(unit('ohm').dimension);
    expect(unit('m').dimension).toEqual(dimensionOf({ m: 1 }));
    expect(unit('mm')).toEqual({ dimension: dimensionOf({ m: 1 }), pow10: 3 });
    expect(unit('cm')).toEqual({ dimension: dimensionOf({ m: 1 }), pow10: 4 });
    expect(unit('mol')).toEqual({ dimension: dimensionOf({ mol: 1 }), pow10: 18 });
    expect(unit('mmol').pow10).toBe(15);
    expect(unit('weight')).toEqual({ dimension: dimensionOf({ weight: 1 }), pow10: 0 });
  });

  it('rejects what is not a unit', () => {
    for (const s of [
      '',
      'x',
      'mV2',
      'kweight',
      'mmV',
      'dm',
      'cd',
      'C',
      'constructor',
      'toString',
      'v',
    ]) {
      expect(lookupUnit(s)).toBeUndefined();
      expect(isUnitSpelling(s)).toBe(false);
    }
    for (const s of ['V', 'mV', 'Mohm', 'uF', 'Hz', 'ml', 'mL', 'weight', 'K']) {
      expect(isUnitSpelling(s)).toBe(true);
    }
  });
});

describe('unitPow', () => {
  it('multiplies pow10 and the dimension', () => {
    expect(pow(unit('cm'), 2)).toEqual({ dimension: dimensionOf({ m: 2 }), pow10: 8 });
    expect(pow(unit('ms'), -1)).toEqual({ dimension: dimensionOf({ s: -1 }), pow10: 0 });
    expect(pow(unit('s'), 0)).toEqual(DIMENSIONLESS_UNIT);
    expect(Object.is(pow(unit('ms'), -1).pow10, 0)).toBe(true);
  });

  it('allows a fractional power only when the scale stays a power of ten', () => {
    expect(pow(unit('ms'), 0.5)).toEqual({ dimension: dimensionOf({ s: 0.5 }), pow10: 0 });
    expect(pow(unit('um'), -0.5).pow10).toBe(0);
    expect(unitPow(unit('s'), 0.5)).toBeUndefined();
    expect(unitPow(unit('ms'), 0.25)).toBeUndefined();
  });
});

describe('dimension algebra of units', () => {
  it('agrees with Ohm and the capacitor law in internal units', () => {
    const eq = (a: UnitValue, b: UnitValue) => {
      expect(dimEquals(a.dimension, b.dimension)).toBe(true);
      expect(a.pow10).toBe(b.pow10);
    };
    eq(unitDiv(unit('mV'), unit('Mohm')), unit('nA'));
    eq(unitMul(unit('uS'), unit('mV')), unit('nA'));
    eq(unitDiv(unitMul(unit('nF'), unit('mV')), unit('ms')), unit('nA'));
    eq(unitMul(unit('Mohm'), unit('nF')), unit('ms'));
    eq(unitDiv(DIMENSIONLESS_UNIT, unit('Mohm')), unit('uS'));
    eq(unitDiv(unit('M'), unit('mM')), { dimension: DIMENSIONLESS, pow10: 3 });
  });
});

describe('literalToInternal', () => {
  it('shifts the decimal exponent before rounding once', () => {
    expect(literalToInternal('0.1', -3)).toBe(1e-4);
    expect(literalToInternal('120', -5)).toBe(0.0012);
    expect(literalToInternal('65', 0)).toBe(65);
    // Why the conversion never multiplies floats: 3 * 1e-1 is 0.30000000000000004.
    expect(literalToInternal('3', -1)).toBe(0.3);
    expect(3 * 1e-1).not.toBe(0.3);
    expect(literalToInternal('1e-3', 3)).toBe(1);
    expect(literalToInternal('.5', 0)).toBe(0.5);
    expect(literalToInternal('5.', 1)).toBe(50);
    expect(literalToInternal('2.5E+4', -3)).toBe(25);
    expect(literalToInternal('0.3', 3)).toBe(300);
    expect(literalToInternal('6.7', -3)).toBe(0.0067);
    expect(literalToInternal('200', -3)).toBe(0.2);
  });

  it('accepts a sign folded into the text', () => {
    expect(literalToInternal('-65', 0)).toBe(-65);
    expect(literalToInternal('-0.07', 3)).toBe(-70);
    expect(literalToInternal('+1.5', -1)).toBe(0.15);
  });

  it('rejects malformed text and non-integer shifts', () => {
    for (const text of ['', '.', 'e3', '1e', '1.2.3', 'Infinity', 'NaN', '0x10', '1_000', ' 1']) {
      expect(() => literalToInternal(text, 0)).toThrow(RangeError);
    }
    expect(() => literalToInternal('1', 0.5)).toThrow(RangeError);
  });
});
