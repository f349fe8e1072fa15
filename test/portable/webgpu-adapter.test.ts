// Software-adapter detection (src/backend/webgpu/adapter.ts) on adapters as each runtime describes them:
// the spec's flag lives in adapter.info (Dawn, Deno, current Chromium); the older adapter.isFallbackAdapter
// is gone from Chrome and undefined in dawn.node and Deno. Needs no GPU.
import { describeAdapter } from '../../src/backend/webgpu/adapter.ts';
import { assertEqual, test } from '../lib/harness.ts';

const adapter = (info: Record<string, unknown>, legacy?: boolean) => ({ info, isFallbackAdapter: legacy }) as unknown as GPUAdapter;

test('webgpu-adapter: software adapters are recognised from adapter.info, real GPUs are not', () => {
  const cases: [string, GPUAdapter, boolean][] = [
    // as seen on this machine
    [
      'Dawn on lavapipe',
      adapter({
        vendor: 'mesa',
        architecture: 'software',
        device: 'llvmpipe-llvm-15-0-6-256-bits-',
        description: 'llvmpipe: Mesa 25.0.7',
        isFallbackAdapter: true,
      }),
      true,
    ],
    [
      'Deno on llvmpipe',
      adapter({ vendor: '65541', architecture: '', device: '0', description: 'llvmpipe (LLVM 15.0.6, 256 bits)', isFallbackAdapter: true }),
      true,
    ],
    ['Chromium on SwiftShader', adapter({ vendor: 'google', architecture: 'swiftshader', device: '', description: '' }), true],
    // the flag alone, with a name that says nothing
    ['a flagged adapter', adapter({ vendor: 'acme', architecture: 'x', description: 'Acme Renderer', isFallbackAdapter: true }), true],
    ['the older flag', adapter({ vendor: 'acme', description: 'Acme Renderer' }, true), true],
    ['Dawn CPU architecture', adapter({ vendor: 'acme', architecture: 'cpu', description: 'Acme' }), true],
    // real GPUs, flag false or absent
    ['NVIDIA (Dawn)', adapter({ vendor: 'nvidia', architecture: 'hopper', device: '', description: 'NVIDIA H200', isFallbackAdapter: false }), false],
    ['Apple (Chromium, info only)', adapter({ vendor: 'apple', architecture: 'metal-3', device: '', description: '' }), false],
    ['Intel (no flag at all)', adapter({ vendor: 'intel', architecture: 'gen-12lp', description: 'Intel(R) UHD Graphics' }), false],
  ];
  for (const [what, a, software] of cases) assertEqual(describeAdapter(a).software, software, what);
  assertEqual(describeAdapter(cases[6][1]).name, 'NVIDIA H200', 'name from the description');
  assertEqual(describeAdapter(cases[7][1]).name, 'apple metal-3', 'name from vendor and architecture');
});
