import { unitSpellings } from '../units/units.js';

/**
 * Edit distance between two names (optimal string alignment, a restricted
 * Damerau-Levenshtein distance): insertions, deletions, substitutions and the
 * transposition of two adjacent characters each count as one edit, so `tua`
 * is one edit away from `tau`.
 */
export function editDistance(a: string, b: string): number {
  // rows[i][j]: distance between the first i characters of a and the first j of b.
  let beforePrevious: number[] = [];
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(
        (previous[j] ?? 0) + 1,
        (current[j - 1] ?? 0) + 1,
        (previous[j - 1] ?? 0) + cost,
      );
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d = Math.min(d, (beforePrevious[j - 2] ?? 0) + 1);
      current.push(d);
    }
    beforePrevious = previous;
    previous = current;
  }
  return previous[b.length] ?? 0;
}

/**
 * The closest known name, when it is close enough to be a likely typo.
 * Distances ignore case, with ties broken by the distance that respects it
 * (`msec` suggests `ms` rather than `mS`). A name may be off by up to a third
 * of its length (at least one edit); a name of 4 or more characters may be off
 * by 2 edits as well, but only when a single candidate is that close (after
 * the tie-break on case).
 */
export function suggestion(name: string, candidates: readonly string[]): string | undefined {
  const lower = name.toLowerCase();
  const scored = [...new Set(candidates)]
    .filter((c) => c !== name)
    .map((c) => ({ c, d: editDistance(lower, c.toLowerCase()), exact: editDistance(name, c) }));
  if (scored.length === 0) return undefined;
  // reduce, not Math.min(...): a model may have more names than a call takes arguments.
  const best = scored.reduce((m, s) => Math.min(m, s.d), Infinity);
  const closest = scored.filter((s) => s.d === best);
  const minExact = closest.reduce((m, s) => Math.min(m, s.exact), Infinity);
  const chosen = closest.filter((s) => s.exact === minExact);
  const allowed = Math.max(1, Math.floor(name.length / 3));
  if (best <= allowed) {
    // The last of equally close candidates, as before the tie-break on case existed.
    return chosen[chosen.length - 1]?.c;
  }
  if (best <= 2 && name.length >= 4 && chosen.length === 1) return chosen[0]?.c;
  return undefined;
}

/**
 * The unit a misspelt unit name most likely meant (`msec` -> `ms`, `mVolt` ->
 * `mV`): the closest spelling, or a known unit that the name starts with and
 * then spells out (`msec`, `mvolt`, `Hertz`).
 */
export function suggestUnit(name: string): string | undefined {
  // Spelt-out units first: Brian2's `volt` and `namp` are V and nA, not the near `mol` and `nm`.
  const spelledOut: readonly [RegExp, string][] = [
    [/^(.?)(sec|second|seconds|secs)$/i, 's'],
    [/^(.?)(volt|volts)$/i, 'V'],
    [/^(.?)(amp|amps|ampere|amperes)$/i, 'A'],
    [/^(.?)(siemens)$/i, 'S'],
    [/^(.?)(farad|farads)$/i, 'F'],
    [/^(.?)(ohms)$/i, 'ohm'],
    [/^(.?)(hertz)$/i, 'Hz'],
    [/^(.?)(molar)$/i, 'M'],
    [/^(.?)(meter|meters|metre|metres)$/i, 'm'],
  ];
  for (const [pattern, base] of spelledOut) {
    const match = pattern.exec(name);
    if (match === null) continue;
    const unit = (match[1] ?? '') + base;
    if (unitSpellings().includes(unit)) return unit;
  }
  // Every letter is nearly a unit (`x` is one edit from `K`): short names only get a difference of case (`mv` -> `mV`).
  const close = suggestion(name, unitSpellings());
  if (close !== undefined && (name.length > 2 || close.toLowerCase() === name.toLowerCase()))
    return close;
  return undefined;
}

/**
 * What an unknown name written the way Brian2 or BrainPy spell it is here, as a note
 * (`ge_post` is `post.ge`, `xi` is `wiener()`), or undefined.
 */
export function foreignNameNote(name: string): string | undefined {
  const neuron = /^([A-Za-z]\w*?)_(pre|post)$/.exec(name);
  if (neuron !== null)
    return `a synapse names its neurons' variables '${neuron[2]}.X': Brian2's '${name}' is '${neuron[2]}.${neuron[1]}'`;
  if (/^xi(_\w+)?$/.test(name))
    return "white noise is 'wiener()' (Brian2's xi, in 1/sqrt(time)): dX/dt = ... + sigma * wiener()";
  if (name === 'i' || name === 'j')
    return "'i' and 'j' (the pre- and post-synaptic neuron's index) exist only in a projection's weight and delay, and 'i' (the neuron's index) in a population's initial values (population P = Model(N) { v = i * 1 mV }), a stimulus and a Poisson rate";
  return undefined;
}

/** What an unknown function spelled as in Brian2 or NumPy is here, as a note, or undefined. */
export function foreignFunctionNote(name: string): string | undefined {
  if (name === 'rand' || name === 'randn')
    return "random values are drawn with '~': 'V ~ uniform(-70 mV, -60 mV)' or '~ normal(mean, sd)' for initial values, 'weight normal(...)' for weights and delays; noise in equations is 'wiener()'";
  return undefined;
}
