/**
 * Whole steps in a span of time: round(time / dt), halves rounded up. The
 * division is nudged up by a relative 1e-12 so that float noise does not
 * decide: 0.15 ms / 0.1 ms is 1.4999999999999998 in binary and must give 2,
 * like 0.25 / 0.1 gives 3. Durations, delays, refractory periods and section
 * boundaries all become steps through this one function.
 */
export function stepsIn(time: number, dt: number): number {
  const q = time / dt;
  return Math.floor(q + 0.5 + Math.abs(q) * 1e-12);
}

/** The steps between the rows of `record ... every T`: T in whole steps, at least one. */
export function recordingSteps(every: number, dt: number): number {
  return Math.max(1, stepsIn(every, dt));
}

/** The steps a spike waits on a projection with a delay: round(delay / dt), at least one. */
export function delayInSteps(delay: number, dt: number): number {
  return Math.max(1, stepsIn(delay, dt));
}

/**
 * Whether `steps` steps of `dt` are `time`, but for float noise (1e-9 of a step, relative for
 * long times): false when a time was rounded to the steps it became (`every 0.25 ms`, a delay
 * of 0.25 ms at dt = 0.1 ms, or below one step).
 */
export function isWholeSteps(time: number, dt: number, steps: number): boolean {
  const q = time / dt;
  return Math.abs(q - steps) <= 1e-9 * Math.max(1, q);
}

/** The most steps a run may have: the kernels count steps (and key the random draws) in 32 bits. */
export const MAX_STEPS = 2 ** 32 - 1;

/** Why a run of `duration` at time step `dt` cannot be simulated, or undefined when it can. */
export function runLengthProblem(duration: number, dt: number): string | undefined {
  // round(duration / dt) steps: with dt above the duration, that is one step too long or none.
  if (dt > duration)
    return `the time step of ${dt} ms is longer than the duration of ${duration} ms`;
  const steps = stepsIn(duration, dt);
  if (steps > MAX_STEPS)
    return `a duration of ${duration} ms is ${steps.toExponential(3)} steps of ${dt} ms, more than the ${MAX_STEPS} steps a run can have`;
  return undefined;
}

/**
 * The step in which a spike-time event fires: the first step whose t_n = n dt
 * is at or after `time` (BrainPy's SpikeTimeGroup), i.e. ceil(time / dt), with
 * 1e-9 of a step allowed for float noise (2.5 ms / 0.1 ms is step 25, 0.3 ms /
 * 0.1 ms is step 3 although 0.3 / 0.1 is 2.9999999999999996 in binary).
 */
export function spikeStep(time: number, dt: number): number {
  return Math.ceil(time / dt - 1e-9);
}
