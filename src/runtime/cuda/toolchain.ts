/**
 * From generated CUDA source to a loaded module: the on-disk cache, then NVRTC, then nvcc.
 *
 * Cache: `$XDG_CACHE_HOME/spikeforge/cuda` (default `~/.cache/spikeforge/cuda`), one file per
 * (source, GPU architecture): `<sha256>.cubin` or `<sha256>.ptx`, written atomically (a
 * temporary name, then a rename), so that concurrent runs never read half a file. A cached
 * image the driver refuses (a driver downgrade, a truncated file) is deleted and rebuilt.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { makeFolder, writeFileAtomic } from '../write-file.js';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { InternalError } from '../../diagnostics/diagnostic.js';
import { BackendUnavailableError } from '../webgpu/backend.js';
import { CU, type CudaDriver, type Handle } from './driver.js';
import { findNvcc } from './find.js';
import { type CudaImage, Nvrtc, cudaCompileOptions } from './nvrtc.js';

type Koffi = typeof import('koffi').default;

/**
 * Prepended to the generated source for the runtime. NVRTC includes no system header, so
 * math.h's INFINITY / NAN / HUGE_VAL (which the CUDA printer uses) are defined here from
 * their bit patterns; under nvcc math.h has defined them already and this does nothing.
 */
export const RUNTIME_PREAMBLE = `// spikeforge runtime preamble: math.h's constants where no system header is included (NVRTC).
#ifndef INFINITY
#define INFINITY __int_as_float(0x7f800000)
#endif
#ifndef NAN
#define NAN __int_as_float(0x7fffffff)
#endif
#ifndef HUGE_VALF
#define HUGE_VALF INFINITY
#endif
#ifndef HUGE_VAL
#define HUGE_VAL __longlong_as_double(0x7ff0000000000000LL)
#endif
`;

/** Bumped when what goes into an image changes other than through the source and the options. */
const CACHE_VERSION = 'spikeforge-cuda-1';

/** The folder of the compiled-module cache. */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const base =
    env['XDG_CACHE_HOME'] !== undefined && env['XDG_CACHE_HOME'] !== ''
      ? env['XDG_CACHE_HOME']
      : join(homedir(), '.cache');
  return join(base, 'spikeforge', 'cuda');
}

/** The cache key of a source for an architecture, compiled with `options`. */
export function cacheKey(source: string, arch: number, options: readonly string[]): string {
  return createHash('sha256')
    .update(`${CACHE_VERSION} ${options.join(' ')}\0sm_${arch}\0${source}`)
    .digest('hex');
}

/** A loaded module and where its code came from (for summary.json's device line). */
export interface LoadedModule {
  readonly module: Handle;
  /** e.g. "cached cubin", "NVRTC 13.0 cubin", "nvcc PTX (JIT by the driver)". */
  readonly origin: string;
}

/** Load failures that another kind of image may get past (PTX too new, no code for this GPU). */
const RETRY_WITH_OTHER_IMAGE: ReadonlySet<number> = new Set([
  CU.ERROR_NO_BINARY_FOR_GPU,
  CU.ERROR_UNSUPPORTED_PTX_VERSION,
  CU.ERROR_INVALID_IMAGE,
  CU.ERROR_INVALID_PTX,
  CU.ERROR_JIT_COMPILER_NOT_FOUND,
]);

/** A compiler: NVRTC through koffi, or nvcc in a child process. */
interface Compiler {
  readonly name: string;
  /** Images to try, in order, for a source and architecture (built on demand). */
  images(source: string, arch: number): Iterable<() => CudaImage>;
}

/** The highest architecture a compiler supports that is not above the device's, or undefined. */
function targetArch(arch: number, supported: readonly number[]): number | undefined {
  if (supported.length === 0 || supported.includes(arch)) return arch;
  const lower = supported.filter((a) => a <= arch);
  return lower.length === 0 ? undefined : Math.max(...lower);
}

function nvrtcCompiler(nvrtc: Nvrtc, options: readonly string[]): Compiler {
  return {
    name: `NVRTC ${nvrtc.version}`,
    *images(source, arch) {
      const target = targetArch(arch, nvrtc.architectures);
      if (target === undefined)
        throw new BackendUnavailableError(
          `CUDA backend unavailable: NVRTC ${nvrtc.version} cannot compile for sm_${arch}`,
        );
      // A cubin for the device itself when NVRTC knows it; PTX (compiled by the driver) otherwise or when the cubin is refused.
      if (target === arch && nvrtc.makesCubin)
        yield () => nvrtc.compile(source, 'spikeforge.cu', arch, 'cubin', options);
      yield () => nvrtc.compile(source, 'spikeforge.cu', target, 'ptx', options);
    },
  };
}

function nvccCompiler(nvcc: string, options: readonly string[]): Compiler {
  let listed: number[] | undefined;
  const supported = (): number[] => {
    if (listed !== undefined) return listed;
    const r = spawnSync(nvcc, ['--list-gpu-arch'], { encoding: 'utf8', timeout: 60_000 });
    listed =
      r.status === 0 ? [...r.stdout.matchAll(/compute_(\d+)/g)].map((m) => Number(m[1])) : [];
    return listed;
  };
  const build = (source: string, arch: number, kind: 'ptx' | 'cubin'): CudaImage => {
    const dir = mkdtempSync(join(tmpdir(), 'spikeforge-nvcc-'));
    try {
      const input = join(dir, 'spikeforge.cu');
      const output = join(dir, `spikeforge.${kind}`);
      writeFileSync(input, source);
      // nvcc -arch=sm_XX --ptx (or --cubin), with the options NVRTC gets.
      const r = spawnSync(
        nvcc,
        [`-arch=sm_${arch}`, `--${kind}`, ...options, '-o', output, input],
        { encoding: 'utf8', timeout: 600_000 },
      );
      if (r.status !== 0)
        throw new InternalError(
          `nvcc could not compile the generated CUDA (exit ${r.status}):\n${r.stderr}${r.error === undefined ? '' : String(r.error)}`,
        );
      return { kind, data: readFileSync(output), arch };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  return {
    name: 'nvcc',
    *images(source, arch) {
      const target = targetArch(arch, supported());
      if (target === undefined)
        throw new BackendUnavailableError(
          `CUDA backend unavailable: ${nvcc} cannot compile for sm_${arch}`,
        );
      yield () => build(source, target, 'ptx');
      if (target === arch) yield () => build(source, arch, 'cubin');
    },
  };
}

/** NVRTC if there is one, else nvcc; BackendUnavailableError when neither is there. */
export function findCompiler(koffi: Koffi, env: NodeJS.ProcessEnv = process.env): Compiler {
  const options = cudaCompileOptions(env);
  const nvrtc = Nvrtc.open(koffi, env);
  if (nvrtc !== undefined) return nvrtcCompiler(nvrtc, options);
  const nvcc = findNvcc(env);
  if (nvcc !== undefined) return nvccCompiler(nvcc, options);
  throw new BackendUnavailableError('CUDA backend unavailable: NVRTC and nvcc not found');
}

/** Whether a compiler can be had, without compiling: for probes that must not take long. */
export function compilerAvailable(
  koffi: Koffi,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  try {
    return findCompiler(koffi, env).name;
  } catch {
    return undefined;
  }
}

function describe(image: CudaImage, compiler: string): string {
  return image.kind === 'cubin'
    ? `${compiler} cubin sm_${image.arch}`
    : `${compiler} PTX compute_${image.arch}, JIT by the driver`;
}

/** The image as the driver wants it: PTX as a NUL-terminated string, a cubin as it is. */
function driverImage(image: CudaImage): Buffer {
  return image.kind === 'ptx' && image.data[image.data.length - 1] !== 0
    ? Buffer.concat([image.data, Buffer.from([0])])
    : image.data;
}

function writeAtomic(path: string, data: Buffer): void {
  try {
    writeFileAtomic(path, data);
  } catch {
    // A read-only cache only costs a recompilation next time.
  }
}

/**
 * Loads the module of `source` for the device's architecture: from the cache when it holds
 * an image the driver accepts, else compiled (NVRTC, else nvcc) and cached. Compilers are
 * looked for only on a cache miss, so a warm cache runs without a toolkit.
 */
export function loadCudaModule(
  driver: CudaDriver,
  koffi: Koffi,
  source: string,
  arch: number,
  env: NodeJS.ProcessEnv = process.env,
): LoadedModule {
  const dir = cacheDir(env);
  const key = cacheKey(source, arch, cudaCompileOptions(env));
  for (const kind of ['cubin', 'ptx'] as const) {
    const path = join(dir, `${key}.${kind}`);
    let data: Buffer;
    try {
      data = readFileSync(path);
    } catch {
      continue;
    }
    const loaded = driver.loadModule(driverImage({ kind, data, arch }));
    if (loaded.module !== undefined)
      return { module: loaded.module, origin: `cached ${kind} (${path})` };
    try {
      unlinkSync(path);
    } catch {
      // Someone else removed it.
    }
  }
  const compiler = findCompiler(koffi, env);
  const refused: string[] = [];
  for (const build of compiler.images(source, arch)) {
    const image = build();
    const loaded = driver.loadModule(driverImage(image));
    if (loaded.module !== undefined) {
      try {
        makeFolder(dir);
        writeAtomic(join(dir, `${key}.${image.kind}`), image.data);
      } catch {
        // No cache folder: compile again next time.
      }
      return { module: loaded.module, origin: describe(image, compiler.name) };
    }
    refused.push(`${describe(image, compiler.name)}: ${driver.errorName(loaded.code)}`);
    if (!RETRY_WITH_OTHER_IMAGE.has(loaded.code)) break;
  }
  throw new BackendUnavailableError(
    `CUDA backend unavailable: the driver refuses the compiled kernels (${refused.join('; ')}); the NVIDIA driver may be older than the compiler`,
  );
}
