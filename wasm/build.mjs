// Builds the WebAssembly kernels (wasm/assembly/*.ts, AssemblyScript) into wasm/build/:
//   gptedge-simd128.wasm      SIMD128, private memory         (single thread; no SharedArrayBuffer needed)
//   gptedge-relaxed.wasm      + relaxed SIMD (FMA)
//   gptedge-simd128-mt.wasm   SIMD128, shared memory          (worker pool over one memory)
//   gptedge-relaxed-mt.wasm   + relaxed SIMD
// All four come from one source: ASC_FEATURE_RELAXED_SIMD selects fma vs mul+add at compile time.
// Memory is always imported (the JS glue creates it and owns allocation). The kernels use no atomics, so
// a -mt build differs from its single-thread twin only in the memory import's `shared` bit: asc runs
// twice and the -mt files are derived by setting that bit (checked: asc --sharedMemory emits the same
// bytes). Run by scripts/build.mjs on `npm install`; uses only npm devDependencies (assemblyscript brings
// binaryen for -O3). First, every kernel's parameters are checked against their declaration in
// src/backend/wasm/kernels.ts (checkKernels): a signature edited on one side only fails the build.
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const asc = join(dirname(createRequire(import.meta.url).resolve('assemblyscript/package.json')), 'bin', 'asc.js');
const out = join(here, 'build');
mkdirSync(out, { recursive: true });

const variants = [
  { name: 'simd128', flags: [] },
  { name: 'relaxed', flags: ['--enable', 'relaxed-simd'] },
];

function build(v) {
  const args = [
    asc,
    join(here, 'assembly', 'index.ts'),
    '-o',
    join(out, `gptedge-${v.name}.wasm`),
    '--importMemory',
    '--initialMemory',
    '1',
    '--maximumMemory',
    '65536',
    '--enable',
    'simd',
    ...v.flags,
    '-O3',
    '--noAssert',
    '--runtime',
    'stub',
    '--use',
    'abort=',
  ];
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, args, { stdio: 'inherit' });
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`asc failed for ${v.name} (exit ${code})`))));
  });
}

// The module with its memory import marked shared (limits flag 0x01 -> 0x03), parsed, not pattern-matched.
function shareMemory(bytes) {
  const b = Uint8Array.from(bytes);
  let p = 8;
  const leb = () => {
    let v = 0,
      s = 0,
      x;
    do {
      x = b[p++];
      v |= (x & 0x7f) << s;
      s += 7;
    } while (x & 0x80);
    return v >>> 0;
  };
  while (p < b.length) {
    const id = b[p++],
      size = leb();
    const end = p + size;
    if (id === 2) {
      for (let n = leb(); n > 0; n--) {
        for (let name = 0; name < 2; name++) {
          const len = leb();
          p += len;
        } // module, field
        const kind = b[p++];
        if (kind === 2) {
          if (b[p] !== 0x01) throw new Error(`memory import limits flag ${b[p]}, expected 0x01 (min+max)`);
          b[p] = 0x03;
          return b;
        }
        if (kind === 0) leb();
        else if (kind === 1) {
          p++;
          const f = b[p++];
          leb();
          if (f & 1) leb();
        } else if (kind === 3) p += 2;
        else throw new Error(`import kind ${kind}`);
      }
    }
    p = end;
  }
  throw new Error('no memory import found');
}

/** kernels.ts's checkKernels over wasm/assembly (kernels.ts bundled by esbuild: Node 20 cannot import .ts). */
async function checkKernels() {
  const { build } = await import('esbuild');
  const bundle = await build({
    entryPoints: [join(here, '..', 'src', 'backend', 'wasm', 'kernels.ts')],
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    write: false,
    logLevel: 'error',
  });
  const { checkKernels } = await import('data:text/javascript;base64,' + Buffer.from(bundle.outputFiles[0].text).toString('base64'));
  const dir = join(here, 'assembly');
  return checkKernels(
    Object.fromEntries(
      readdirSync(dir)
        .filter((f) => f.endsWith('.ts'))
        .map((f) => [f, readFileSync(join(dir, f), 'utf8')]),
    ),
  );
}

const problems = await checkKernels();
if (problems.length) {
  console.error(`gptedge: the WASM kernels disagree with src/backend/wasm/kernels.ts:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
const t0 = Date.now();
await Promise.all(variants.map(build));
for (const v of variants) {
  writeFileSync(join(out, `gptedge-${v.name}-mt.wasm`), shareMemory(readFileSync(join(out, `gptedge-${v.name}.wasm`))));
}
console.log(`gptedge: built ${variants.length * 2} wasm kernels in ${((Date.now() - t0) / 1000).toFixed(1)} s -> wasm/build/`);
