/**
 * The end-of-run check for NaN and infinite states (src/runtime/non-finite.ts), through
 * simulate() on the CPU backends: the counts equal those of the final state read with
 * readState, do not depend on how a backend slices its state buffer (the GPU backends copy it
 * back in pieces), and the first non-finite recorded step is found across chunk boundaries.
 * `spikeforge run`'s warning and summary.json are tested in runtime.test.ts.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildPlan } from '../src/codegen/module.js';
import type { Backend, SimulationPlan } from '../src/runtime/backend.js';
import { renderDiagnostic } from '../src/diagnostics/diagnostic.js';
import { type NonFiniteState, nonFiniteWarnings } from '../src/runtime/non-finite.js';
import { cpuBackend } from '../src/runtime/select.js';
import { simulate } from '../src/runtime/simulate.js';
import { ROOT, compileNetworks } from './golden/cases.js';

function planOf(file: string): SimulationPlan {
  const [network] = compileNetworks(join(ROOT, file));
  if (network === undefined) throw new Error(`no network in ${file}`);
  return buildPlan(network, Math.round(network.duration / network.dt));
}

/** A backend that runs chunks of `chunkSteps` and hands its state over in slices of `sliceFloats`. */
function resliced(inner: Backend, chunkSteps: number, sliceFloats: number): Backend {
  return {
    name: inner.name,
    device: inner.device,
    precision: inner.precision,
    prepare: (plan) => inner.prepare(plan),
    maxChunkSteps: () => chunkSteps,
    runChunk: (first, steps) => inner.runChunk(first, steps),
    readState: (population) => inner.readState(population),
    visitState: (visit) =>
      inner.visitState((offset, values) => {
        for (let k = 0; k < values.length; k += sliceFloats)
          visit(offset + k, values.subarray(k, k + sliceFloats));
      }),
    dispose: () => inner.dispose(),
  };
}

interface Checked {
  readonly nonFinite: readonly NonFiniteState[];
  /** Per non-finite state, its NaN and infinite counts in readState's final values. */
  readonly final: readonly { nan: number; infinite: number }[];
  /** Per trace, the first step whose recorded row holds a non-finite value (-1: none). */
  readonly firstSteps: readonly number[];
}

async function check(plan: SimulationPlan, backend: Backend): Promise<Checked> {
  try {
    await backend.prepare(plan);
    const { chunks, nonFinite } = await simulate(plan, backend);
    const final = await Promise.all(
      nonFinite.map(async (s) => {
        const values = (await backend.readState(s.user.owner)).get(s.user.state)!;
        return {
          nan: values.filter((v) => Number.isNaN(v)).length,
          infinite: values.filter((v) => Math.abs(v) === Infinity).length,
        };
      }),
    );
    const firstSteps = plan.traces.map((t, r) => {
      const width = t.range.end - t.range.start;
      for (const chunk of chunks) {
        const k = chunk.traces[r]!.findIndex((v) => !Number.isFinite(v));
        if (k >= 0) return chunk.firstStep + Math.floor(k / width);
      }
      return -1;
    });
    return { nonFinite, final, firstSteps };
  } finally {
    backend.dispose();
  }
}

describe('the states that end a run NaN or infinite', () => {
  it.each([
    ['test/models/non-finite/blow_up.spk', 'cpu'],
    ['test/models/non-finite/blow_up.spk', 'cpu64'],
    ['test/models/non-finite/synapses.spk', 'cpu'],
    ['test/models/non-finite/synapses.spk', 'cpu64'],
  ] as const)(
    '%s on %s: counted as readState shows them, whatever the chunks and slices',
    async (file, precision) => {
      const plan = planOf(file);
      const make = (): Backend => cpuBackend(precision === 'cpu' ? 'f32' : 'f64');
      const whole = await check(plan, make());
      expect(whole.nonFinite.length).toBeGreaterThanOrEqual(3);
      whole.nonFinite.forEach((s, k) => {
        expect({ nan: s.nan, infinite: s.infinite }, `${s.user.owner}.${s.user.state}`).toEqual(
          whole.final[k],
        );
        // The first recorded step is the first non-finite row of a trace of that state.
        const traced = plan.traces
          .map((t, r) => ({ t, first: whole.firstSteps[r]! }))
          .filter(
            ({ t, first }) =>
              t.population === s.user.owner && t.variable === s.user.state && first >= 0,
          );
        if (traced.length === 0) expect(s.firstRecorded).toBeUndefined();
        else expect(s.firstRecorded?.step).toBe(Math.min(...traced.map((x) => x.first)));
      });
      expect(whole.nonFinite.some((s) => s.firstRecorded !== undefined)).toBe(true);
      // Chunks of 7 steps and slices of 5 floats cut through traces and states.
      const cut = await check(plan, resliced(make(), 7, 5));
      expect(cut.nonFinite).toEqual(whole.nonFinite);
    },
  );

  it('a healthy run has none', async () => {
    const plan = planOf('test/models/conformance/rt_basic.spk');
    const { nonFinite } = await check(plan, resliced(cpuBackend('f32'), 7, 5));
    expect(nonFinite).toEqual([]);
  });

  it('a warning shows the lines of the population that set what the state depends on', async () => {
    const plan = planOf('test/models/non-finite/overrides.spk');
    const { nonFinite } = await check(plan, cpuBackend('f64'));
    const { diagnostics } = nonFiniteWarnings(plan, nonFinite);
    const shown = diagnostics.map((d) => ({
      message: d.message,
      at: d.span.file.path.endsWith('stdlib/neurons.spk') ? 'stdlib' : 'overrides.spk',
      secondary: d.secondary.map(
        (s) => `${s.span.file.text.slice(s.span.start, s.span.end)}: ${s.message}`,
      ),
    }));
    expect(shown).toEqual([
      {
        message: 'population E: V is NaN in 4 of 4 neurons at the end of the run',
        at: 'stdlib',
        secondary: [
          'V_th = -50 mV: population E sets V_th, which V depends on',
          'tau = 0 ms: population E sets tau, which V depends on',
          'V ~ uniform(-70 mV, -60 mV): population E sets the initial value of V',
        ],
      },
      {
        message: expect.stringMatching(/^population F: V is /) as string,
        at: 'overrides.spk',
        // Not tau_w = 50 ms or w = 1 mV: V does not depend on w.
        secondary: [
          'tau = 0 ms: population F sets tau, which V depends on',
          'V = 2 mV: population F sets the initial value of V',
        ],
      },
      {
        message: 'population G: V is NaN in 1 of 2 neurons at the end of the run',
        at: 'stdlib',
        secondary: [
          'tau = i * 1 ms: population G sets tau per neuron, which V depends on',
          'tau_ref = 1 ms + i * 0.5 ms: population G sets tau_ref per neuron, which V depends on',
        ],
      },
    ]);
    // Rendered after the declaration, before the notes, each with its file and line.
    const e = renderDiagnostic(diagnostics[0]!);
    expect(e).toMatch(
      /\n\S*test\/models\/non-finite\/overrides\.spk:\d+:5: note: population E sets tau, which V depends on\n {7}tau = 0 ms\n {7}\^{10}\n/,
    );
    expect(e.indexOf('sets tau')).toBeLessThan(e.indexOf('= note: E.V is first non-finite'));
  });
});
