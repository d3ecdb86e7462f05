/**
 * (f) STDP against Brian2: examples/stdp_song.spk (Song, Miller & Abbott 2000; the network of
 * Brian2's STDP example) run for a long time, then the distribution of the 1000 efficacies s
 * (tenths of [0, 1]) and the output rate, for several seeds; with --brian2 PYTHON the same
 * network in Brian2 (its documented example, cpp_standalone) for as many seeds, so that the
 * two distributions can be compared. The seeds differ between the simulators (their random
 * streams do), so the comparison is statistical: the fractions below 0.1 and above 0.9, the
 * mean efficacy and the rate, seed to seed.
 *
 *   npx tsx bench/stdp-song.ts                                      # 100 s, seeds 2000 1 2 (~1.5 min)
 *   npx tsx bench/stdp-song.ts --seconds 20 --seeds 1,2 --brian2 /usr/bin/python3
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { buildPlan } from '../src/codegen/module.js';
import { compileFiles } from '../src/pipeline.js';
import { cpuBackend } from '../src/runtime/select.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

interface Outcome {
  readonly who: string;
  readonly seed: number;
  readonly rateHz: number;
  /** Efficacies per tenth of [0, 1] (s = 1 in the last). */
  readonly tenths: readonly number[];
  readonly mean: number;
  readonly wallSeconds: number;
}

function tenthsOf(values: ArrayLike<number>): number[] {
  const bins = new Array<number>(10).fill(0);
  for (let k = 0; k < values.length; k++) bins[Math.min(9, Math.floor(values[k]! * 10))]! += 1;
  return bins;
}

async function runSpikeforge(seconds: number, seed: number): Promise<Outcome> {
  const compiled = compileFiles([join(ROOT, 'examples', 'stdp_song.spk')]);
  const example = compiled.program?.networks.get('SongSTDPNet');
  if (example === undefined) throw new Error('examples/stdp_song.spk did not compile');
  // Spikes only: a trace of s over 100 s would be 10^9 values.
  const network = {
    ...example,
    seed,
    duration: seconds * 1000,
    recordings: example.recordings.filter((r) => r.variable === 'spikes'),
  };
  const plan = buildPlan(network, Math.round(network.duration / network.dt));
  const backend = cpuBackend('f32');
  const start = performance.now();
  await backend.prepare(plan);
  const chunk = backend.maxChunkSteps(plan);
  let spikes = 0;
  for (let first = 0; first < plan.steps; first += chunk) {
    const c = await backend.runChunk(first, Math.min(chunk, plan.steps - first));
    spikes += c.spikes.get('N')?.steps.length ?? 0;
  }
  const owner = plan.kernels.find((k) => k.population.startsWith('@synapse'));
  if (owner === undefined) throw new Error('no per-synapse kernel in stdp_song.spk');
  const s = (await backend.readState(owner.population)).get('s')!;
  backend.dispose();
  return {
    who: 'spikeforge (CPU float32)',
    seed,
    rateHz: spikes / seconds,
    tenths: tenthsOf(s),
    mean: s.reduce((a, b) => a + b, 0) / s.length,
    wallSeconds: (performance.now() - start) / 1000,
  };
}

/** Brian2's STDP example as documented (method euler, event-driven traces), prints JSON. */
const BRIAN2_SCRIPT = String.raw`
import json, sys, time
from brian2 import *
seconds, seed_value, directory = float(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
set_device('cpp_standalone', directory=directory)
seed(seed_value)
N = 1000
taum = 10*ms; taupre = 20*ms; taupost = taupre; Ee = 0*mV; vt = -54*mV; vr = -60*mV; El = -74*mV
taue = 5*ms; F = 15*Hz; gmax = .01; dApre = .01
dApost = -dApre * taupre / taupost * 1.05
dApost *= gmax; dApre *= gmax
neurons = NeuronGroup(1, '''dv/dt = (ge * (Ee-v) + El - v) / taum : volt
                            dge/dt = -ge / taue : 1''',
                      threshold='v>vt', reset='v = vr', method='euler')
neurons.v = vr
poisson_input = PoissonGroup(N, rates=F)  # named: Brian2's run() only collects named objects
S = Synapses(poisson_input, neurons,
             '''w : 1
                dApre/dt = -Apre / taupre : 1 (event-driven)
                dApost/dt = -Apost / taupost : 1 (event-driven)''',
             on_pre='''ge += w
                       Apre += dApre
                       w = clip(w + Apost, 0, gmax)''',
             on_post='''Apost += dApost
                        w = clip(w + Apre, 0, gmax)''')
S.connect()
S.w = 'rand() * gmax'
M = SpikeMonitor(neurons)
start = time.time()
run(seconds * second)
import brian2
print(json.dumps({'version': brian2.__version__, 'wall_s': time.time() - start,
                  'spikes': int(M.num_spikes), 's': [float(x) for x in np.array(S.w) / gmax]}))
`;

function runBrian2(python: string, seconds: number, seed: number): Outcome {
  const work = mkdtempSync(join(tmpdir(), 'spikeforge-stdp-brian2-'));
  try {
    const script = join(work, 'stdp_brian2.py');
    writeFileSync(script, BRIAN2_SCRIPT);
    const run = spawnSync(python, [script, String(seconds), String(seed), join(work, 'build')], {
      cwd: work,
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    });
    const line = (run.stdout ?? '')
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .pop();
    if (run.status !== 0 || line === undefined)
      throw new Error(`Brian2 failed (exit ${String(run.status)}): ${run.stderr.slice(-400)}`);
    const r = JSON.parse(line) as { version: string; wall_s: number; spikes: number; s: number[] };
    return {
      who: `Brian2 ${r.version} (cpp_standalone)`,
      seed,
      rateHz: r.spikes / seconds,
      tenths: tenthsOf(r.s),
      mean: r.s.reduce((a, b) => a + b, 0) / r.s.length,
      wallSeconds: r.wall_s,
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '100' },
    seeds: { type: 'string', default: '2000,1,2' },
    brian2: { type: 'string' },
  },
});
const seconds = Number(values.seconds);
const seeds = values.seeds.split(',').map(Number);
const outcomes: Outcome[] = [];
for (const seed of seeds) {
  outcomes.push(await runSpikeforge(seconds, seed));
  process.stderr.write(`spikeforge seed ${seed} done\n`);
}
if (values.brian2 !== undefined)
  for (const seed of seeds) {
    outcomes.push(runBrian2(values.brian2, seconds, seed));
    process.stderr.write(`brian2 seed ${seed} done\n`);
  }
console.log(`STDP (examples/stdp_song.spk), ${seconds} s simulated\n`);
console.log(
  '| simulator | seed | s < 0.1 | s >= 0.9 | mean s | efficacies per tenth | output rate | wall |',
);
console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
for (const o of outcomes)
  console.log(
    `| ${o.who} | ${o.seed} | ${o.tenths[0]} | ${o.tenths[9]} | ${o.mean.toFixed(3)} | ${o.tenths.join(' ')} | ${o.rateHz.toFixed(1)} Hz | ${o.wallSeconds.toFixed(1)} s |`,
  );
