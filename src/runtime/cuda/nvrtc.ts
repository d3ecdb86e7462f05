/**
 * NVRTC (the CUDA runtime compiler) through koffi: CUDA C++ source to a cubin for the
 * device's architecture, or to PTX that the driver compiles. Found by find.ts's order.
 */
import { InternalError } from '../../diagnostics/diagnostic.js';
import { type NvrtcCandidate, builtinsBeside, nvrtcCandidates, wheelCandidates } from './find.js';

type Koffi = typeof import('koffi').default;
type Fn = (...args: unknown[]) => unknown;

/** What a compiler produced: a cubin (machine code for one architecture) or PTX (compiled by the driver). */
export interface CudaImage {
  readonly kind: 'cubin' | 'ptx';
  readonly data: Buffer;
  /** The architecture it was built for (90 for sm_90 / compute_90). */
  readonly arch: number;
}

const NVRTC_SUCCESS = 0;

/**
 * Options every runtime compilation gets (NVRTC and nvcc spell them alike): C++17; no
 * --use_fast_math (the generated math needs accurate expf/logf); --fmad=false, so that
 * `a * b + c` is rounded twice as on the CPU float32 backend (and as the standalone program's
 * CMakeLists.txt compiles it), which keeps CUDA runs comparable to the CPU's and to each other.
 * SPIKEFORGE_CUDA_FMAD=1 lets the compiler contract into FMAs instead (faster, other last bits):
 * for measuring what the agreement costs (bench/cuda.ts).
 */
export function cudaCompileOptions(env: NodeJS.ProcessEnv = process.env): readonly string[] {
  return ['--std=c++17', env['SPIKEFORGE_CUDA_FMAD'] === '1' ? '--fmad=true' : '--fmad=false'];
}

/** An opened NVRTC library. */
export class Nvrtc {
  private readonly fns = new Map<string, Fn>();
  readonly version: string;
  /** The architectures this NVRTC compiles for (e.g. [75, 80, 86, 89, 90, ...]); empty when it cannot say. */
  readonly architectures: readonly number[];

  private constructor(
    readonly library: string,
    readonly origin: string,
    lib: ReturnType<Koffi['load']>,
  ) {
    for (const prototype of NVRTC_CALLS)
      this.fns.set(/(\w+)\s*\(/.exec(prototype)![1]!, lib.func(prototype) as Fn);
    for (const prototype of OPTIONAL_CALLS) {
      try {
        this.fns.set(/(\w+)\s*\(/.exec(prototype)![1]!, lib.func(prototype) as Fn);
      } catch {
        // An older NVRTC: no cubin output or no list of architectures.
      }
    }
    const major = [0];
    const minor = [0];
    this.version =
      this.fn('nvrtcVersion')(major, minor) === NVRTC_SUCCESS
        ? `${major[0]}.${minor[0]}`
        : 'unknown';
    const count = [0];
    const getCount = this.fns.get('nvrtcGetNumSupportedArchs');
    const getArchs = this.fns.get('nvrtcGetSupportedArchs');
    if (
      getCount !== undefined &&
      getArchs !== undefined &&
      getCount(count) === NVRTC_SUCCESS &&
      count[0]! > 0
    ) {
      const archs = new Int32Array(count[0]!);
      this.architectures = getArchs(archs) === NVRTC_SUCCESS ? [...archs] : [];
    } else {
      this.architectures = [];
    }
  }

  /**
   * Opens the first NVRTC that loads, in find.ts's order (toolkit, dynamic loader, pip
   * wheels); undefined when there is none. The builtins library beside it is loaded first
   * (RTLD_GLOBAL), so that NVRTC finds it even where its folder is not on the loader's path
   * (pip wheels).
   */
  static open(koffi: Koffi, env: NodeJS.ProcessEnv = process.env): Nvrtc | undefined {
    const tryAll = (candidates: readonly NvrtcCandidate[]): Nvrtc | undefined => {
      for (const c of candidates) {
        const builtins = builtinsBeside(c.library);
        try {
          if (builtins !== undefined) koffi.load(builtins, { global: true });
        } catch {
          // NVRTC may still find its own.
        }
        try {
          return new Nvrtc(c.library, c.origin, koffi.load(c.library));
        } catch {
          continue;
        }
      }
      return undefined;
    };
    return tryAll(nvrtcCandidates(env)) ?? tryAll(wheelCandidates(env));
  }

  private fn(name: string): Fn {
    const f = this.fns.get(name);
    if (f === undefined) throw new InternalError(`NVRTC ${this.version} lacks ${name}`);
    return f;
  }

  private check(name: string, ...args: unknown[]): void {
    const code = this.fn(name)(...args) as number;
    if (code !== NVRTC_SUCCESS)
      throw new InternalError(`${name} failed: ${this.errorString(code)}`);
  }

  private errorString(code: number): string {
    const s = this.fns.get('nvrtcGetErrorString')?.(code);
    return typeof s === 'string' ? `${s} (${code})` : `nvrtcResult ${code}`;
  }

  /** Whether this NVRTC can write a cubin (NVRTC 11.1+). */
  get makesCubin(): boolean {
    return this.fns.has('nvrtcGetCUBIN');
  }

  /**
   * Compiles `source` for the architecture `arch`: a cubin (`-arch=sm_XX`) when `kind` is
   * 'cubin' and this NVRTC can, else PTX (`-arch=compute_XX`). A compilation error is an
   * InternalError (the generated code is spikeforge's), with NVRTC's log.
   */
  compile(
    source: string,
    name: string,
    arch: number,
    kind: 'cubin' | 'ptx',
    compileOptions: readonly string[],
  ): CudaImage {
    const program: (bigint | null)[] = [null];
    this.check('nvrtcCreateProgram', program, source, name, 0, null, null);
    try {
      const cubin = kind === 'cubin' && this.makesCubin;
      const options = [`--gpu-architecture=${cubin ? 'sm' : 'compute'}_${arch}`, ...compileOptions];
      const code = this.fn('nvrtcCompileProgram')(program[0], options.length, options) as number;
      if (code !== NVRTC_SUCCESS)
        throw new InternalError(
          `NVRTC ${this.version} could not compile the generated CUDA (${this.errorString(code)}):\n${this.log(program[0]!)}`,
        );
      const size: (number | bigint)[] = [0];
      this.check(cubin ? 'nvrtcGetCUBINSize' : 'nvrtcGetPTXSize', program[0], size);
      const data = Buffer.alloc(Number(size[0]));
      this.check(cubin ? 'nvrtcGetCUBIN' : 'nvrtcGetPTX', program[0], data);
      return { kind: cubin ? 'cubin' : 'ptx', data, arch };
    } finally {
      this.fns.get('nvrtcDestroyProgram')?.(program);
    }
  }

  private log(program: bigint): string {
    const size: (number | bigint)[] = [0];
    if (this.fn('nvrtcGetProgramLogSize')(program, size) !== NVRTC_SUCCESS) return '(no log)';
    const log = Buffer.alloc(Number(size[0]));
    if (this.fn('nvrtcGetProgramLog')(program, log) !== NVRTC_SUCCESS) return '(no log)';
    return log.toString('utf8').replace(/\0+$/, '');
  }
}

const NVRTC_CALLS: readonly string[] = [
  'int nvrtcVersion(_Out_ int *major, _Out_ int *minor)',
  'const char *nvrtcGetErrorString(int result)',
  'int nvrtcCreateProgram(_Out_ void **prog, const char *src, const char *name, int numHeaders, const char **headers, const char **includeNames)',
  'int nvrtcDestroyProgram(_Inout_ void **prog)',
  'int nvrtcCompileProgram(void *prog, int numOptions, const char **options)',
  'int nvrtcGetPTXSize(void *prog, _Out_ size_t *size)',
  'int nvrtcGetPTX(void *prog, void *ptx)',
  'int nvrtcGetProgramLogSize(void *prog, _Out_ size_t *size)',
  'int nvrtcGetProgramLog(void *prog, void *log)',
];

const OPTIONAL_CALLS: readonly string[] = [
  'int nvrtcGetCUBINSize(void *prog, _Out_ size_t *size)',
  'int nvrtcGetCUBIN(void *prog, void *cubin)',
  'int nvrtcGetNumSupportedArchs(_Out_ int *count)',
  'int nvrtcGetSupportedArchs(int *archs)',
];
