#!/usr/bin/env bash
# What only a machine with an NVIDIA GPU can check, in as few device calls as possible.
#
# Here, once per session (the GPU machine has no node):
#   npm ci && npm run build && ../shared/device/pack.sh
# Then one device call per phase, carrying .device (the device tool's `run`, 10 minutes each):
#   source .device/unpack.sh && bash scripts/gpu-session.sh tests
#   source .device/unpack.sh && bash scripts/gpu-session.sh bench
#
# tests: the CUDA conformance suite against the CPU (every conformance model and example), the
#        launch modes, the standalone executable against `run --backend cuda`, and the CPU
#        against WebGPU on the real GPU (Dawn on Vulkan) for the stdlib models and examples.
# bench: bench/cuda.ts (device bandwidth, 10M LifRef, E/I 4000 per launch mode, --fmad cost,
#        .spk to loaded module) and bench/coba-scaling.ts (4k to 4M, CUDA and WebGPU added).
#
# Everything goes to $OUT (the device tool brings back at most 8 files), or out/gpu-session.
set -uo pipefail
out=${OUT:-out/gpu-session}
mkdir -p "$out"
phase=${1:-tests}
nvidia-smi >"$out/nvidia-smi.txt" 2>&1 || echo "nvidia-smi failed" >>"$out/nvidia-smi.txt"
status=0
case "$phase" in
  tests)
    npx vitest run test/cuda-runtime.test.ts test/cuda-standalone.test.ts \
      test/cuda-emulated.test.ts test/conformance.test.ts test/examples.test.ts \
      >"$out/tests.txt" 2>&1 || status=$?
    ;;
  bench)
    npx tsx bench/cuda.ts --out "$out/cuda.json" >"$out/cuda.txt" 2>&1 || status=$?
    npx tsx bench/coba-scaling.ts --out "$out/coba.json" >"$out/coba.txt" 2>&1 || status=$?
    ;;
  *)
    echo "usage: scripts/gpu-session.sh tests|bench" >&2
    exit 2
    ;;
esac
tail -n 30 "$out"/*.txt
exit "$status"
