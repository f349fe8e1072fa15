// The WebGPU conformance suite (small shapes, every kernel variant) across device configurations that a
// GPU-less machine can reach, each in a process of its own (the Vulkan loader and Mesa read their settings
// when the process starts), under Bun:
//   - lavapipe with subgroups of 4 and of 16 (LP_NATIVE_VECTOR_WIDTH 128 / 512; the main suite runs 8),
//     so the subgroup reductions are checked at three sizes;
//   - a device with the WebGPU spec's default limits (16 KiB workgroup storage, 256 invocations, 128 MiB
//     bindings): what every WebGPU device offers, so every kernel must fit it;
//   - Dawn with robustness off (no bounds clamping): an out-of-bounds access shows as a wrong result;
//   - SwiftShader (Chromium's Vulkan ICD: subgroups of 4, at most 256 invocations), where installed.
// Vulkan GPU-assisted validation is not in the matrix: Debian 12's validation layers (1.3.239) cannot
// instrument Dawn's SPIR-V ("Invalid execution mode operand: 6023") and run the shaders uninstrumented.
// Node only (vitest). Software Vulkan from scripts/setup-webgpu.sh; each configuration is skipped with its
// reason when what it needs is missing (a failure with GPTEDGE_REQUIRE_WEBGPU=1).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { assert, test } from '../lib/harness.ts';
import { requireWebGPU } from '../lib/webgpu-util.ts';

const root = new URL('../..', import.meta.url).pathname;
const mesa = `${root}.cache/mesa/env.json`;
const swiftshader = '/usr/lib/chromium/vk_swiftshader_icd.json';

interface Config {
  name: string;
  env: Record<string, string>;
  /** the subgroup size the adapter must report */
  subgroup?: number;
  needs: string;
}
const lavapipe = (extra: Record<string, string>): Record<string, string> => {
  const e = existsSync(mesa) ? (JSON.parse(readFileSync(mesa, 'utf8')) as Record<string, string>) : {};
  return {
    VK_ICD_FILENAMES: e.VK_ICD_FILENAMES ?? '',
    LD_LIBRARY_PATH: [e.LD_LIBRARY_PATH, process.env.LD_LIBRARY_PATH].filter((x) => x).join(':'),
    XDG_RUNTIME_DIR: e.XDG_RUNTIME_DIR ?? '',
    ...extra,
  };
};
const configs: Config[] = [
  // the subgroup reductions at sizes 4 and 16 (the main suite runs 8)
  { name: 'lavapipe, subgroups of 4', env: lavapipe({ LP_NATIVE_VECTOR_WIDTH: '128', GPTEDGE_WEBGPU_VARIANTS: '-subgroups' }), subgroup: 4, needs: mesa },
  { name: 'lavapipe, subgroups of 16', env: lavapipe({ LP_NATIVE_VECTOR_WIDTH: '512', GPTEDGE_WEBGPU_VARIANTS: '-subgroups' }), subgroup: 16, needs: mesa },
  // every kernel
  { name: "the spec's default limits", env: lavapipe({ GPTEDGE_WEBGPU_DEFAULT_LIMITS: '1' }), needs: mesa },
  { name: 'Dawn robustness off', env: lavapipe({ GPTEDGE_WEBGPU_DAWN_FLAGS: 'enable-dawn-features=allow_unsafe_apis,disable_robustness' }), needs: mesa },
  // another driver: the kernels picked by shape with its subgroups of 4 and its 256-invocation limit (it
  // compiles slowly; the forced tiled/flash kernels meet the same limits in the default-limits run)
  { name: 'SwiftShader', env: { VK_ICD_FILENAMES: swiftshader, GPTEDGE_WEBGPU_VARIANTS: '-subgroups' }, subgroup: 4, needs: swiftshader },
];

for (const c of configs) {
  const title = `webgpu-matrix: conformance (small shapes) on ${c.name}`;
  if (!existsSync(c.needs)) {
    test(title, () => {
      if (requireWebGPU) throw new Error(`${c.needs} is missing (scripts/setup-webgpu.sh)`);
      console.warn(`SKIP ${title}: ${c.needs} is missing`);
    });
    continue;
  }
  test(title, () => {
    const r = spawnSync(`${root}node_modules/.bin/bun`, ['test', '--timeout', '300000', './test/portable/conformance-webgpu.test.ts'], {
      cwd: root,
      encoding: 'utf8',
      timeout: 600_000,
      env: { ...process.env, GPTEDGE_WEBGPU_MATRIX: '1', GPTEDGE_REQUIRE_WEBGPU: '1', NO_COLOR: '1', ...c.env },
    });
    const out = `${r.stdout}\n${r.stderr}`;
    const adapter = /webgpu: bun adapter .*/.exec(out)?.[0] ?? '(no adapter line)';
    console.log(`webgpu-matrix: ${c.name}: ${adapter}; ${/\d+ pass/.exec(out)?.[0] ?? '?'}, ${/\d+ fail/.exec(out)?.[0] ?? '?'}`);
    assert(
      r.status === 0 && /\b0 fail/.test(out) && /[1-9]\d* pass/.test(out),
      `${c.name}: exit ${r.status ?? r.signal}\n${out
        .split('\n')
        .filter((l) => /fail|error|Error/.test(l))
        .slice(0, 20)
        .join('\n')}`,
    );
    if (c.subgroup)
      assert(new RegExp(`subgroup size ${c.subgroup}\\.\\.${c.subgroup}`).test(adapter), `${c.name}: expected subgroups of ${c.subgroup}: ${adapter}`);
    if (c.env.GPTEDGE_WEBGPU_DEFAULT_LIMITS) assert(/workgroup storage 16384, invocations 256/.test(adapter), `default limits not in effect: ${adapter}`);
  }, 660_000);
}
