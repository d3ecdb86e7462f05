/**
 * `spikeforge run`'s progress report: on a terminal a status line redrawn in place once the run
 * has taken a second and cleared at the end; in a log a line every 10 s; nothing for short runs.
 */
import { describe, expect, it } from 'vitest';
import type { Io } from '../src/cli/io.js';
import { ProgressReport } from '../src/cli/progress.js';

/** A report of a 10000-step run at dt 0.1 ms on a clock the test moves. */
function harness(terminal: boolean) {
  let clock = 100;
  const events: string[] = [];
  const io: Io = {
    out: (t) => events.push(`out: ${t}`),
    err: (t) => events.push(`err: ${t}`),
    ...(terminal ? { status: (t: string) => events.push(`status: ${t}`) } : {}),
  };
  const report = new ProgressReport('Net', 10_000, 0.1, io, () => clock);
  const at = (seconds: number, done: number): void => {
    clock = 100 + seconds;
    report.update(done);
  };
  return { events, report, at };
}

describe('ProgressReport', () => {
  it('on a terminal: nothing in the first second, then at most five redraws a second, cleared at the end', () => {
    const { events, report, at } = harness(true);
    at(0.5, 500);
    expect(events).toEqual([]);
    at(1.0, 1000);
    at(1.1, 1100); // within 0.2 s of the last redraw
    at(2.0, 2500);
    at(20, 10_000); // done: the summary line follows, no status
    report.finish();
    expect(events).toEqual([
      'status: Net: 10% (100 of 1000 ms) in 1.0 s, about 9.0 s left',
      'status: Net: 25% (250 of 1000 ms) in 2.0 s, about 6.0 s left',
      'status: ',
    ]);
  });

  it('in a log: a line every 10 s, and nothing to clear', () => {
    const { events, report, at } = harness(false);
    at(1, 100);
    at(9.9, 900);
    at(10, 1000);
    at(15, 1500);
    at(125, 9999);
    report.finish();
    expect(events).toEqual([
      'err: Net: 10% (100 of 1000 ms) in 10.0 s, about 90 s left',
      'err: Net: 99% (999.9 of 1000 ms) in 125 s, about 0.0 s left',
    ]);
  });

  it('a run shorter than a second prints nothing, and finish() clears nothing', () => {
    const { events, report, at } = harness(true);
    at(0.3, 5000);
    at(0.6, 10_000);
    report.finish();
    expect(events).toEqual([]);
  });
});
