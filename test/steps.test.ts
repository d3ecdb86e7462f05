import { describe, expect, it } from 'vitest';
import { delayInSteps, isWholeSteps, stepsIn } from '../src/codegen/steps.js';

describe('stepsIn: times to whole steps', () => {
  it('rounds halves up whatever the binary noise of the division', () => {
    // 0.15 / 0.1 is 1.4999999999999998 and 0.25 / 0.1 is 2.4999999999999996 in binary.
    expect([0.05, 0.15, 0.25, 0.35, 0.45].map((t) => stepsIn(t, 0.1))).toEqual([1, 2, 3, 4, 5]);
  });

  it('is exact for whole multiples, also where the quotient is slightly above', () => {
    // 1.7 / 0.1 is 17.000000000000004; 0.3 / 0.1 is 2.9999999999999996.
    expect(stepsIn(1.7, 0.1)).toBe(17);
    expect(stepsIn(0.3, 0.1)).toBe(3);
    expect(stepsIn(1000, 0.1)).toBe(10000);
    expect(stepsIn(0, 0.1)).toBe(0);
  });

  it('rounds below a half down', () => {
    expect(stepsIn(0.149, 0.1)).toBe(1);
    expect(stepsIn(1e6 + 0.04, 0.1)).toBe(10000000);
  });
});

describe('isWholeSteps: whether a time is the steps it rounds to', () => {
  it('allows float noise and nothing more', () => {
    // 0.3 / 0.1 is 2.9999999999999996 and 7000.1 / 0.1 is 70000.99999999999 in binary.
    expect(isWholeSteps(0.3, 0.1, stepsIn(0.3, 0.1))).toBe(true);
    expect(isWholeSteps(7000.1, 0.1, stepsIn(7000.1, 0.1))).toBe(true);
    expect(isWholeSteps(0.25, 0.1, stepsIn(0.25, 0.1))).toBe(false);
    expect(isWholeSteps(1e6 + 0.04, 0.1, stepsIn(1e6 + 0.04, 0.1))).toBe(false);
  });

  it('is false for a delay below one step, which becomes one step', () => {
    expect(delayInSteps(0, 0.1)).toBe(1);
    expect(isWholeSteps(0, 0.1, delayInSteps(0, 0.1))).toBe(false);
    expect(isWholeSteps(0.1, 0.1, delayInSteps(0.1, 0.1))).toBe(true);
  });
});
