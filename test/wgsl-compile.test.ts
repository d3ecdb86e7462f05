/**
 * Every generated WGSL module compiles in Dawn with no error and no warning, and every one
 * of its entry points (every `@compute` function; the manifest's dispatch list must name
 * only those) becomes a compute pipeline without a validation or internal error.
 *
 * Subjects: every stdlib neuron model (one neuron, as `inspect --stage wgsl` shows it) and
 * every network in examples/ and test/models/ without projections; networks with
 * projections are skipped (test/golden/cases.ts, unsupportedReason), and the skips printed.
 *
 * Without a GPU this runs on Mesa's software adapter (docs in shared/docs/webgpu-on-cpu.md);
 * with no adapter at all, the suite is skipped with the reason printed.
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { generateSource, manifest } from '../src/codegen/module.js';
import type { Network } from '../src/ir/types.js';
import {
  ROOT,
  compileNetworks,
  listSpk,
  planOf,
  repoPath,
  stdlibModelNetworks,
  unsupportedReason,
} from './golden/cases.js';
import { formatCompilationMessages, openWebGpu } from './support/webgpu.js';

interface Subject {
  readonly label: string;
  readonly network?: Network;
  /** A file that did not compile: the subject fails with this message. */
  readonly error?: string;
}

function subjects(): Subject[] {
  const list: Subject[] = stdlibModelNetworks().map(({ network, origin }) => ({
    label: origin,
    network,
  }));
  for (const path of [
    ...listSpk(join(ROOT, 'examples')),
    ...listSpk(join(ROOT, 'test', 'models')),
  ]) {
    let networks: Network[];
    try {
      networks = compileNetworks(path);
    } catch (error) {
      list.push({ label: repoPath(path), error: String(error) });
      continue;
    }
    for (const network of networks) {
      const label = `${repoPath(path)}: ${network.name}`;
      const reason = unsupportedReason(network);
      if (reason === undefined) list.push({ label, network });
      else console.log(`wgsl-compile: skipped ${label}: ${reason}`);
    }
  }
  return list;
}

const SUBJECTS = subjects();

const opened = await openWebGpu();
if (!opened.ok) console.warn(`wgsl-compile tests SKIPPED: no WebGPU adapter (${opened.reason})`);

/** The names of the `@compute` functions of a WGSL module. */
function computeEntryPoints(code: string): string[] {
  return [...code.matchAll(/@compute\b[^\n]*\n\s*fn\s+(\w+)/g)].map((m) => m[1]!);
}

/** Runs `make` inside validation and internal error scopes; returns the errors' messages. */
async function scopedErrors(device: GPUDevice, make: () => unknown): Promise<string[]> {
  device.pushErrorScope('internal');
  device.pushErrorScope('validation');
  make();
  const validation = await device.popErrorScope();
  const internal = await device.popErrorScope();
  return [validation, internal].flatMap((e) =>
    e === null ? [] : [`${e.constructor.name}: ${e.message}`],
  );
}

/** Compilation messages with the source line each points at. */
function describeMessages(messages: readonly GPUCompilationMessage[], code: string): string[] {
  const lines = code.split('\n');
  return formatCompilationMessages(messages).map(
    (text, k) => `${text}\n    | ${lines[(messages[k]?.lineNum ?? 0) - 1] ?? ''}`,
  );
}

describe.skipIf(!opened.ok)('generated WGSL compiles in Dawn', () => {
  afterAll(() => {
    if (opened.ok) opened.gpu.close();
  });

  it.each(SUBJECTS.map((s) => [s.label, s] as const))('%s', async (_label, subject) => {
    if (!opened.ok) return;
    if (subject.network === undefined) expect.fail(subject.error ?? 'no network');
    const device = opened.gpu.device;
    const plan = planOf(subject.network);
    const code = generateSource(plan, 'wgsl');

    let module: GPUShaderModule | undefined;
    const moduleErrors = await scopedErrors(
      device,
      () => (module = device.createShaderModule({ code })),
    );
    const info = await module!.getCompilationInfo();
    const problems = info.messages.filter((m) => m.type === 'error' || m.type === 'warning');
    expect(
      describeMessages(problems, code),
      `WGSL compilation errors or warnings (device: ${opened.gpu.description})`,
    ).toEqual([]);
    expect(moduleErrors, 'errors creating the shader module').toEqual([]);

    const entryPoints = computeEntryPoints(code);
    expect(entryPoints.length, 'no @compute entry point found').toBeGreaterThan(0);
    const dispatched = (
      manifest(plan, 'wgsl')['dispatch_per_step'] as { entry_point: string }[]
    ).map((d) => d.entry_point);
    expect(
      dispatched.filter((e) => !entryPoints.includes(e)),
      'entry points the manifest dispatches but the module lacks',
    ).toEqual([]);
    for (const entryPoint of entryPoints) {
      const errors = await scopedErrors(device, () =>
        device.createComputePipeline({ layout: 'auto', compute: { module: module!, entryPoint } }),
      );
      expect(errors, `errors creating the compute pipeline for ${entryPoint}`).toEqual([]);
    }
  });
});
