/**
 * `spikeforge compile FILE --target cuda --standalone -o DIR`: a CUDA C++17 program that runs a
 * network without node, writing the same files as `spikeforge run` (spikes.csv, one
 * `<population>.<variable>.csv` per trace, summary.json; no plots), byte for byte for the CSVs.
 *
 * The folder holds:
 *   <Network>.cu             the kernels, exactly as `compile --target cuda` writes them
 *   <Network>.manifest.json  buffers and dispatch order (plus a `standalone` section)
 *   network.h                the network's tables for the host: sizes, offsets, traces, names,
 *                            and per user state the ready-made texts of a non-finite warning
 *   sf_host.h                host code without CUDA: input files, CSV and JSON writers with
 *                            JavaScript's number formatting, the end-of-run check for NaN and
 *                            infinite states (the same for every network)
 *   main.cu                  the driver: CUDA runtime API, kernel<<<>>> launches in chunks,
 *                            the final state copied back once for that check
 *   init.bin                 the initial state buffer (float or double, little-endian)
 *   conn.bin                 the connectivity words (u32, little-endian)
 *   CMakeLists.txt           `cmake -B build && cmake --build build` (sm_90 unless
 *                            -DCMAKE_CUDA_ARCHITECTURES=..., no fast math, --fmad=false)
 *
 * Kernels are compiled with --fmad=false like the runtime backend (src/runtime/cuda), so the
 * two compute the same floats and their spikes.csv can be compared byte for byte.
 *
 * States that end the run NaN or infinite get `spikeforge run`'s warnings (stderr and
 * summary.json's `warnings`): what does not depend on the run (offsets, names, the declaration's
 * location and source line, the population's lines it depends on, the hint) is computed here by non-finite.ts's own functions; the
 * host counts, finds the first non-finite recorded value and fills the numbers in.
 */
import { layoutOf, manifest } from '../module.js';
import type { Precision } from '../printer.js';
import type { SimulationPlan } from '../../runtime/backend.js';
import { spikeListBase, stepDispatches } from '../wgsl/kernel.js';
import { CUDA_BLOCK_SIZE } from './kernel.js';
import { cudaMaxChunkSteps } from '../../runtime/cuda/backend.js';
import { MAX_STEPS } from '../steps.js';
import {
  ofElements,
  records,
  summaryPlace,
  type UserState,
  userStates,
} from '../../runtime/non-finite.js';
import { recordedSynapses, synapseTable, traceFileStem } from '../../runtime/output.js';
import { location, renderSecondary, sourceExcerpt } from '../../diagnostics/diagnostic.js';

export interface StandaloneOptions {
  readonly precision?: Precision;
  /** CMAKE_CUDA_ARCHITECTURES default in CMakeLists.txt; 90 (H100) unless given. */
  readonly cudaArchitectures?: string;
}

/** One file of the standalone folder. */
export interface StandaloneFile {
  readonly name: string;
  readonly data: string | Uint8Array;
}

/** A C++ string literal (UTF-8 as is; control characters escaped). */
function cString(text: string): string {
  const escape = (c: string): string => {
    if (c === '"' || c === '\\') return `\\${c}`;
    if (c === '\n') return '\\n';
    if (c === '\t') return '\\t';
    // No trigraph (`??=`) for a compiler that still reads them.
    if (c === '?') return '\\?';
    const code = c.charCodeAt(0);
    // A closed and reopened literal, so that a following hex digit is not read into the escape.
    return code < 32 || code === 127 ? `\\x${code.toString(16).padStart(2, '0')}""` : c;
  };
  return `"${[...text].map(escape).join('')}"`;
}

/** A double as a C++ literal that reads back as the same value (17 significant digits). */
function cDouble(x: number): string {
  if (!Number.isFinite(x)) throw new Error(`not a finite number: ${x}`);
  return x.toPrecision(17);
}

/**
 * A state's summaryPlace as JSON.stringify(summary, null, 2) writes it inside a `warnings`
 * entry (fields 6 spaces in), without the braces and the last line break.
 */
function summaryPlaceJson(user: UserState): string {
  const text = JSON.stringify(summaryPlace(user), null, 2);
  return text.slice('{\n  '.length, -'\n}'.length).replace(/\n/g, '\n    ');
}

/** network.h: the tables the host code needs, as C++17 constants. */
export function networkHeader(plan: SimulationPlan, precision: Precision): string {
  const layout = layoutOf(plan);
  const recorded = [...new Set(plan.spikeRecords)];
  const kernels = plan.kernels.map(
    (k) =>
      `  KernelInfo{${cString(k.population)}, ${layout.neuronOffset(k.population)}u, ${k.size}u, ${recorded.indexOf(k.population)}},`,
  );
  const users = userStates(plan);
  const traces = plan.traces.map((t, r) => {
    const user = users.findIndex((u) => records(t, u));
    return `  TraceInfo{${cString(t.label)}, ${cString(traceFileStem(plan, t))}, ${t.range.start}u, ${t.range.end}u, ${layout.traceOffset(r)}u, ${t.every}u, ${user}, ${recordedSynapses(plan, t) !== undefined}},`;
  });
  const userStateInfo = users.map(
    (u) => `  // ${u.subject}: ${u.variable}
  UserStateInfo{${layout.stateOffset(u.owner, u.state)}u, ${u.size}u, ${cString(u.subject)}, ${cString(u.variable)}, ${cString(u.element)}, ${cString(ofElements(u))},
                ${cString(location(u.span))},
                ${cString(sourceExcerpt(u.span, undefined))},
                ${cString(u.overrides.map((o) => `\n${renderSecondary(o)}`).join(''))},
                ${cString(summaryPlaceJson(u))},
                ${cString(u.hint ?? '')}},`,
  );
  const populations = plan.network.populations.map(
    (p) => `  PopulationInfo{${cString(p.name)}, ${p.size}u},`,
  );
  const list = (type: string, name: string, items: string[]): string =>
    `inline constexpr std::array<${type}, ${items.length}> ${name}{{\n${items.join('\n')}${items.length > 0 ? '\n' : ''}}};`;
  return `// Generated by spikeforge: network ${plan.network.name} as the host program sees it (no CUDA here).
#pragma once
#include <array>
#include <cstddef>

namespace sf_net {

/** The type of the state and record buffers (the kernels' sf_real). */
using real = ${precision === 'f32' ? 'float' : 'double'};

inline constexpr const char* kNetwork = ${cString(plan.network.name)};
inline constexpr double kDt = ${cDouble(plan.network.dt)};
/** The steps of the network's duration: a run's length unless --steps or --duration says otherwise. */
inline constexpr unsigned kDefaultSteps = ${plan.steps}u;
/** The most steps a run can have: the kernels count steps in 32 bits. */
inline constexpr unsigned kMaxSteps = ${MAX_STEPS}u;
inline constexpr unsigned kSeed = ${plan.network.seed >>> 0}u;
/** The most steps per chunk (a run shorter than this is one chunk): room in the spike list for every neuron to spike in every step of one. */
inline constexpr unsigned kChunkSteps = ${cudaMaxChunkSteps(plan, precision)}u;
inline constexpr std::size_t kStateFloats = ${layout.totalStateFloats};
inline constexpr std::size_t kConnWords = ${layout.connectivityWords};
inline constexpr std::size_t kTotalNeurons = ${layout.totalNeurons};
/** First word of the spike list in the events buffer: its count, then (chunk step, global index) pairs. */
inline constexpr std::size_t kSpikeListBase = ${spikeListBase(layout)};
/** Values per step in the record buffer. */
inline constexpr std::size_t kRecordRow = ${layout.recordRow};

/** A kernel's neurons in the global numbering of the spike list; spike_order: position among the recorded populations, or -1. */
struct KernelInfo {
  const char* population;
  unsigned neuron_offset;
  unsigned size;
  int spike_order;
};
${list('KernelInfo', 'kKernels', kernels)}

/** Populations whose spikes are recorded, in the order spikes.csv lists them within a step. */
${list(
  'const char*',
  'kSpikeRecords',
  recorded.map((p) => `  ${cString(p)},`),
)}

/**
 * One trace: label (\`H.V\`), file stem, elements [start, end) of its kernel at \`offset\` in each
 * record row, written after the steps n with (n + 1) % every == 0; user_state: the state it
 * records in kUserStates, or -1.
 */
struct TraceInfo {
  const char* label;
  const char* file;
  unsigned start;
  unsigned end;
  unsigned offset;
  unsigned every;
  int user_state;
  /** Whether its columns are synapses: then the data folder holds FILE.synapses.csv, copied into the output. */
  bool synapse_table;
};
${list('TraceInfo', 'kTraces', traces)}

/**
 * A state the user declared, for the check for NaN and infinite values at the end of the run
 * (src/runtime/non-finite.ts): where it is in the state buffer, and what a warning about it
 * says besides the counts.
 */
struct UserStateInfo {
  std::size_t offset;
  unsigned size;
  const char* subject;
  const char* variable;
  /** One element, singular: \`neuron\`, \`synapse\`. */
  const char* element;
  /** What the counts are out of: \`of 4 neurons\`. */
  const char* of_elements;
  /** file:line:col of the declaration, and its source line with carets under it. */
  const char* location;
  const char* excerpt;
  /** The population's lines that set what the state depends on, as run renders them (each after a line break); "" when none. */
  const char* overrides;
  /** The summary.json fields that name the state: location, population or projections, variable. */
  const char* summary_place;
  /** What to try when an explicit method integrates it; "" when none. */
  const char* hint;
};
${list('UserStateInfo', 'kUserStates', userStateInfo)}

/** The network's populations (summary.json). */
struct PopulationInfo {
  const char* name;
  unsigned size;
};
${list('PopulationInfo', 'kPopulations', populations)}

}  // namespace sf_net
`;
}

/** The standalone program's options, after its name (sf_host.h's kUsage). */
const STANDALONE_OPTIONS = '[-o DIR] [--steps N | --duration MS] [--data DIR] [--device N]';

/** main.cu: the CUDA driver of the standalone program. */
function mainSource(plan: SimulationPlan): string {
  const layout = layoutOf(plan);
  const dispatches = stepDispatches(layout, plan.kernels);
  const launches = dispatches
    .filter((d) => d.threads > 0)
    .map((d) => {
      const block = d.threads === 1 ? 1 : CUDA_BLOCK_SIZE;
      return `  ${d.entryPoint}<<<${Math.ceil(d.threads / block)}u, ${block}u>>>(d.state, d.events, d.record, d.conn, step, chunk_step);`;
    });
  const name = plan.network.name;
  return String.raw`// Generated by spikeforge: network ${name} as a program of its own (CUDA C++17, runtime API).
//
//   build:  cmake -B build && cmake --build build        (or: nvcc -std=c++17 -O2 -arch=sm_90 --fmad=false -o ${name} main.cu)
//   run:    ./build/${name} ${STANDALONE_OPTIONS}   (--help says more)
//
// Reads init.bin and conn.bin from --data (default: this folder, as CMake records it), runs
// ${plan.steps} steps of ${plan.network.dt} ms (the network's duration; --steps N or --duration MS, in milliseconds,
// for another length) in chunks of at most sf_net::kChunkSteps, and writes spikes.csv, the trace
// CSVs and summary.json into DIR (default: out), as 'spikeforge run' does. On a terminal, a run
// longer than a second shows its progress on stderr. States that end the run NaN or infinite get
// the warnings 'spikeforge run' gives (stderr, summary.json); the exit status stays 0. Exit
// status 2: a mistake in the options; 1: a file that cannot be read or written, no GPU.
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <unistd.h>

#include "network.h"
#include "sf_host.h"
#include "${name}.cu"

#ifndef SF_DATA_DIR
#define SF_DATA_DIR "."
#endif

static_assert(sizeof(sf_real) == sizeof(sf_net::real), "network.h and the kernels disagree on the precision");

namespace {

const char* g_program = "${name}";

void check(cudaError_t status, const char* what) {
  if (status == cudaSuccess) return;
  std::fprintf(stderr, "%s: %s: %s\n", g_program, what, cudaGetErrorString(status));
  std::exit(1);
}

#define SF_CUDA(call) check((call), #call)

/** The device buffers, as the kernels take them. */
struct DeviceBuffers {
  sf_real* state;
  unsigned* events;
  sf_real* record;
  const unsigned* conn;
};

/** One step: the kernels in the manifest's dispatch_per_step order. */
void run_step(const DeviceBuffers& d, unsigned step, unsigned chunk_step) {
${launches.join('\n')}
}

template <class T>
T* device_array(std::size_t count) {
  void* p = nullptr;
  SF_CUDA(cudaMalloc(&p, std::max<std::size_t>(count, 1) * sizeof(T)));
  return static_cast<T*>(p);
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  using namespace sf_net;
  sf::RunOptions options;
  try {
    options = sf::parse_run_options(argc, argv, SF_DATA_DIR);
  } catch (const sf::UsageError& e) {
    std::fprintf(stderr, "%s: %s\nusage: %s %s\n", g_program, e.what(), g_program, sf::kUsage);
    return 2;
  }
  if (options.help) {
    sf::print_help(stdout, g_program, SF_DATA_DIR);
    return 0;
  }
  const std::string& out = options.out;
  const std::string& data = options.data;
  const int device = options.device;
  const unsigned run_steps = options.steps;
  // The buffers hold one chunk: no larger than the run.
  const unsigned chunk_steps = std::min(kChunkSteps, run_steps);
  const auto start = std::chrono::steady_clock::now();
  std::vector<real> init;
  std::vector<unsigned> conn;
  try {
    init = sf::read_binary<real>(data + "/init.bin", kStateFloats);
    conn = sf::read_binary<unsigned>(data + "/conn.bin", kConnWords);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", g_program, e.what());
    return 1;
  }
  // Without a GPU or its driver the runtime's own words ("CUDA driver version is insufficient")
  // do not say that there is none.
  int devices = 0;
  const cudaError_t found = cudaGetDeviceCount(&devices);
  if (found != cudaSuccess || devices == 0) {
    std::fprintf(stderr, "%s: no CUDA GPU can be used (is there one, with its NVIDIA driver?): %s\n", g_program,
                 found != cudaSuccess ? cudaGetErrorString(found) : "no device found");
    return 1;
  }
  SF_CUDA(cudaSetDevice(device));
  cudaDeviceProp properties{};
  SF_CUDA(cudaGetDeviceProperties(&properties, device));
  const std::string description = std::string(properties.name) + " (sm_" + std::to_string(properties.major * 10 + properties.minor) +
                                  ", standalone, " + (sizeof(real) == 4 ? "float32" : "float64") + ")";

  const std::size_t event_words = kSpikeListBase + 1 + 2 * kTotalNeurons * static_cast<std::size_t>(chunk_steps);
  DeviceBuffers d{device_array<sf_real>(kStateFloats), device_array<unsigned>(event_words), device_array<sf_real>(kRecordRow * chunk_steps),
                  device_array<unsigned>(kConnWords)};
  SF_CUDA(cudaMemcpy(d.state, init.data(), kStateFloats * sizeof(real), cudaMemcpyHostToDevice));
  if (kConnWords > 0) SF_CUDA(cudaMemcpy(const_cast<unsigned*>(d.conn), conn.data(), kConnWords * sizeof(unsigned), cudaMemcpyHostToDevice));
  // Spike rings and per-route counters start empty; the spike list is reset per chunk.
  SF_CUDA(cudaMemset(d.events, 0, (kSpikeListBase + 1) * sizeof(unsigned)));
  SF_CUDA(cudaDeviceSynchronize());
  const double setup_seconds = seconds_since(start);

  // An output folder that cannot be made or written (a file in the way, no space) is a message
  // and exit status 1, as the input files are.
  try {
    sf::OutputWriter writer(out, run_steps);
    sf::NonFiniteWatch watch;
    sf::Progress progress(kNetwork, run_steps, ::isatty(STDERR_FILENO) != 0);
    std::vector<unsigned> pairs;
    std::vector<real> rows(kRecordRow * chunk_steps);
    const auto run_start = std::chrono::steady_clock::now();
    // 64 bits: the last chunk of a run of kMaxSteps steps ends at 2^32.
    for (std::uint64_t chunk_first = 0; chunk_first < run_steps; chunk_first += chunk_steps) {
      const auto first = static_cast<unsigned>(chunk_first);
      const unsigned steps = std::min(chunk_steps, run_steps - first);
      SF_CUDA(cudaMemset(d.events + kSpikeListBase, 0, sizeof(unsigned)));
      for (unsigned s = 0; s < steps; ++s) run_step(d, first + s, s);
      SF_CUDA(cudaGetLastError());
      SF_CUDA(cudaDeviceSynchronize());
      unsigned count = 0;
      SF_CUDA(cudaMemcpy(&count, d.events + kSpikeListBase, sizeof(unsigned), cudaMemcpyDeviceToHost));
      if (count > kTotalNeurons * steps) {
        progress.finish();
        std::fprintf(stderr, "%s: spike list overflow (%u spikes in %u steps)\n", g_program, count, steps);
        return 1;
      }
      pairs.resize(2 * static_cast<std::size_t>(count));
      if (count > 0) SF_CUDA(cudaMemcpy(pairs.data(), d.events + kSpikeListBase + 1, pairs.size() * sizeof(unsigned), cudaMemcpyDeviceToHost));
      if (kRecordRow > 0) SF_CUDA(cudaMemcpy(rows.data(), d.record, kRecordRow * steps * sizeof(real), cudaMemcpyDeviceToHost));
      writer.add(first, steps, pairs.data(), count, rows.data());
      watch.add(first, steps, rows.data());
      progress.update(chunk_first + steps, seconds_since(run_start));
    }
    const double wall_seconds = seconds_since(run_start);
    progress.finish();
    // The final state, copied back once: which states ended the run NaN or infinite.
    std::vector<real> state(kStateFloats);
    SF_CUDA(cudaMemcpy(state.data(), d.state, kStateFloats * sizeof(real), cudaMemcpyDeviceToHost));
    const sf::NonFiniteWarnings warnings = sf::non_finite_warnings(watch.finish(state.data()));
    // The tables first: summary.json comes last, as in 'spikeforge run', so a folder with one is complete.
    writer.copy_synapse_tables(data);
    writer.finish("cuda-standalone", description, wall_seconds, setup_seconds, warnings.summary);
    std::printf("%s: %u step%s of %s ms on cuda-standalone (%s) in %.2f s; results in %s\n", kNetwork, run_steps, run_steps == 1 ? "" : "s",
                sf::js_number(kDt).c_str(), description.c_str(), wall_seconds, out.c_str());
    writer.print_rates(stdout);
    // A warning, not an error: the results are written and the exit status stays 0.
    std::fflush(stdout);
    for (const auto& w : warnings.diagnostics) std::fprintf(stderr, "%s\n", w.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", g_program, e.what());
    return 1;
  }

  SF_CUDA(cudaFree(d.state));
  SF_CUDA(cudaFree(d.events));
  SF_CUDA(cudaFree(d.record));
  SF_CUDA(cudaFree(const_cast<unsigned*>(d.conn)));
  return 0;
}
`;
}

/** sf_host.h: host code without CUDA, the same for every network (uses network.h's sf_net tables). */
export const SF_HOST_H = String.raw`// Generated by spikeforge (the same for every network): the host side of a standalone program
// in C++17 without CUDA. It reads the initial state and writes spikes.csv, one
// <population>.<variable>.csv per trace and summary.json exactly as 'spikeforge run' does
// (src/runtime/output.ts), JavaScript's number formatting included, and warns of states that
// end the run NaN or infinite with the texts of src/runtime/non-finite.ts:
//   times   String(Number((step * dt).toPrecision(12)))
//   values  the shortest of toPrecision(6..9) that reads back as the same float32, else String(v)
//   JSON    JSON.stringify(summary, null, 2)
// It also reads the command line (--steps, --duration, -o, ...) and shows a run's progress on a
// terminal. Needs network.h (namespace sf_net) first.
#pragma once

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <unistd.h>

namespace sf {

/** A finite positive number as digits d1 d2 ... dk and an exponent: d1.d2...dk x 10^exponent. */
struct Decimal {
  std::string digits;
  int exponent = 0;
};

/** The digits and exponent of printf's "%e" text. */
inline Decimal parse_scientific(const char* text) {
  Decimal d;
  const char* p = text;
  for (; *p != '\0' && *p != 'e' && *p != 'E'; ++p) {
    if (*p >= '0' && *p <= '9') d.digits.push_back(*p);
  }
  if (*p != '\0') d.exponent = std::atoi(p + 1);
  return d;
}

/** Text strtod reads back: d1.d2...dke<exponent>. */
inline std::string scientific(const Decimal& d) {
  std::string s(1, d.digits[0]);
  if (d.digits.size() > 1) s += "." + d.digits.substr(1);
  return s + "e" + std::to_string(d.exponent);
}

/** One unit more in the last digit (9.99 -> 1.00e+1). */
inline Decimal increment(Decimal d) {
  std::size_t k = d.digits.size();
  while (k > 0 && d.digits[k - 1] == '9') d.digits[--k] = '0';
  if (k > 0) {
    d.digits[k - 1] = static_cast<char>(d.digits[k - 1] + 1);
  } else {
    d.digits.insert(d.digits.begin(), '1');
    d.digits.pop_back();
    d.exponent += 1;
  }
  return d;
}

/** Without trailing zeros (at least one digit stays). */
inline Decimal strip(Decimal d) {
  while (d.digits.size() > 1 && d.digits.back() == '0') d.digits.pop_back();
  return d;
}

/** x (finite, > 0) to p significant digits as printf rounds: to nearest, ties to even. */
inline Decimal printf_digits(double x, int p) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*e", p - 1, x);
  return parse_scientific(text);
}

/**
 * x (finite, > 0) to p significant digits as Number.prototype.toPrecision rounds: to nearest,
 * ties away from zero. printf agrees except on exact ties, which are found from the exact
 * decimal expansion (glibc prints it exactly).
 */
inline Decimal precision_digits(double x, int p) {
  const Decimal rounded = printf_digits(x, p);
  const Decimal wide = printf_digits(x, p + 4);
  if (wide.exponent != rounded.exponent && wide.exponent + 1 != rounded.exponent) return rounded;
  if (wide.digits.compare(static_cast<std::size_t>(p), 4, "5000") != 0) return rounded;
  std::vector<char> exact(1024);
  std::snprintf(exact.data(), exact.size(), "%.800e", x);
  const Decimal all = parse_scientific(exact.data());
  if (all.digits[static_cast<std::size_t>(p)] != '5') return rounded;
  for (std::size_t k = static_cast<std::size_t>(p) + 1; k < all.digits.size(); ++k) {
    if (all.digits[k] != '0') return rounded;
  }
  Decimal truncated{all.digits.substr(0, static_cast<std::size_t>(p)), all.exponent};
  return increment(truncated);
}

/** The shortest digits that read back as x (finite, > 0), closest to x: Number::toString's. */
inline Decimal shortest_digits(double x) {
  int binary_exponent = 0;
  const bool power_of_two = std::frexp(x, &binary_exponent) == 0.5;
  for (int p = 1; p <= 17; ++p) {
    const Decimal d = printf_digits(x, p);
    const double back = std::strtod(scientific(d).c_str(), nullptr);
    if (back == x) return strip(d);
    // Below a power of two the spacing halves: the next decimal up may read back when the nearest does not.
    if (power_of_two && back < x) {
      const Decimal up = increment(d);
      if (std::strtod(scientific(up).c_str(), nullptr) == x) return strip(up);
    }
  }
  return strip(printf_digits(x, 17));
}

/** A positive number's digits as JavaScript writes them (Number::toString). */
inline std::string js_layout(const Decimal& d) {
  const int k = static_cast<int>(d.digits.size());
  const int n = d.exponent + 1;
  if (k <= n && n <= 21) return d.digits + std::string(static_cast<std::size_t>(n - k), '0');
  if (0 < n && n <= 21) return d.digits.substr(0, static_cast<std::size_t>(n)) + "." + d.digits.substr(static_cast<std::size_t>(n));
  if (-6 < n && n <= 0) return "0." + std::string(static_cast<std::size_t>(-n), '0') + d.digits;
  std::string s(1, d.digits[0]);
  if (k > 1) s += "." + d.digits.substr(1);
  return s + "e" + (n - 1 >= 0 ? "+" : "-") + std::to_string(std::abs(n - 1));
}

/** String(x) in JavaScript. */
inline std::string js_number(double x) {
  if (std::isnan(x)) return "NaN";
  if (std::isinf(x)) return x > 0 ? "Infinity" : "-Infinity";
  if (x == 0) return "0";
  return (x < 0 ? "-" : "") + js_layout(shortest_digits(std::fabs(x)));
}

/** A number in JSON (JSON.stringify: NaN and infinities are null). */
inline std::string json_number(double x) {
  return std::isfinite(x) ? js_number(x) : "null";
}

/** String(Number(x.toPrecision(p))) in JavaScript. */
inline std::string js_precision(double x, int p) {
  if (std::isnan(x) || std::isinf(x) || x == 0) return js_number(x);
  return (x < 0 ? "-" : "") + js_layout(strip(precision_digits(std::fabs(x), p)));
}

/** x.toExponential(digits) in JavaScript, for x finite and > 0: 1.000e+10. */
inline std::string js_exponential(double x, int digits) {
  const Decimal d = precision_digits(x, digits + 1);
  return d.digits.substr(0, 1) + "." + d.digits.substr(1) + "e" + (d.exponent < 0 ? "-" : "+") + std::to_string(std::abs(d.exponent));
}

/** output.ts formatTime: String(Number(ms.toPrecision(12))). */
inline std::string format_time(double ms) {
  return js_precision(ms, 12);
}

/** output.ts formatValue: the shortest toPrecision(6..9) that reads back as the same float32, else String(v). */
inline std::string format_value(double v) {
  if (std::isnan(v) || std::isinf(v) || v == 0) return js_number(v);
  const double a = std::fabs(v);
  for (int p = 6; p < 10; ++p) {
    const Decimal d = precision_digits(a, p);
    const double back = std::strtod(scientific(d).c_str(), nullptr);
    if (static_cast<float>(back) == static_cast<float>(a)) return (v < 0 ? "-" : "") + js_layout(strip(d));
  }
  return js_number(v);
}

/** A JSON string literal (JSON.stringify). */
inline std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"') out += "\\\"";
    else if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else if (c == '\b') out += "\\b";
    else if (c == '\f') out += "\\f";
    else if (u < 0x20) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\u%04x", u);
      out += escaped;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

/** A mistake in how the program was called: its message, then the usage line, and exit status 2 (as spikeforge's). */
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/** The options after the program's name. */
inline constexpr const char* kUsage = "${STANDALONE_OPTIONS}";

/** What the command line asks for. */
struct RunOptions {
  std::string out = "out";
  /** Where init.bin, conn.bin and the synapse tables are. */
  std::string data;
  int device = 0;
  /** The length of the run: the network's duration unless --steps or --duration says otherwise. */
  unsigned steps = sf_net::kDefaultSteps;
  bool help = false;
};

/**
 * steps.ts stepsIn: round(time / dt), halves up, the quotient nudged up by a relative 1e-12 so
 * that float noise does not decide; each operation rounded as JavaScript rounds it.
 */
inline double steps_in(double time, double dt) {
  const double q = time / dt;
  // Volatile: a host compiler that contracts (GCC on Arm) cannot fuse the product into the sum.
  const volatile double nudge = std::fabs(q) * 1e-12;
  return std::floor(q + 0.5 + nudge);
}

/** Whether text is a plain decimal number: digits, an optional point, an optional exponent. */
inline bool is_decimal(const std::string& text) {
  if (text.empty() || text.find_first_not_of("0123456789.eE+-") != std::string::npos) return false;
  char* end = nullptr;
  std::strtod(text.c_str(), &end);
  return end == text.c_str() + text.size();
}

/** --steps N: a whole number of steps, 1 to kMaxSteps. */
inline unsigned parse_steps(const std::string& text) {
  const bool digits = !text.empty() && text.size() <= 10 && text.find_first_not_of("0123456789") == std::string::npos;
  const unsigned long long steps = digits ? std::stoull(text) : 0;
  if (steps < 1 || steps > sf_net::kMaxSteps)
    throw UsageError("--steps takes a whole number from 1 to " + std::to_string(sf_net::kMaxSteps) + ", not '" + text + "'");
  return static_cast<unsigned>(steps);
}

/** --duration MS: milliseconds as a plain number, run as round(MS / dt) steps, refused as 'spikeforge run' refuses a duration (runLengthProblem). */
inline unsigned parse_duration(const std::string& text) {
  if (!is_decimal(text)) throw UsageError("--duration takes a number of milliseconds without a unit, such as 2000, not '" + text + "'");
  const double ms = std::strtod(text.c_str(), nullptr);
  if (!std::isfinite(ms)) throw UsageError("--duration takes a finite number of milliseconds, not '" + text + "'");
  if (!(ms > 0)) throw UsageError("--duration must be positive, not '" + text + "'");
  if (sf_net::kDt > ms)
    throw UsageError("the time step of " + js_number(sf_net::kDt) + " ms is longer than the duration of " + js_number(ms) + " ms");
  const double steps = steps_in(ms, sf_net::kDt);
  if (steps > sf_net::kMaxSteps) {
    throw UsageError("a duration of " + js_number(ms) + " ms is " + js_exponential(steps, 3) + " steps of " + js_number(sf_net::kDt) +
                     " ms, more than the " + std::to_string(sf_net::kMaxSteps) + " steps a run can have");
  }
  return static_cast<unsigned>(steps);
}

/** --device N: a CUDA device number. */
inline int parse_device(const std::string& text) {
  if (text.empty() || text.size() > 9 || text.find_first_not_of("0123456789") != std::string::npos)
    throw UsageError("--device takes a device number (0, 1, ...), not '" + text + "'");
  return std::stoi(text);
}

/**
 * The command line, as spikeforge's own CLI reads one: '--name VALUE' or '--name=VALUE' ('-o DIR'
 * or '-oDIR'); a missing value, an unknown option, an argument that is no option, or both
 * --steps and --duration is a UsageError. data: the default data folder.
 */
inline RunOptions parse_run_options(int argc, char** argv, const std::string& data) {
  RunOptions options;
  options.data = data;
  bool steps_given = false;
  bool duration_given = false;
  for (int k = 1; k < argc; ++k) {
    const std::string arg = argv[k];
    if (arg == "-h" || arg == "--help") {
      options.help = true;
      return options;
    }
    std::string name = arg;
    std::optional<std::string> value;
    const std::size_t equals = arg.find('=');
    if (arg.rfind("--", 0) == 0 && equals != std::string::npos) {
      name = arg.substr(0, equals);
      value = arg.substr(equals + 1);
    } else if (arg.rfind("-o", 0) == 0 && arg.size() > 2) {
      name = "-o";
      value = arg.substr(2);
    }
    const bool known = name == "-o" || name == "--out" || name == "--steps" || name == "--duration" || name == "--data" || name == "--device";
    if (!known) {
      if (arg.rfind("-", 0) == 0) throw UsageError("unknown option '" + name + "'");
      throw UsageError("unexpected argument '" + arg + "': the program takes only options");
    }
    if (!value) {
      // The next argument, unless it is another option ('--steps -5' is a value, refused as one).
      const char* next = k + 1 < argc ? argv[k + 1] : nullptr;
      const bool option = next != nullptr && next[0] == '-' && !(std::isdigit(static_cast<unsigned char>(next[1])) || next[1] == '.');
      if (next != nullptr && !option) value = argv[++k];
    }
    if (!value || value->empty()) throw UsageError(arg.substr(0, equals) + " needs a value");
    if (name == "-o" || name == "--out") {
      options.out = *value;
    } else if (name == "--data") {
      options.data = *value;
    } else if (name == "--device") {
      options.device = parse_device(*value);
    } else {
      (name == "--steps" ? steps_given : duration_given) = true;
      if (steps_given && duration_given) throw UsageError("--steps and --duration both set the length of the run: give one of them");
      options.steps = name == "--steps" ? parse_steps(*value) : parse_duration(*value);
    }
  }
  return options;
}

/** --help: what the program does, its options and their defaults. */
inline void print_help(std::FILE* out, const char* program, const char* data) {
  const std::string dt = js_number(sf_net::kDt);
  const std::string duration = js_number(static_cast<double>(sf_net::kDefaultSteps) * sf_net::kDt);
  std::fprintf(out, "usage: %s %s\n\n", program, kUsage);
  std::fprintf(out,
               "Runs network %s on a CUDA GPU and writes spikes.csv, a CSV file per recorded trace and\n"
               "summary.json into DIR, as 'spikeforge run' does (no plots).\n\n",
               sf_net::kNetwork);
  std::fprintf(out, "options:\n");
  std::fprintf(out, "  -o, --out DIR      output folder (default: out)\n");
  std::fprintf(out, "      --steps N      the length of the run in steps of %s ms (default: %u, the network's duration)\n", dt.c_str(),
               sf_net::kDefaultSteps);
  std::fprintf(out, "      --duration MS  the length of the run in milliseconds, a number without a unit such as 2000:\n");
  std::fprintf(out, "                     round(MS / %s) steps, as 'spikeforge run --duration' counts them (default: %s)\n", dt.c_str(),
               duration.c_str());
  std::fprintf(out, "      --data DIR     the folder with init.bin and conn.bin (default: %s)\n", data);
  std::fprintf(out, "      --device N     the CUDA device to run on (default: 0)\n");
  std::fprintf(out, "  -h, --help         show this help\n\n");
  std::fprintf(out,
               "The time step (%s ms) and the seed (%u) cannot be changed here: the kernels are generated for\n"
               "that time step, and the connectivity and initial values were drawn with that seed when\n"
               "'spikeforge compile' wrote init.bin and conn.bin. Change them in the .spk file and compile again.\n",
               dt.c_str(), sf_net::kSeed);
  std::fprintf(out, "\nExit status: 0 when the results are written (also with warnings), 1 when a file cannot be read or\n"
                    "written or no GPU can be used, 2 for a mistake in the options.\n");
}

/**
 * A run's progress on stderr as 'spikeforge run' shows it on a terminal (src/cli/progress.ts): one
 * line, redrawn in place once the run has taken a second, then at most once a second, and cleared
 * at the end. Nothing when stderr is not a terminal (a log, a test): what the program writes
 * there is then the same in every run.
 */
class Progress {
 public:
  Progress(const char* network, std::uint64_t steps, bool terminal, std::FILE* out = stderr)
      : network_(network), steps_(steps), terminal_(terminal), out_(out) {}
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;
  /** A run that fails leaves no status line behind its message. */
  ~Progress() { finish(); }

  /** done of the run's steps are simulated, seconds after it started. */
  void update(std::uint64_t done, double seconds) {
    if (!terminal_ || done >= steps_ || seconds < 1 || seconds - last_ < 1) return;
    last_ = seconds;
    std::string text = std::string(network_) + ": " + std::to_string(100 * done / steps_) + "% (" + simulated_ms(done) + " of " +
                       simulated_ms(steps_) + " ms) in " + duration(seconds);
    if (done > 0) text += ", about " + duration(seconds * static_cast<double>(steps_ - done) / static_cast<double>(done)) + " left";
    std::fprintf(out_, "\r%s\x1b[K", text.c_str());
    std::fflush(out_);
    shown_ = true;
  }

  /** Clears the status line, if one is shown. */
  void finish() {
    if (!shown_) return;
    std::fprintf(out_, "\r\x1b[K");
    std::fflush(out_);
    shown_ = false;
  }

 private:
  static std::string simulated_ms(std::uint64_t steps) { return js_precision(static_cast<double>(steps) * sf_net::kDt, 6); }
  /** progress.ts seconds(): s.toFixed(1) below a minute ('12.3 s'), Math.round(s) above ('75 s'). */
  static std::string duration(double s) {
    char text[64];
    if (s < 60) {
      // printf's "%.1f" but for exact ties, which toFixed rounds up and printf to even (1.25: 1.3).
      std::vector<char> exact(1200);
      std::snprintf(exact.data(), exact.size(), "%.1100f", s);
      const std::string digits = exact.data();
      const std::size_t after = digits.find('.') + 2;
      const bool tie = digits[after] == '5' && digits.find_first_not_of('0', after + 1) == std::string::npos;
      std::snprintf(text, sizeof text, "%.1f s", tie ? std::ceil(s * 10) / 10 : s);
    } else {
      std::snprintf(text, sizeof text, "%.0f s", std::floor(s + 0.5));
    }
    return text;
  }

  const char* network_;
  std::uint64_t steps_;
  bool terminal_;
  std::FILE* out_;
  double last_ = 0;
  bool shown_ = false;
};

/** count little-endian values of T from a file of exactly that size. */
template <class T>
std::vector<T> read_binary(const std::string& path, std::size_t count) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::vector<T> values(count);
  std::vector<unsigned char> bytes(count * sizeof(T));
  in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (static_cast<std::size_t>(in.gcount()) != bytes.size() || in.peek() != std::char_traits<char>::eof()) {
    throw std::runtime_error(path + " does not hold " + std::to_string(count) + " values of " + std::to_string(sizeof(T)) + " bytes");
  }
  for (std::size_t k = 0; k < count; ++k) {
    std::uint64_t word = 0;
    for (std::size_t b = 0; b < sizeof(T); ++b) word |= static_cast<std::uint64_t>(bytes[k * sizeof(T) + b]) << (8 * b);
    if constexpr (sizeof(T) == 8) std::memcpy(&values[k], &word, 8);
    else {
      const auto w32 = static_cast<std::uint32_t>(word);
      std::memcpy(&values[k], &w32, 4);
    }
  }
  return values;
}

/** A file written under a temporary name and renamed when complete (output.ts StreamedFile). */
class StreamedFile {
 public:
  StreamedFile(std::string path, const std::string& header)
      : path_(std::move(path)), temporary_(path_ + "." + std::to_string(::getpid()) + ".tmp"), file_(std::fopen(temporary_.c_str(), "wb")) {
    if (file_ == nullptr) throw std::runtime_error("cannot write " + temporary_);
    write(header + "\n");
  }
  StreamedFile(const StreamedFile&) = delete;
  StreamedFile& operator=(const StreamedFile&) = delete;
  /** A file never committed (the program failed) is removed: no temporary file is left. */
  ~StreamedFile() {
    if (file_ == nullptr) return;
    std::fclose(file_);
    std::remove(temporary_.c_str());
  }
  void write(const std::string& text) {
    if (!text.empty() && std::fwrite(text.data(), 1, text.size(), file_) != text.size()) throw std::runtime_error("cannot write " + temporary_);
  }
  void commit() {
    if (std::fclose(file_) != 0) throw std::runtime_error("cannot write " + temporary_);
    file_ = nullptr;
    std::filesystem::rename(temporary_, path_);
  }

 private:
  std::string path_;
  std::string temporary_;
  std::FILE* file_;
};

/** The mean CV of the interspike intervals, as runtime/isi-statistics.ts computes it (the same operations in the same order). */
class IsiStatistics {
 public:
  explicit IsiStatistics(std::size_t size) : last_(size, -1.0), intervals_(size, 0), mean_(size, 0.0), squares_(size, 0.0) {}

  void add(unsigned step, unsigned i) {
    const double last = last_[i];
    last_[i] = step;
    if (last < 0) return;
    const double isi = step - last;
    const unsigned n = ++intervals_[i];
    const double delta = isi - mean_[i];
    mean_[i] += delta / n;
    squares_[i] += delta * (isi - mean_[i]);
  }

  /** How many neurons have two intervals or more; their mean CV in mean_cv. */
  unsigned result(double& mean_cv) const {
    double sum = 0;
    unsigned neurons = 0;
    for (std::size_t i = 0; i < intervals_.size(); ++i) {
      if (intervals_[i] < 2) continue;
      sum += std::sqrt(squares_[i] / intervals_[i]) / mean_[i];
      neurons += 1;
    }
    if (neurons > 0) mean_cv = sum / neurons;
    return neurons;
  }

 private:
  std::vector<double> last_;
  std::vector<unsigned> intervals_;
  std::vector<double> mean_;
  std::vector<double> squares_;
};

/** Writes a run's results as output.ts's OutputWriter does (CSV files and summary.json; no plots). */
class OutputWriter {
 public:
  /** Files in dir for a run of steps steps. */
  OutputWriter(const std::string& dir, unsigned steps) : dir_(dir), steps_(steps) {
    std::filesystem::create_directories(dir_);
    spikes_ = std::make_unique<StreamedFile>(dir_ + "/spikes.csv", "t_ms,population,index");
    for (const auto& t : sf_net::kTraces) {
      std::string header = "t_ms";
      for (unsigned k = t.start; k < t.end; ++k) header += "," + std::to_string(k);
      traces_.push_back(std::make_unique<StreamedFile>(dir_ + "/" + t.file + ".csv", header));
    }
    counts_.assign(sf_net::kSpikeRecords.size(), 0);
    for (const char* name : sf_net::kSpikeRecords) {
      for (const auto& p : sf_net::kPopulations) {
        if (std::strcmp(p.name, name) == 0) isi_.emplace_back(p.size);
      }
    }
  }

  /**
   * One chunk: spike pairs (step in chunk, global neuron index) in any order, and steps rows
   * of the record buffer. Spikes are written by time, then recorded population, then index.
   */
  template <class Real>
  void add(unsigned first_step, unsigned steps, const unsigned* pairs, std::size_t count, const Real* rows) {
    chunks_ += 1;
    struct Spike {
      double time;
      int order;
      unsigned step;
      unsigned index;
    };
    std::vector<std::string> times(steps);
    std::vector<double> time_values(steps);
    for (unsigned s = 0; s < steps; ++s) {
      times[s] = format_time(static_cast<double>(first_step + s) * sf_net::kDt);
      time_values[s] = std::strtod(times[s].c_str(), nullptr);
    }
    std::vector<Spike> spikes;
    spikes.reserve(count);
    for (std::size_t k = 0; k < count; ++k) {
      const unsigned s = pairs[2 * k];
      const unsigned global = pairs[2 * k + 1];
      const sf_net::KernelInfo* owner = nullptr;
      for (const auto& kernel : sf_net::kKernels) {
        if (global >= kernel.neuron_offset) owner = &kernel;
      }
      if (owner == nullptr || owner->spike_order < 0 || s >= steps) continue;
      spikes.push_back(Spike{time_values[s], owner->spike_order, s, global - owner->neuron_offset});
    }
    std::sort(spikes.begin(), spikes.end(), [](const Spike& a, const Spike& b) {
      return std::tie(a.time, a.order, a.step, a.index) < std::tie(b.time, b.order, b.step, b.index);
    });
    std::string text;
    for (const auto& spike : spikes) {
      counts_[static_cast<std::size_t>(spike.order)] += 1;
      isi_[static_cast<std::size_t>(spike.order)].add(first_step + spike.step, spike.index);
      text += times[spike.step] + "," + sf_net::kSpikeRecords[static_cast<std::size_t>(spike.order)] + "," + std::to_string(spike.index) + "\n";
    }
    spikes_->write(text);
    std::size_t r = 0;
    for (const auto& t : sf_net::kTraces) {
      std::string block;
      for (unsigned s = 0; s < steps; ++s) {
        // 64 bits: the row after step 2^32 - 2 is labelled step 2^32.
        const std::uint64_t after = static_cast<std::uint64_t>(first_step) + s + 1;
        if (after % t.every != 0) continue;
        block += format_time(static_cast<double>(after) * sf_net::kDt);
        const Real* row = rows + static_cast<std::size_t>(s) * sf_net::kRecordRow + t.offset;
        // Doubles as String(v) writes them (run's float64 backends), floats by format_value.
        for (unsigned k = 0; k < t.end - t.start; ++k)
          block += "," + (sizeof(Real) == 8 ? js_number(static_cast<double>(row[k])) : format_value(static_cast<double>(row[k])));
        block += "\n";
      }
      traces_[r++]->write(block);
    }
  }

  /** Commits the CSV files and writes summary.json, with "warnings" (non_finite_warnings' summary entries) when there are some. */
  void finish(const std::string& backend, const std::string& device, double wall_seconds, double compile_seconds,
              const std::vector<std::string>& warnings = {}) {
    spikes_->commit();
    for (auto& t : traces_) t->commit();
    const double duration = static_cast<double>(steps_) * sf_net::kDt;
    std::string json = "{\n";
    json += "  \"network\": " + json_string(sf_net::kNetwork) + ",\n";
    json += "  \"backend\": " + json_string(backend) + ",\n";
    json += "  \"device\": " + json_string(device) + ",\n";
    json += "  \"dt_ms\": " + json_number(sf_net::kDt) + ",\n";
    json += "  \"steps\": " + json_number(steps_) + ",\n";
    json += "  \"duration_ms\": " + json_number(duration) + ",\n";
    json += "  \"wall_s\": " + json_number(wall_seconds) + ",\n";
    json += "  \"compile_s\": " + json_number(compile_seconds) + ",\n";
    json += "  \"seed\": " + json_number(sf_net::kSeed) + ",\n";
    json += "  \"populations\": {";
    bool first = true;
    for (const auto& p : sf_net::kPopulations) {
      json += std::string(first ? "" : ",") + "\n    " + json_string(p.name) + ": {\n      \"size\": " + json_number(p.size);
      first = false;
      const long order = recorded_order(p.name);
      if (order >= 0 && chunks_ > 0) {
        const double spikes = static_cast<double>(counts_[static_cast<std::size_t>(order)]);
        json += ",\n      \"spikes\": " + json_number(spikes) + ",\n      \"mean_rate_hz\": " + json_number(spikes / p.size / (duration / 1000));
        double mean_cv = 0;
        const unsigned neurons = isi_[static_cast<std::size_t>(order)].result(mean_cv);
        if (neurons > 0) json += ",\n      \"isi_cv_mean\": " + json_number(mean_cv) + ",\n      \"isi_cv_neurons\": " + json_number(neurons);
      }
      json += "\n    }";
    }
    json += first ? "}" : "\n  }";
    if (!warnings.empty()) {
      json += ",\n  \"warnings\": [";
      for (std::size_t k = 0; k < warnings.size(); ++k) json += (k == 0 ? "\n    " : ",\n    ") + warnings[k];
      json += "\n  ]";
    }
    json += "\n}\n";
    StreamedFile summary(dir_ + "/summary.json", json.substr(0, json.size() - 1));
    summary.commit();
  }

  /**
   * For each trace of per-synapse state, its table of synapses and their neurons (written at
   * compile time into the data folder, as 'spikeforge run' writes it) copied into the output.
   */
  void copy_synapse_tables(const std::string& data) {
    for (const auto& t : sf_net::kTraces) {
      if (!t.synapse_table) continue;
      const std::string name = std::string(t.file) + ".synapses.csv";
      std::ifstream in(data + "/" + name, std::ios::binary);
      if (!in) throw std::runtime_error("cannot read " + data + "/" + name);
      std::ostringstream text;
      text << in.rdbuf();
      const std::string table = text.str();
      StreamedFile copy(dir_ + "/" + name, table.substr(0, table.size() - 1));
      copy.commit();
    }
  }

  /** The per-population lines 'spikeforge run' prints after a run. */
  void print_rates(std::FILE* out) const {
    const double duration = static_cast<double>(steps_) * sf_net::kDt;
    for (const auto& p : sf_net::kPopulations) {
      const long order = recorded_order(p.name);
      if (order < 0 || chunks_ == 0) continue;
      const double spikes = static_cast<double>(counts_[static_cast<std::size_t>(order)]);
      double mean_cv = 0;
      const bool cv = isi_[static_cast<std::size_t>(order)].result(mean_cv) > 0;
      std::fprintf(out, "  %s: %.0f spike%s, mean rate %.2f Hz", p.name, spikes, spikes == 1 ? "" : "s", spikes / p.size / (duration / 1000));
      if (cv) std::fprintf(out, ", ISI CV %.2f", mean_cv);
      std::fprintf(out, "\n");
    }
  }

 private:
  static long recorded_order(const char* population) {
    // Range loops: with no spike records, a 'k < size()' test is 'k < 0', which nvcc warns about.
    long k = 0;
    for (const char* name : sf_net::kSpikeRecords) {
      if (std::strcmp(name, population) == 0) return k;
      ++k;
    }
    return -1;
  }

  std::string dir_;
  unsigned steps_;
  std::unique_ptr<StreamedFile> spikes_;
  std::vector<std::unique_ptr<StreamedFile>> traces_;
  std::vector<std::uint64_t> counts_;
  std::vector<IsiStatistics> isi_;
  unsigned chunks_ = 0;
};

// The check for states that end the run NaN or infinite, as src/runtime/non-finite.ts does it,
// with the same texts: what does not depend on the run is in network.h's kUserStates.

/** A recorded value that was NaN or infinite. */
struct RecordedNonFinite {
  const sf_net::TraceInfo* trace;
  /** The step after which it was recorded (its row is labelled (step + 1) * dt). */
  unsigned step;
  /** The element's index in its kernel (neuron, synapse). */
  unsigned index;
  double value;
};

/** A state with values that are NaN or infinite at the end of the run. */
struct NonFiniteState {
  const sf_net::UserStateInfo* user;
  std::size_t nan;
  std::size_t infinite;
  /** The earliest non-finite value in the traces that record the state, if any does. */
  std::optional<RecordedNonFinite> first_recorded;
};

/**
 * Watches a run: add() sees each chunk's record rows (a trace is skipped once it has shown a
 * non-finite value), finish() counts the non-finite values of every state the user declared.
 */
class NonFiniteWatch {
 public:
  NonFiniteWatch() : first_(sf_net::kTraces.size()) {}

  /** A chunk's record rows, as OutputWriter::add gets them. */
  template <class Real>
  void add(unsigned first_step, unsigned steps, const Real* rows) {
    std::size_t r = 0;
    for (const auto& t : sf_net::kTraces) {
      std::optional<RecordedNonFinite>& first = first_[r++];
      for (unsigned s = 0; s < steps && t.user_state >= 0 && !first; ++s) {
        if ((static_cast<std::uint64_t>(first_step) + s + 1) % t.every != 0) continue;
        const Real* row = rows + static_cast<std::size_t>(s) * sf_net::kRecordRow + t.offset;
        for (unsigned k = 0; k < t.end - t.start; ++k) {
          if (!std::isfinite(row[k])) {
            first = RecordedNonFinite{&t, first_step + s, t.start + k, static_cast<double>(row[k])};
            break;
          }
        }
      }
    }
  }

  /** The user states with NaN or infinite values in the final state buffer (its kStateFloats values). */
  template <class Real>
  std::vector<NonFiniteState> finish(const Real* state) const {
    std::vector<NonFiniteState> found;
    int u = 0;
    for (const auto& user : sf_net::kUserStates) {
      NonFiniteState s{&user, 0, 0, std::nullopt};
      for (std::size_t k = user.offset; k < user.offset + user.size; ++k) {
        if (std::isnan(state[k])) s.nan += 1;
        else if (std::isinf(state[k])) s.infinite += 1;
      }
      // The earliest of the traces that record the state, the first of them on a tie.
      std::size_t r = 0;
      for (const auto& t : sf_net::kTraces) {
        const std::optional<RecordedNonFinite>& first = first_[r++];
        if (t.user_state == u && first && (!s.first_recorded || first->step < s.first_recorded->step)) s.first_recorded = first;
      }
      if (s.nan + s.infinite > 0) found.push_back(s);
      ++u;
    }
    return found;
  }

 private:
  /** Per trace: its first non-finite value, once seen. */
  std::vector<std::optional<RecordedNonFinite>> first_;
};

/** "NaN in 1 of 1 neurons", "infinite in 2 of 10 synapses", "NaN in 3 and infinite in 2 of ...". */
inline std::string how_many(const NonFiniteState& s) {
  std::string counts;
  if (s.nan > 0) counts = "NaN in " + std::to_string(s.nan);
  if (s.infinite > 0) counts += (counts.empty() ? "" : " and ") + ("infinite in " + std::to_string(s.infinite));
  return counts + " " + s.user->of_elements;
}

/** "a", "a and b", "a, b and c". */
inline std::string list_names(const std::vector<std::string>& names) {
  std::string text;
  for (std::size_t k = 0; k < names.size(); ++k) text += (k == 0 ? "" : k + 1 == names.size() ? " and " : ", ") + names[k];
  return text;
}

/** "population H: V is NaN in 1 of 1 neurons at the end of the run". */
inline std::string non_finite_message(const NonFiniteState& s) {
  return std::string(s.user->subject) + ": " + s.user->variable + " is " + how_many(s) + " at the end of the run";
}

/** The time of a recorded row as its CSV file labels it: the state after step n is at (n + 1) * dt. */
inline std::string recorded_time(const RecordedNonFinite& f) {
  return format_time(static_cast<double>(static_cast<std::uint64_t>(f.step) + 1) * sf_net::kDt);
}

/** The warnings about non-finite states (nonFiniteWarnings). */
struct NonFiniteWarnings {
  /** One per population or projection, rendered as 'spikeforge run' prints it on stderr. */
  std::vector<std::string> diagnostics;
  /** One summary.json "warnings" entry per state. */
  std::vector<std::string> summary;
};

/**
 * One warning per population or projection, at its first non-finite state's declaration (the
 * others in a note, when the recording first showed one, and a hint when an unstable
 * integration is likely), and one summary entry per state.
 */
inline NonFiniteWarnings non_finite_warnings(const std::vector<NonFiniteState>& states) {
  NonFiniteWarnings warnings;
  for (const auto& s : states) {
    std::string entry = "{\n      \"message\": " + json_string(non_finite_message(s)) + ",\n      " + s.user->summary_place;
    entry += ",\n      \"nan\": " + std::to_string(s.nan) + ",\n      \"infinite\": " + std::to_string(s.infinite);
    entry += ",\n      \"elements\": " + std::to_string(s.user->size);
    if (s.first_recorded) {
      const double ms = std::strtod(recorded_time(*s.first_recorded).c_str(), nullptr);
      entry += ",\n      \"first_non_finite_recorded_ms\": " + json_number(ms);
    }
    if (*s.user->hint != '\0') entry += ",\n      \"hint\": " + json_string(s.user->hint);
    warnings.summary.push_back(entry + "\n    }");
  }
  std::vector<std::string> subjects;
  for (const auto& s : states) {
    if (std::find(subjects.begin(), subjects.end(), s.user->subject) == subjects.end()) subjects.emplace_back(s.user->subject);
  }
  for (const auto& subject : subjects) {
    std::vector<const NonFiniteState*> group;
    for (const auto& s : states) {
      if (subject == s.user->subject) group.push_back(&s);
    }
    const NonFiniteState& head = *group.front();
    // The other states, grouped by identical counts: "m, h and n are NaN in 1 of 1 neurons".
    std::vector<std::pair<std::string, std::vector<std::string>>> by_count;
    for (std::size_t k = 1; k < group.size(); ++k) {
      const std::string counts = how_many(*group[k]);
      auto same = std::find_if(by_count.begin(), by_count.end(), [&](const auto& c) { return c.first == counts; });
      if (same == by_count.end()) same = by_count.insert(by_count.end(), {counts, {}});
      same->second.emplace_back(group[k]->user->variable);
    }
    std::string also;
    for (const auto& [counts, names] : by_count) {
      also += (also.empty() ? "" : "; ") + list_names(names) + (names.size() == 1 ? " is " : " are ") + counts;
    }
    const RecordedNonFinite* first = nullptr;
    const char* hint = "";
    for (const NonFiniteState* s : group) {
      if (s->first_recorded && (first == nullptr || s->first_recorded->step < first->step)) first = &*s->first_recorded;
      if (*hint == '\0') hint = s->user->hint;
    }
    std::string text = std::string(head.user->location) + ": warning: " + non_finite_message(head) + "\n" + head.user->excerpt + head.user->overrides;
    if (!also.empty()) text += "\n   = note: also at the end of the run: " + also;
    if (first != nullptr) {
      text += "\n   = note: " + std::string(first->trace->label) + " is first non-finite in the recording at t = " + recorded_time(*first) + " ms (" +
              js_number(first->value) + " in " + head.user->element + " " + std::to_string(first->index) + ")";
    }
    if (*hint != '\0') text += "\n   = note: " + std::string(hint);
    warnings.diagnostics.push_back(text);
  }
  return warnings;
}

}  // namespace sf
`;

/** CMakeLists.txt: CUDA language, sm_90 by default, no fast math, FMA contraction off (as the runtime). */
function cmakeLists(plan: SimulationPlan, architectures: string): string {
  const target = plan.network.name;
  return `# Generated by spikeforge: builds the standalone program of network ${target}.
#   cmake -B build && cmake --build build && ./build/${target} -o out
# Another GPU: cmake -B build -DCMAKE_CUDA_ARCHITECTURES=80 (A100), 89 (L4), 100 (B200), ...
cmake_minimum_required(VERSION 3.18)
if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
  set(CMAKE_CUDA_ARCHITECTURES ${architectures})
endif()
project(${target} LANGUAGES CXX CUDA)

set(CMAKE_CXX_STANDARD 17)
set(CMAKE_CXX_STANDARD_REQUIRED ON)
set(CMAKE_CUDA_STANDARD 17)
set(CMAKE_CUDA_STANDARD_REQUIRED ON)
if(NOT CMAKE_BUILD_TYPE)
  set(CMAKE_BUILD_TYPE Release)
endif()

add_executable(${target} main.cu)
# No --use_fast_math (the kernels need accurate expf/logf); --fmad=false as the spikeforge
# runtime compiles them, so that both write the same spikes.csv.
target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:--fmad=false>)
# init.bin and conn.bin are read from this folder unless --data says otherwise.
target_compile_definitions(${target} PRIVATE SF_DATA_DIR="\${CMAKE_CURRENT_SOURCE_DIR}")
`;
}

/** The initial state buffer as little-endian float or double, in the layout's order. */
export function initialStateBytes(plan: SimulationPlan, precision: Precision): Uint8Array {
  const layout = layoutOf(plan);
  const size = precision === 'f32' ? 4 : 8;
  const bytes = new Uint8Array(size * layout.totalStateFloats);
  const view = new DataView(bytes.buffer);
  for (const k of plan.kernels) {
    for (const s of k.states) {
      const values = plan.initial.get(k.population)?.get(s);
      if (values === undefined) throw new Error(`no initial values for ${k.population}.${s}`);
      const offset = layout.stateOffset(k.population, s);
      values.forEach((v, i) =>
        size === 4
          ? view.setFloat32(4 * (offset + i), v, true)
          : view.setFloat64(8 * (offset + i), v, true),
      );
    }
  }
  return bytes;
}

/** The connectivity words as little-endian u32. */
function connectivityBytes(plan: SimulationPlan): Uint8Array {
  const words = layoutOf(plan).connectivity;
  const bytes = new Uint8Array(4 * words.length);
  const view = new DataView(bytes.buffer);
  words.forEach((w, i) => view.setUint32(4 * i, w, true));
  return bytes;
}

/**
 * Every file of the standalone folder of a plan (whose `steps` is the whole run). `kernels` is
 * the generated CUDA module, generateSource(plan, 'cuda', precision) (the caller passes it in:
 * module.ts imports this folder's kernel emitter, so this file does not import module.ts's).
 */
export function standaloneFiles(
  plan: SimulationPlan,
  kernels: string,
  options: StandaloneOptions = {},
): StandaloneFile[] {
  const precision = options.precision ?? 'f32';
  const layout = layoutOf(plan);
  const described = {
    ...manifest(plan, 'cuda', precision),
    standalone: {
      usage: `${plan.network.name} ${STANDALONE_OPTIONS}`,
      steps: plan.steps,
      duration_ms: plan.steps * plan.network.dt,
      max_chunk_steps: cudaMaxChunkSteps(plan, precision),
      precision,
      kernels: `${plan.network.name}.cu`,
      total_neurons: layout.totalNeurons,
      initial_state: {
        file: 'init.bin',
        type: precision,
        count: layout.totalStateFloats,
        byte_order: 'little-endian',
        layout:
          'the state buffer: buffers.state.layout gives count values of each state from offset',
      },
      connectivity: {
        file: 'conn.bin',
        type: 'u32',
        count: layout.connectivityWords,
        byte_order: 'little-endian',
        layout:
          "the connectivity buffer: buffers.connectivity.layout gives its arrays in order (words from offset; i32 words are two's complement), buffers.connectivity.arrays what each kind holds",
      },
      launch:
        'one kernel<<<blocks, block_size>>> per dispatch per step, in dispatch_per_step order; block_size 1 for one thread; every kernel takes kernel_parameters',
      host: [
        `allocate the events buffer with ${spikeListBase(layout) + 1} + ${2 * layout.totalNeurons} * C words and the record buffer with ${layout.recordRow} * C values, for chunks of at most C steps (max_chunk_steps, or the run's steps when fewer)`,
        `copy init.bin into the state buffer and conn.bin into the connectivity buffer; set words 0 to ${spikeListBase(layout)} of the events buffer (spike rings, delivery counters, the spike list's count) to 0`,
        `per chunk: set word ${spikeListBase(layout)} (the spike list's count) to 0, launch the steps with sf_step = the chunk's first step + sf_chunk_step, then read the count n and the n (sf_chunk_step, global neuron index) pairs after it, in any order, and the record rows of the chunk's steps`,
      ],
    },
  };
  return [
    { name: `${plan.network.name}.cu`, data: kernels },
    { name: `${plan.network.name}.manifest.json`, data: `${JSON.stringify(described, null, 2)}\n` },
    { name: 'network.h', data: networkHeader(plan, precision) },
    { name: 'sf_host.h', data: SF_HOST_H },
    { name: 'main.cu', data: mainSource(plan) },
    { name: 'init.bin', data: initialStateBytes(plan, precision) },
    { name: 'conn.bin', data: connectivityBytes(plan) },
    ...plan.traces.flatMap((t) => {
      const table = synapseTable(plan, t);
      return table === undefined
        ? []
        : [{ name: `${traceFileStem(plan, t)}.synapses.csv`, data: table }];
    }),
    { name: 'CMakeLists.txt', data: cmakeLists(plan, options.cudaArchitectures ?? '90') },
  ];
}
