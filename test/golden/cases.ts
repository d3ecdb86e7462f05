/**
 * What the golden files of generated code hold, shared by scripts/update-golden.ts (which
 * writes them) and test/golden.test.ts (which fails when the generator drifts from them).
 *
 *   test/golden/<target dir>/<Name>.<extension>
 *
 * Cases: every neuron model of stdlib/neurons.spk as one population of one neuron
 * (modelNetwork, as `spikeforge inspect --stage wgsl Model` shows it), every network of
 * PROJECTION_FILES (the examples, and a network with every kind of delivery: the projection,
 * delivery and synapse kernels), and every other network in test/models/ that has a single
 * population and no projections (see unsupportedReason; the networks left out are printed).
 *
 * Targets are a table (GOLDEN_TARGETS): a new target is one entry, then `npm run golden`
 * writes its files. Every target is generated in its default precision (float32).
 *
 * Also the host's Philox module, whose assembled bytes are committed in
 * src/random/philox-wasm-binary.ts (philoxBinaryText).
 */
import { readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import wabt from 'wabt';
import { type Target, buildPlan, generateSource, modelNetwork } from '../../src/codegen/module.js';
import type { Network } from '../../src/ir/types.js';
import { compileFiles } from '../../src/pipeline.js';
import { philoxRunWat } from '../../src/random/philox-wasm.js';
import type { SimulationPlan } from '../../src/runtime/backend.js';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const GOLDEN_DIR = join(ROOT, 'test', 'golden');

/** One kind of generated source: where its goldens live and how to make one. */
export interface GoldenTarget {
  /** The code generator's target name. */
  readonly target: Target;
  /** Folder under test/golden/. */
  readonly dir: string;
  /** File name extension, without the dot. */
  readonly extension: string;
}

export const GOLDEN_TARGETS: readonly GoldenTarget[] = [
  { target: 'wgsl', dir: 'wgsl', extension: 'wgsl' },
  { target: 'js', dir: 'js', extension: 'js' },
  { target: 'cuda', dir: 'cuda', extension: 'cu' },
  { target: 'wasm', dir: 'wasm', extension: 'wat' },
];

/** One golden subject: a network whose generated source is kept for every target. */
export interface GoldenCase {
  /** File name stem: the model or network name. */
  readonly name: string;
  /** Where it comes from, for messages (repository-relative). */
  readonly origin: string;
  readonly plan: SimulationPlan;
}

/** A network that was not made a case, and why. */
export interface SkippedNetwork {
  readonly name: string;
  readonly origin: string;
  readonly reason: string;
}

/** Every .spk file under a folder, sorted, as absolute paths. */
export function listSpk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? listSpk(join(dir, e.name)) : e.name.endsWith('.spk') ? [join(dir, e.name)] : []))
    .sort();
}

export function repoPath(path: string): string {
  return relative(ROOT, path).split('\\').join('/');
}

/** The networks (not models) of a file; throws with the diagnostics if it does not compile. */
export function compileNetworks(path: string): Network[] {
  const compiled = compileFiles([path]);
  if (compiled.program === undefined) {
    throw new Error(`${repoPath(path)} does not compile: ${compiled.diagnostics.items.map((d) => d.message).join('; ')}`);
  }
  return [...compiled.program.networks.values()];
}

/** Files whose every network is a case, whatever its populations and projections. */
const PROJECTION_FILES = (): string[] => [...listSpk(join(ROOT, 'examples')), join(ROOT, 'test', 'models', 'conformance', 'rt_synapses.spk')];

/**
 * Why a network of test/models/ is left out of the generated-code checks, or undefined: the
 * networks of PROJECTION_FILES pin the projection kernels.
 */
export function unsupportedReason(network: Network): string | undefined {
  if (network.projections.length > 0) return `${network.projections.length} projection(s): the networks of PROJECTION_FILES pin the projection kernels`;
  return undefined;
}

/** The plan of a network (derivation included), with the diagnostics in the message when it fails. */
export function planOf(network: Network, steps = 1): SimulationPlan {
  try {
    return buildPlan(network, steps);
  } catch (error) {
    throw new Error(`${network.name}: cannot build the plan: ${String(error)}`, { cause: error });
  }
}

/** The stdlib neuron models as one-neuron networks, in file order. */
export function stdlibModelNetworks(): { network: Network; origin: string }[] {
  const path = join(ROOT, 'stdlib', 'neurons.spk');
  const compiled = compileFiles([path]);
  if (compiled.program === undefined) throw new Error('stdlib/neurons.spk does not compile');
  return [...compiled.program.models.values()].flatMap((m) => (m.kind === 'neuron' ? [{ network: modelNetwork(m), origin: `stdlib/neurons.spk: ${m.name}` }] : []));
}

const MULTI_POPULATION = 'several populations (goldens keep single-population networks)';

/** Every golden case, plus the test/models/ networks left out and why. */
export function goldenCases(): { cases: GoldenCase[]; skipped: SkippedNetwork[] } {
  const cases: GoldenCase[] = stdlibModelNetworks().map(({ network, origin }) => ({ name: network.name, origin, plan: planOf(network) }));
  const projectionFiles = PROJECTION_FILES();
  for (const path of projectionFiles)
    for (const network of compileNetworks(path)) cases.push({ name: network.name, origin: `${repoPath(path)}: ${network.name}`, plan: planOf(network) });
  const skipped: SkippedNetwork[] = [];
  for (const path of listSpk(join(ROOT, 'test', 'models')).filter((p) => !projectionFiles.includes(p))) {
    for (const network of compileNetworks(path)) {
      const origin = `${repoPath(path)}: ${network.name}`;
      const reason = network.populations.length !== 1 ? MULTI_POPULATION : unsupportedReason(network);
      if (reason !== undefined) skipped.push({ name: network.name, origin, reason });
      else cases.push({ name: network.name, origin, plan: planOf(network) });
    }
  }
  const seen = new Map<string, string>();
  for (const c of cases) {
    const first = seen.get(c.name);
    if (first !== undefined) throw new Error(`two golden cases named ${c.name}: ${first} and ${c.origin}; rename one`);
    seen.set(c.name, c.origin);
  }
  return { cases, skipped };
}

/** The skipped networks as a few printable lines: multi-population ones on one line. */
export function describeSkipped(skipped: readonly SkippedNetwork[]): string[] {
  const multi = skipped.filter((s) => s.reason === MULTI_POPULATION);
  return [
    ...(multi.length === 0 ? [] : [`skipped ${multi.length} network(s) with several populations: ${multi.map((s) => s.name).join(', ')}`]),
    ...skipped.filter((s) => s.reason !== MULTI_POPULATION).map((s) => `skipped ${s.origin}: ${s.reason}`),
  ];
}

/** The golden file of a case for a target. */
export function goldenPath(target: GoldenTarget, name: string): string {
  return join(GOLDEN_DIR, target.dir, `${name}.${target.extension}`);
}

/** The generated source that the golden file must equal, byte for byte. */
export function generate(target: GoldenTarget, plan: SimulationPlan): string {
  return generateSource(plan, target.target);
}

/** The committed bytes of the host's Philox module (src/random/philox-wasm.ts says why). */
export const PHILOX_BINARY_PATH = join(ROOT, 'src', 'random', 'philox-wasm-binary.ts');

/** The text philox-wasm-binary.ts must hold: philoxRunWat() assembled, in base64. */
export async function philoxBinaryText(): Promise<string> {
  const assembler = await wabt();
  const parsed = assembler.parseWat('philox-run.wat', philoxRunWat());
  try {
    const base64 = Buffer.from(parsed.toBinary({}).buffer).toString('base64');
    return [
      '// Written by `npm run golden` from philoxRunWat() (philox-wasm.ts): do not edit.',
      'export const PHILOX_RUN_WASM =',
      `  '${base64}';`,
      '',
    ].join('\n');
  } finally {
    parsed.destroy();
  }
}
