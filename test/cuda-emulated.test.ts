/**
 * The CUDA backend's host side, run against an emulated driver: no GPU needed.
 *
 * The test builds, with the host C++ compiler,
 *   - a fake libcuda.so.1 implementing every driver call the backend binds (cuInit ...
 *     cuLaunchKernel, stream capture and graphs): device memory is host memory (filled with
 *     0xff bytes when allocated, so nothing may rely on zeroed memory), a launch runs the
 *     kernel's threads one after the other, a capture records launches with their argument
 *     values copied (as the driver does) and a graph launch replays them;
 *   - the kernels the backend generates (its exact source: float, the step read from device
 *     memory), compiled as host C++ with a small CUDA emulation header.
 * The backend opens the fake through SPIKEFORGE_LIBCUDA, compiles its source with the real
 * nvcc (PTX; the fake ignores the image) into a temporary cache, and runs. This checks the
 * FFI bindings (argument types, out-parameters, the kernel argument block), the buffer
 * layout, the first-step word, chunking, graph capture and replay, the cache, the read-back,
 * readState and the end-of-run state read (visitState: NaN and infinite states), against the
 * CPU float32 backend: LIF networks without per-step transcendental calls must give identical
 * spikes and traces.
 *
 * What it cannot check: real GPU concurrency (atomics order is sequential here), the
 * device's math library, NVRTC, driver behaviour beyond the documented API.
 * Skipped, with the reason printed, without a C++ compiler or nvcc.
 */
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { emitCudaModule } from '../src/codegen/cuda/kernel.js';
import { CudaPrinter } from '../src/codegen/cuda/printer.js';
import { kernelPrinter } from '../src/codegen/emit.js';
import { buildPlan, layoutOf } from '../src/codegen/module.js';
import type { Network } from '../src/ir/types.js';
import type { Backend, SimulationPlan } from '../src/runtime/backend.js';
import { CudaBackend, type CudaLaunchMode } from '../src/runtime/cuda/backend.js';
import { RUNTIME_PREAMBLE } from '../src/runtime/cuda/toolchain.js';
import type { NonFiniteState } from '../src/runtime/non-finite.js';
import { cpuBackend } from '../src/runtime/select.js';
import { simulate } from '../src/runtime/simulate.js';
import { ROOT, compileNetworks } from './golden/cases.js';
import { EMULATION_HEADER } from './support/cuda-emulation.js';

const TEMP = mkdtempSync(join(tmpdir(), 'spikeforge-cuda-emulated-'));
afterAll(() => rmSync(TEMP, { recursive: true, force: true }));

const CXX = ['g++', 'c++', 'clang++'].find((c) => spawnSync(c, ['--version']).status === 0);
const NVCC = ['nvcc', '/usr/local/cuda/bin/nvcc'].find(
  (c) => spawnSync(c, ['--version']).status === 0,
);
const SKIP =
  CXX === undefined
    ? 'no C++ compiler'
    : NVCC === undefined
      ? 'nvcc not found (the backend compiles with it here)'
      : undefined;
if (SKIP !== undefined) console.warn(`cuda-emulated tests SKIPPED: ${SKIP}`);

/** The fake driver: the calls src/runtime/cuda/driver.ts binds, on host memory. */
const FAKE_DRIVER = String.raw`#include <dlfcn.h>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {
typedef void (*Kernel)(void*, void*, void*, const void*, const void*, unsigned);
struct Index { unsigned x, y, z; };
struct Module { void* so; Index* block; Index* dim; Index* thread; };
struct Function { Kernel kernel; Module* module; };
struct Node { Function* f; unsigned grid, block; void* args[5]; unsigned chunk_step; };
struct Graph { std::vector<Node> nodes; };
bool capturing = false;
Graph* capture = nullptr;
unsigned long long launches = 0, graph_launches = 0, captured = 0;

void run(const Node& n) {
  for (unsigned b = 0; b < n.grid; ++b) {
    for (unsigned t = 0; t < n.block; ++t) {
      *n.f->module->block = Index{b, 0, 0};
      *n.f->module->dim = Index{n.block, 0, 0};
      *n.f->module->thread = Index{t, 0, 0};
      n.f->kernel(n.args[0], n.args[1], n.args[2], n.args[3], n.args[4], n.chunk_step);
    }
  }
}

void log_counts() {
  const char* path = std::getenv("SF_FAKE_CUDA_LOG");
  if (path == nullptr) return;
  std::FILE* f = std::fopen(path, "w");
  if (f == nullptr) return;
  std::fprintf(f, "%llu %llu %llu\n", launches, graph_launches, captured);
  std::fclose(f);
  launches = graph_launches = captured = 0;
}
}  // namespace

extern "C" {
int cuInit(unsigned) { return 0; }
int cuDriverGetVersion(int* v) { *v = 13000; return 0; }
int cuDeviceGetCount(int* n) { *n = 1; return 0; }
int cuDeviceGet(int* d, int ordinal) { if (ordinal != 0) return 101; *d = 0; return 0; }
int cuDeviceGetName(char* name, int len, int) { std::snprintf(name, static_cast<std::size_t>(len), "Emulated GPU"); return 0; }
int cuDeviceGetAttribute(int* v, int attribute, int) { *v = attribute == 75 ? 9 : attribute == 76 ? 0 : 1; return 0; }
int cuDeviceTotalMem_v2(std::size_t* bytes, int) { *bytes = std::size_t(1) << 34; return 0; }
int cuDevicePrimaryCtxRetain(void** ctx, int) { *ctx = reinterpret_cast<void*>(0x10); return 0; }
int cuDevicePrimaryCtxRelease_v2(int) { log_counts(); return 0; }
int cuCtxSetCurrent(void* ctx) { return ctx == reinterpret_cast<void*>(0x10) ? 0 : 201; }
int cuModuleLoadData(void** module, const void* image) {
  const char* text = static_cast<const char*>(image);
  if (std::strstr(text, ".version") == nullptr && std::memcmp(text, "\x7f" "ELF", 4) != 0) return 200;
  const char* path = std::getenv("SF_FAKE_CUDA_KERNELS");
  void* so = path == nullptr ? nullptr : dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (so == nullptr) { std::fprintf(stderr, "fake cuda: %s\n", dlerror()); return 200; }
  Module* m = new Module{so, static_cast<Index*>(dlsym(so, "blockIdx")), static_cast<Index*>(dlsym(so, "blockDim")), static_cast<Index*>(dlsym(so, "threadIdx"))};
  if (m->block == nullptr || m->dim == nullptr || m->thread == nullptr) return 200;
  *module = m;
  return 0;
}
int cuModuleUnload(void* module) { Module* m = static_cast<Module*>(module); dlclose(m->so); delete m; return 0; }
int cuModuleGetFunction(void** fn, void* module, const char* name) {
  Module* m = static_cast<Module*>(module);
  void* k = dlsym(m->so, name);
  if (k == nullptr) return 500;
  *fn = new Function{reinterpret_cast<Kernel>(k), m};
  return 0;
}
int cuMemAlloc_v2(std::uint64_t* p, std::size_t bytes) { void* m = std::malloc(bytes); std::memset(m, 0xff, bytes); *p = reinterpret_cast<std::uint64_t>(m); return 0; }
int cuMemFree_v2(std::uint64_t p) { std::free(reinterpret_cast<void*>(p)); return 0; }
int cuMemcpyHtoD_v2(std::uint64_t dst, const void* src, std::size_t n) { if (capturing) return 900; std::memcpy(reinterpret_cast<void*>(dst), src, n); return 0; }
int cuMemcpyDtoH_v2(void* dst, std::uint64_t src, std::size_t n) { if (capturing) return 900; std::memcpy(dst, reinterpret_cast<void*>(src), n); return 0; }
int cuMemsetD32_v2(std::uint64_t dst, unsigned v, std::size_t n) { unsigned* p = reinterpret_cast<unsigned*>(dst); for (std::size_t k = 0; k < n; ++k) p[k] = v; return 0; }
int cuMemsetD32Async(std::uint64_t dst, unsigned v, std::size_t n, void*) { if (capturing) return 900; return cuMemsetD32_v2(dst, v, n); }
int cuMemcpyDtoDAsync_v2(std::uint64_t dst, std::uint64_t src, std::size_t n, void*) { if (capturing) return 900; std::memcpy(reinterpret_cast<void*>(dst), reinterpret_cast<void*>(src), n); return 0; }
int cuEventCreate(void** e, unsigned) { *e = new double(0); return 0; }
int cuEventRecord(void* e, void*) { if (capturing) return 900; *static_cast<double*>(e) = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count(); return 0; }
int cuEventSynchronize(void*) { return 0; }
int cuEventElapsedTime(float* ms, void* start, void* end) { *ms = static_cast<float>(*static_cast<double*>(end) - *static_cast<double*>(start)); return 0; }
int cuEventDestroy_v2(void* e) { delete static_cast<double*>(e); return 0; }
int cuMemGetInfo_v2(std::size_t* free_bytes, std::size_t* total) { *free_bytes = std::size_t(1) << 33; *total = std::size_t(1) << 34; return 0; }
int cuStreamCreate(void** s, unsigned) { *s = new int(0); return 0; }
int cuStreamDestroy_v2(void* s) { delete static_cast<int*>(s); return 0; }
int cuStreamSynchronize(void*) { return capturing ? 900 : 0; }
int cuLaunchKernel(void* f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz, unsigned shared, void* stream, void** params, void** extra) {
  if (gx == 0 || bx == 0 || gy != 1 || gz != 1 || by != 1 || bz != 1 || shared != 0 || stream == nullptr || extra != nullptr || bx > 1024) return 1;
  Node n{static_cast<Function*>(f), gx, bx, {}, 0};
  for (int k = 0; k < 5; ++k) std::memcpy(&n.args[k], params[k], sizeof(void*));
  std::memcpy(&n.chunk_step, params[5], sizeof(unsigned));
  if (capturing) { capture->nodes.push_back(n); ++captured; return 0; }
  ++launches;
  run(n);
  return 0;
}
int cuStreamBeginCapture_v2(void*, int mode) { if (capturing || mode != 1) return 1; capturing = true; capture = new Graph; return 0; }
int cuStreamEndCapture(void*, void** graph) { if (!capturing) return 1; capturing = false; *graph = capture; capture = nullptr; return 0; }
int cuGraphInstantiateWithFlags(void** exec, void* graph, unsigned long long) { *exec = new Graph(*static_cast<Graph*>(graph)); return 0; }
int cuGraphLaunch(void* exec, void*) { ++graph_launches; for (const Node& n : static_cast<Graph*>(exec)->nodes) run(n); return 0; }
int cuGraphExecDestroy(void* exec) { delete static_cast<Graph*>(exec); return 0; }
int cuGraphDestroy(void* graph) { delete static_cast<Graph*>(graph); return 0; }
int cuGetErrorName(int error, const char** s) {
  static std::string text;
  text = "CUDA_ERROR_FAKE_" + std::to_string(error);
  *s = text.c_str();
  return 0;
}
}
`;

function build(args: string[]): void {
  const r = spawnSync(CXX!, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${CXX} ${args.join(' ')}:\n${r.stderr}`);
}

const FAKE = join(TEMP, 'fake', 'libcuda.so.1');
if (SKIP === undefined) {
  mkdirSync(join(TEMP, 'fake'), { recursive: true });
  writeFileSync(join(TEMP, 'fake', 'fake_cuda.cpp'), FAKE_DRIVER);
  writeFileSync(join(TEMP, 'sf_emu.h'), EMULATION_HEADER);
  build([
    '-std=c++17',
    '-O1',
    '-shared',
    '-fPIC',
    '-o',
    FAKE,
    join(TEMP, 'fake', 'fake_cuda.cpp'),
    '-ldl',
  ]);
}

/** The backend's own source as a host shared library (float, no FMA contraction, as --fmad=false). */
function emulatedKernels(plan: SimulationPlan, tag: string): string {
  const layout = layoutOf(plan);
  const source =
    RUNTIME_PREAMBLE +
    emitCudaModule(
      plan.kernels,
      layout,
      kernelPrinter(new CudaPrinter({ precision: 'f32' })),
      plan.network.seed,
      'f32',
      { stepSource: 'device' },
    );
  const cu = join(TEMP, `${tag}.cpp`);
  writeFileSync(cu, source);
  const so = join(TEMP, `${tag}.so`);
  build([
    '-std=c++17',
    '-O1',
    '-ffp-contract=off',
    '-shared',
    '-fPIC',
    '-include',
    join(TEMP, 'sf_emu.h'),
    '-o',
    so,
    cu,
  ]);
  return so;
}

interface Run {
  readonly spikes: Map<string, { steps: number[]; indices: number[] }>;
  readonly traces: Float64Array[];
  readonly state: Map<string, ReadonlyMap<string, Float64Array>>;
  readonly nonFinite: readonly NonFiniteState[];
}

async function runOn(plan: SimulationPlan, backend: Backend): Promise<Run> {
  try {
    await backend.prepare(plan);
    const { chunks, nonFinite } = await simulate(plan, backend);
    const spikes = new Map(
      plan.spikeRecords.map((p) => [p, { steps: [] as number[], indices: [] as number[] }]),
    );
    const parts: number[][] = plan.traces.map(() => []);
    for (const chunk of chunks) {
      for (const [p, s] of chunk.spikes) {
        spikes.get(p)!.steps.push(...s.steps);
        spikes.get(p)!.indices.push(...s.indices);
      }
      chunk.traces.forEach((t, r) => parts[r]!.push(...t));
    }
    const state = new Map<string, ReadonlyMap<string, Float64Array>>();
    for (const p of plan.network.populations) state.set(p.name, await backend.readState(p.name));
    return { spikes, traces: parts.map((p) => Float64Array.from(p)), state, nonFinite };
  } finally {
    backend.dispose();
  }
}

function planOf(file: string, name: string, duration?: number): SimulationPlan {
  const network = compileNetworks(join(ROOT, file)).find((n) => n.name === name);
  if (network === undefined) throw new Error(`no ${name} in ${file}`);
  const n: Network = duration === undefined ? network : { ...network, duration };
  return buildPlan(n, Math.round(n.duration / n.dt));
}

const NETWORKS = [
  ['test/models/conformance/rt_basic.spk', 'RtBasic', undefined],
  ['test/models/conformance/rt_random.spk', 'RtRandom', undefined],
  ['test/models/conformance/rt_refractory.spk', 'RtRefractory', 100],
  ['examples/ei_net.spk', 'EINet', 30],
  ['test/models/conformance/rt_synapses.spk', 'RtSynapses', undefined],
  ['test/models/conformance/rt_neuron_reads.spk', 'RtNeuronReads', undefined],
  ['test/models/conformance/rt_per_neuron.spk', 'RtPerNeuron', undefined],
] as const;

describe.skipIf(SKIP !== undefined)('CUDA backend on an emulated driver', () => {
  it.each(NETWORKS.map(([file, name, duration]) => [name, file, duration] as const))(
    '%s: every launch mode equals the CPU float32 backend',
    async (name, file, duration) => {
      const plan = planOf(file, name, duration);
      const kernels = emulatedKernels(plan, name);
      const cache = join(TEMP, 'cache');
      const log = join(TEMP, `${name}.log`);
      const env = {
        ...process.env,
        SPIKEFORGE_LIBCUDA: FAKE,
        XDG_CACHE_HOME: cache,
        SF_FAKE_CUDA_KERNELS: kernels,
        SF_FAKE_CUDA_LOG: log,
      };
      // The fake reads its variables with getenv when the module is loaded.
      Object.assign(process.env, { SF_FAKE_CUDA_KERNELS: kernels, SF_FAKE_CUDA_LOG: log });
      const cpu = await runOn(plan, cpuBackend('f32'));
      const notes: string[] = [];
      for (const launch of ['direct', 'graph', 'auto'] as CudaLaunchMode[]) {
        // Chunks of 37 steps: several full chunks and a shorter last one.
        const backend = new CudaBackend({ launch, env, chunkSteps: 37 });
        const cuda = await runOn(plan, backend);
        expect(backend.device).toMatch(
          /^Emulated GPU \(sm_90, driver CUDA 13\.0, float32, (nvcc PTX|cached ptx)/,
        );
        for (const p of plan.spikeRecords)
          expect(cuda.spikes.get(p), `${name} ${launch} ${p} spikes`).toEqual(cpu.spikes.get(p));
        plan.traces.forEach((t, r) =>
          expect(cuda.traces[r], `${name} ${launch} ${t.population}.${t.variable}`).toEqual(
            cpu.traces[r],
          ),
        );
        for (const [population, states] of cpu.state) {
          for (const [s, values] of states)
            expect(
              cuda.state.get(population)?.get(s),
              `${name} ${launch} final ${population}.${s}`,
            ).toEqual(values);
        }
        const [launches, graphLaunches, captured] = readFileSync(log, 'utf8')
          .trim()
          .split(' ')
          .map(Number) as [number, number, number];
        const chunks = Math.ceil(plan.steps / 37);
        const lengths = new Set([37, plan.steps % 37 || 37].filter((l) => l <= plan.steps));
        if (launch === 'direct') expect(graphLaunches).toBe(0);
        if (launch === 'graph') expect([graphLaunches, launches]).toEqual([chunks, 0]);
        if (launch === 'auto')
          expect(graphLaunches).toBe(Math.max(0, Math.floor(plan.steps / 37) - 1));
        expect(backend.stats.graphChunks + backend.stats.directChunks).toBe(chunks);
        // Events around the launches: the kernels' time is part of the chunks' time.
        expect(backend.stats.kernelSeconds).toBeGreaterThan(0);
        expect(backend.stats.kernelSeconds).toBeLessThanOrEqual(backend.stats.chunkSeconds);
        expect(backend.stats.captures).toBe(
          launch === 'direct'
            ? 0
            : launch === 'graph'
              ? lengths.size
              : Math.floor(plan.steps / 37) >= 2
                ? 1
                : 0,
        );
        notes.push(
          `${launch}: ${launches} launches, ${graphLaunches} graph launches (${captured} captured nodes)`,
        );
      }
      const cached = readdirSync(join(cache, 'spikeforge', 'cuda'));
      expect(cached.some((f) => f.endsWith('.ptx'))).toBe(true);
      console.log(
        `cuda-emulated: ${name}, ${plan.steps} steps: identical to CPU float32; ${notes.join('; ')}`,
      );
    },
  );

  it.each([
    ['test/models/non-finite/synapses.spk', 'SynapsesBlowUp'],
    ['test/models/non-finite/blow_up.spk', 'BlowUp'],
  ] as const)(
    '%s: the state read back once at the end shows the same NaN and infinite states as on the CPU',
    async (file, name) => {
      const plan = planOf(file, name);
      const kernels = emulatedKernels(plan, name);
      const env = {
        ...process.env,
        SPIKEFORGE_LIBCUDA: FAKE,
        XDG_CACHE_HOME: join(TEMP, 'cache'),
        SF_FAKE_CUDA_KERNELS: kernels,
      };
      Object.assign(process.env, { SF_FAKE_CUDA_KERNELS: kernels });
      const cpu = await runOn(plan, cpuBackend('f32'));
      const cuda = await runOn(plan, new CudaBackend({ env, chunkSteps: 37 }));
      expect(cpu.nonFinite.length).toBeGreaterThanOrEqual(3);
      expect(cuda.nonFinite).toEqual(cpu.nonFinite);
    },
  );

  it('a cached image the driver refuses is rebuilt', async () => {
    const plan = planOf('test/models/conformance/rt_basic.spk', 'RtBasic');
    const kernels = emulatedKernels(plan, 'RtBasicCache');
    const cache = join(TEMP, 'cache2');
    const env = { ...process.env, SPIKEFORGE_LIBCUDA: FAKE, XDG_CACHE_HOME: cache };
    Object.assign(process.env, { SF_FAKE_CUDA_KERNELS: kernels });
    const first = new CudaBackend({ env });
    await first.prepare(plan);
    expect(first.device).toContain('nvcc PTX');
    first.dispose();
    const dir = join(cache, 'spikeforge', 'cuda');
    const [file] = readdirSync(dir);
    const second = new CudaBackend({ env });
    await second.prepare(plan);
    expect(second.device).toContain('cached ptx');
    second.dispose();
    // A file the (fake) driver refuses: not PTX.
    writeFileSync(join(dir, file!), 'garbage');
    const third = new CudaBackend({ env });
    await third.prepare(plan);
    expect(third.device).toContain('nvcc PTX');
    third.dispose();
    expect(existsSync(join(dir, file!))).toBe(true);
    expect(readFileSync(join(dir, file!), 'utf8')).toContain('.version');
  });

  it('NVRTC and nvcc missing: the one sentence', async () => {
    const plan = planOf('test/models/conformance/rt_basic.spk', 'RtBasic');
    const env = {
      SPIKEFORGE_LIBCUDA: FAKE,
      XDG_CACHE_HOME: join(TEMP, 'empty-cache'),
      PATH: '/nonexistent',
      HOME: TEMP,
    };
    const backend = new CudaBackend({ env });
    // /usr/local/cuda/bin/nvcc is always looked at: only where it is missing is the sentence reachable.
    if (existsSync('/usr/local/cuda/bin/nvcc') || existsSync('/usr/local/cuda/lib64')) {
      console.log(
        'cuda-emulated: "NVRTC and nvcc not found" not checked: /usr/local/cuda exists here',
      );
      backend.dispose();
      return;
    }
    await expect(backend.prepare(plan)).rejects.toMatchObject({
      name: 'BackendUnavailableError',
      message: 'CUDA backend unavailable: NVRTC and nvcc not found',
    });
    backend.dispose();
  });
});
