// The device of a WebGPU bench: this runtime's adapter (Dawn under Node and Bun, navigator.gpu under Deno),
// printed with its limits. A software adapter (lavapipe, llvmpipe, SwiftShader, WARP) is refused: its
// figures say nothing about GPU speed. `--allow-software` runs on one anyway, for a correctness check
// (then the figures are labelled), and lets Node/Bun fall back to scripts/setup-webgpu.sh's lavapipe.
import type { WebGPUDeviceHandle } from '../src/backend/webgpu/adapter.ts';

const g = globalThis as unknown as { Deno?: { args: string[] }; process?: { argv: string[]; exit(c: number): never } };
export const args: string[] = g.Deno ? g.Deno.args : g.process!.argv.slice(2);
export const exit = (code: number): never => (g.Deno ? (g as unknown as { Deno: { exit(c: number): never } }).Deno.exit(code) : g.process!.exit(code));

/** The limits a GPU bench reports (what sizes tiles, chunks and buffers). */
const SHOWN = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupsPerDimension',
] as const;

/** The bench's device, or exit: 2 with no adapter, 3 for a software adapter without --allow-software. */
export async function benchDevice(): Promise<WebGPUDeviceHandle> {
  const allowSoftware = args.includes('--allow-software');
  const handle = g.Deno
    ? await (await import('../adapters/deno/webgpu.ts')).requestDevice()
    : await (await import('../adapters/node/webgpu.ts')).requestDevice({ softwareFallback: allowSoftware });
  if (!handle) {
    console.log(
      'no WebGPU adapter' +
        (allowSoftware
          ? ' (run scripts/setup-webgpu.sh for a software one)'
          : " (Dawn uses Vulkan on Linux: is the GPU's Vulkan driver installed? `vulkaninfo --summary`)"),
    );
    return exit(2);
  }
  const lim = handle.device.limits;
  console.log(`adapter: ${handle.adapterName}${handle.software ? '  [SOFTWARE adapter: figures are NOT GPU speed]' : ''}`);
  console.log(
    `limits: ${SHOWN.map((k) => `${k} ${lim[k]}`).join(', ')}; features: ${[...handle.device.features].filter((f) => /f16|subgroup/.test(f)).join(', ') || 'none of shader-f16/subgroups'}`,
  );
  if (handle.software && !allowSoftware) {
    console.log('refusing to measure a software adapter (pass --allow-software for a correctness run)');
    handle.release();
    return exit(3);
  }
  return handle;
}
