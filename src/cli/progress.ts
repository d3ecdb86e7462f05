import { performance } from 'node:perf_hooks';
import type { Io } from './io.js';

/** On a terminal, the status line appears once a run has taken this long, and is redrawn at most this often. */
const TERMINAL_DELAY_S = 1;
const TERMINAL_PERIOD_S = 0.2;
/** Elsewhere (a log, CI), a line this often: Brian2's report='text' default. */
const LOG_PERIOD_S = 10;

/**
 * A run's progress on stderr, so that a long run does not look hung: on a terminal one status
 * line, redrawn in place and cleared at the end; elsewhere a line every 10 s. Runs shorter
 * than that print nothing.
 */
export class ProgressReport {
  private readonly start: number;
  private lastReport: number;
  private shown = false;

  constructor(
    private readonly network: string,
    private readonly steps: number,
    private readonly dt: number,
    private readonly io: Io,
    private readonly now: () => number = () => performance.now() / 1000,
  ) {
    this.start = now();
    this.lastReport = this.start;
  }

  /** `done` of the run's steps are simulated. */
  update(done: number): void {
    const t = this.now();
    const elapsed = t - this.start;
    const terminal = this.io.status !== undefined;
    const due = terminal
      ? elapsed >= TERMINAL_DELAY_S && t - this.lastReport >= TERMINAL_PERIOD_S
      : t - this.lastReport >= LOG_PERIOD_S;
    if (!due || done >= this.steps) return;
    this.lastReport = t;
    const left = done > 0 ? `, about ${seconds((elapsed * (this.steps - done)) / done)} left` : '';
    const text = `${this.network}: ${Math.floor((100 * done) / this.steps)}% (${simulatedMs(done * this.dt)} of ${simulatedMs(this.steps * this.dt)} ms) in ${seconds(elapsed)}${left}`;
    if (this.io.status === undefined) this.io.err(text);
    else {
      this.io.status(text);
      this.shown = true;
    }
  }

  /** Clears the status line, if one is shown. */
  finish(): void {
    if (this.shown) this.io.status?.('');
    this.shown = false;
  }
}

const seconds = (s: number): string => (s < 60 ? `${s.toFixed(1)} s` : `${Math.round(s)} s`);
const simulatedMs = (ms: number): string => String(Number(ms.toPrecision(6)));
