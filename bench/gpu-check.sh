#!/usr/bin/env bash
# The first run on a real GPU, in one go (under 10 minutes on a current discrete GPU): prints the adapter
# and its limits and refuses a software one; runs the WebGPU test suites on it; measures GEMM (f32, and B
# in f16 where the adapter has shader-f16) against the adapter's measured FMA rate, then GPT-1's training
# step at B 8 × T 512, prefill and decode. Put the figures in BENCHMARKS.md with this script's output.
#   bash bench/gpu-check.sh [--peak-gflops P]      (P: the GPU's f32 data-sheet peak, optional)
# Each step prints its own header; the script stops at the first failure. Logs go to runs/gpu-check/.
set -euo pipefail
cd "$(dirname "$0")/.."
out=runs/gpu-check
mkdir -p "$out"
bun=node_modules/.bin/bun
vitest=node_modules/.bin/vitest
export NO_COLOR=1 FORCE_COLOR=0
unset VK_ICD_FILENAMES GPTEDGE_SOFTWARE_VULKAN # the system's drivers: never the software Vulkan of .cache/mesa

step() { echo; echo "=== $1 ($(date +%T))"; }

step "adapter, limits; a software adapter is refused"
# bench/webgpu-device.ts exits 3 on a software adapter (and 2 with none)
timeout 120 "$bun" bench/webgpu-gemm.ts 64 2>&1 | tee "$out/adapter.log" | grep -E '^(adapter|limits|f32 FMA|refusing|no WebGPU)'

step "WebGPU test suites on this adapter"
GPTEDGE_REQUIRE_WEBGPU=1 timeout 300 "$vitest" run test/portable/conformance-webgpu.test.ts test/portable/webgpu-backend.test.ts test/portable/webgpu-gpt.test.ts \
  test/portable/webgpu-faults.test.ts test/portable/webgpu-wgsl.test.ts test/portable/webgpu-budget.test.ts 2>&1 | tee "$out/tests.log" | grep -E 'Test Files|Tests |FAIL|webgpu: '

step "GEMM: f32 and f16-B, every kernel choice, against the FMA rate"
timeout 240 "$bun" bench/webgpu-gemm.ts --kernels auto,tiled,small "$@" 2>&1 | tee "$out/gemm.log" | grep -vE 'artificially'

step "GPT-1 training step B 8 x T 512, prefill and decode"
timeout 240 "$bun" bench/webgpu-gpt.ts --preset gpt1 --batch 8 --seq 512 2>&1 | tee "$out/gpt.log" | grep -vE 'artificially'

step "done: logs in $out/"
