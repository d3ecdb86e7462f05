/**
 * Where the CUDA pieces the runtime needs are looked for: the driver library (libcuda.so.1,
 * part of the NVIDIA driver, found by the dynamic loader only), NVRTC (libnvrtc.so*, part of
 * the toolkit, in several places) and nvcc (the fallback compiler). Nothing here loads a
 * library; it only lists and checks paths, so that the order can be tested without a GPU.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';

/**
 * The names the driver library is opened by, in order, each through the dynamic loader
 * (LD_LIBRARY_PATH, /etc/ld.so.cache, the default folders): the versioned soname that the
 * driver installs. The toolkit's stub (lib64/stubs/libcuda.so) is never named: it only
 * satisfies the linker, and cuInit in it fails with CUDA_ERROR_STUB_LIBRARY.
 */
export const DRIVER_LIBRARY_NAMES: readonly string[] = ['libcuda.so.1'];

/**
 * The driver library to open: $SPIKEFORGE_LIBCUDA when set (a path: a driver installed
 * somewhere the loader does not look, or the emulated driver of test/cuda-emulated.test.ts),
 * else DRIVER_LIBRARY_NAMES through the dynamic loader.
 */
export function driverLibraries(env: NodeJS.ProcessEnv = process.env): readonly string[] {
  const override = env['SPIKEFORGE_LIBCUDA'];
  return override !== undefined && override !== '' ? [override] : DRIVER_LIBRARY_NAMES;
}

/** The NVRTC sonames tried through the dynamic loader after the folders, newest first. */
export const NVRTC_SONAMES: readonly string[] = [
  'libnvrtc.so.13',
  'libnvrtc.so.12',
  'libnvrtc.so.11.2',
  'libnvrtc.so',
];

/** A toolkit root from the environment (CUDA_PATH, then CUDA_HOME), if set. */
function toolkitRoots(env: NodeJS.ProcessEnv): string[] {
  return [env['CUDA_PATH'], env['CUDA_HOME']].filter(
    (r): r is string => r !== undefined && r !== '',
  );
}

/** The library folders of a toolkit root: lib64, then the x86_64 target folder. */
function toolkitLibraryDirs(root: string): string[] {
  return [join(root, 'lib64'), join(root, 'targets', 'x86_64-linux', 'lib'), join(root, 'lib')];
}

/**
 * Python site-packages folders where NVIDIA's wheels put NVRTC: the interpreter's own list
 * (asked once, only when the earlier places had none), plus the usual folders of virtual
 * environments, conda and user installs.
 */
export function sitePackagesDirs(env: NodeJS.ProcessEnv = process.env, askPython = true): string[] {
  const dirs: string[] = [];
  for (const prefix of [env['VIRTUAL_ENV'], env['CONDA_PREFIX']]) {
    if (prefix === undefined || prefix === '') continue;
    dirs.push(...pythonLibDirs(join(prefix, 'lib')));
  }
  dirs.push(...pythonLibDirs(join(homedir(), '.local', 'lib')));
  dirs.push(...pythonLibDirs('/usr/local/lib'), ...pythonLibDirs('/usr/lib'));
  if (askPython) {
    for (const python of ['python3', 'python']) {
      const r = spawnSync(
        python,
        [
          '-c',
          'import site, sys; print("\\n".join(site.getsitepackages() + [site.getusersitepackages()]))',
        ],
        { encoding: 'utf8', timeout: 10_000 },
      );
      if (r.status === 0) {
        dirs.push(
          ...r.stdout
            .split('\n')
            .map((l) => l.trim())
            .filter((l) => l !== ''),
        );
        break;
      }
    }
  }
  return [...new Set(dirs)];
}

/** `<lib>/python3.*\/{site,dist}-packages` folders that exist. */
function pythonLibDirs(lib: string): string[] {
  let names: string[];
  try {
    names = readdirSync(lib).filter((n) => /^python3(\.\d+)?$/.test(n));
  } catch {
    return [];
  }
  return names
    .flatMap((n) => ['site-packages', 'dist-packages'].map((p) => join(lib, n, p)))
    .filter((d) => existsSync(d));
}

/** One place NVRTC may be: a file to open by path, or a soname for the dynamic loader. */
export interface NvrtcCandidate {
  /** An absolute path, or a bare soname (opened through the dynamic loader). */
  readonly library: string;
  /** Where the candidate comes from, for messages. */
  readonly origin: string;
}

/** Version numbers of a `libnvrtc.so.X.Y` name ([X, Y]; [] for plain libnvrtc.so), for sorting. */
function sonameVersion(name: string): number[] {
  return name
    .slice('libnvrtc.so'.length)
    .split('.')
    .filter((p) => p !== '')
    .map(Number);
}

/** The NVRTC libraries in one folder, newest version first (libnvrtc-builtins excluded). */
export function nvrtcInDir(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const found = names.filter((n) => /^libnvrtc\.so(\.\d+)*$/.test(n));
  found.sort((a, b) => {
    const va = sonameVersion(a);
    const vb = sonameVersion(b);
    for (let k = 0; k < Math.max(va.length, vb.length); k++) {
      const d = (vb[k] ?? -1) - (va[k] ?? -1);
      if (d !== 0) return d;
    }
    return 0;
  });
  return found.map((n) => join(dir, n));
}

/**
 * Every place NVRTC is looked for, in order:
 *   1. $CUDA_PATH (then $CUDA_HOME): lib64, targets/x86_64-linux/lib, lib;
 *   2. /usr/local/cuda: lib64, targets/x86_64-linux/lib;
 *   3. the dynamic loader: the folders of LD_LIBRARY_PATH, then the sonames libnvrtc.so.13,
 *      .12, .11.2 and libnvrtc.so by name (ld.so.cache and the default folders);
 *   4. NVIDIA's pip wheels: site-packages/nvidia/cu13/lib (CUDA 13 wheels) and
 *      site-packages/nvidia/cuda_nvrtc/lib (CUDA 12 and 11 wheels).
 * Within a folder the newest soname comes first. The wheels are listed lazily (they need a
 * python process) by `wheelCandidates`.
 */
export function nvrtcCandidates(env: NodeJS.ProcessEnv = process.env): NvrtcCandidate[] {
  const list: NvrtcCandidate[] = [];
  for (const root of toolkitRoots(env))
    for (const dir of toolkitLibraryDirs(root))
      for (const library of nvrtcInDir(dir))
        list.push({
          library,
          origin: `${root === env['CUDA_PATH'] ? 'CUDA_PATH' : 'CUDA_HOME'} (${dir})`,
        });
  for (const dir of toolkitLibraryDirs('/usr/local/cuda').slice(0, 2))
    for (const library of nvrtcInDir(dir)) list.push({ library, origin: dir });
  for (const dir of (env['LD_LIBRARY_PATH'] ?? '').split(delimiter).filter((d) => d !== ''))
    for (const library of nvrtcInDir(dir))
      list.push({ library, origin: `LD_LIBRARY_PATH (${dir})` });
  for (const soname of NVRTC_SONAMES) list.push({ library: soname, origin: 'the dynamic loader' });
  return dedupe(list);
}

/** NVRTC from NVIDIA's pip wheels (step 4 of nvrtcCandidates). */
export function wheelCandidates(env: NodeJS.ProcessEnv = process.env): NvrtcCandidate[] {
  const list: NvrtcCandidate[] = [];
  for (const site of sitePackagesDirs(env)) {
    for (const sub of [join('nvidia', 'cu13', 'lib'), join('nvidia', 'cuda_nvrtc', 'lib')]) {
      for (const library of nvrtcInDir(join(site, sub)))
        list.push({ library, origin: `pip wheel (${join(site, sub)})` });
    }
  }
  return dedupe(list);
}

function dedupe(list: NvrtcCandidate[]): NvrtcCandidate[] {
  const seen = new Set<string>();
  return list.filter((c) => (seen.has(c.library) ? false : (seen.add(c.library), true)));
}

/** The NVRTC builtins library beside an NVRTC file (preloaded so NVRTC finds it wherever it is). */
export function builtinsBeside(library: string): string | undefined {
  if (!library.includes('/')) return undefined;
  const dir = library.slice(0, library.lastIndexOf('/'));
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return undefined;
  }
  const found = names
    .filter((n) => /^libnvrtc-builtins\.so(\.\d+)*$/.test(n))
    .sort((a, b) => b.length - a.length || b.localeCompare(a));
  return found[0] === undefined ? undefined : join(dir, found[0]);
}

/**
 * nvcc, the fallback compiler when there is no NVRTC: $CUDA_PATH/bin (then $CUDA_HOME/bin),
 * PATH, /usr/local/cuda/bin. Undefined when none runs.
 */
export function findNvcc(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const candidates = [
    ...toolkitRoots(env).map((r) => join(r, 'bin', 'nvcc')),
    ...(env['PATH'] ?? '')
      .split(delimiter)
      .filter((d) => d !== '')
      .map((d) => join(d, 'nvcc')),
    '/usr/local/cuda/bin/nvcc',
  ];
  for (const c of new Set(candidates)) {
    try {
      if (!statSync(c).isFile()) continue;
    } catch {
      continue;
    }
    if (spawnSync(c, ['--version'], { timeout: 30_000 }).status === 0) return c;
  }
  return undefined;
}
