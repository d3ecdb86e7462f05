/**
 * The coefficient of variation of each neuron's interspike intervals (standard deviation over
 * mean, the population's standard deviation as Elephant's `cv`), averaged over the neurons with
 * at least two intervals: about 1 for Poisson-like firing, near 0 for regular firing. Kept as
 * a running mean and sum of squared deviations per neuron (Welford), so that a run's spikes are
 * seen once, chunk by chunk, in time order.
 */
export class IsiStatistics {
  private readonly lastStep: Float64Array;
  private readonly intervals: Uint32Array;
  private readonly mean: Float64Array;
  private readonly squares: Float64Array;

  constructor(size: number) {
    this.lastStep = new Float64Array(size).fill(-1);
    this.intervals = new Uint32Array(size);
    this.mean = new Float64Array(size);
    this.squares = new Float64Array(size);
  }

  /** Spikes as (step, local index), in time order. */
  add(steps: Uint32Array, indices: Uint32Array): void {
    for (let k = 0; k < steps.length; k++) {
      const i = indices[k]!;
      const last = this.lastStep[i]!;
      this.lastStep[i] = steps[k]!;
      if (last < 0) continue;
      const isi = steps[k]! - last;
      const n = ++this.intervals[i]!;
      const delta = isi - this.mean[i]!;
      this.mean[i]! += delta / n;
      this.squares[i]! += delta * (isi - this.mean[i]!);
    }
  }

  /** The mean CV and how many neurons it is over (undefined when none has two intervals). */
  result(): { readonly meanCv: number; readonly neurons: number } | undefined {
    let sum = 0;
    let neurons = 0;
    for (let i = 0; i < this.intervals.length; i++) {
      const n = this.intervals[i]!;
      if (n < 2) continue;
      sum += Math.sqrt(this.squares[i]! / n) / this.mean[i]!;
      neurons++;
    }
    return neurons === 0 ? undefined : { meanCv: sum / neurons, neurons };
  }
}
