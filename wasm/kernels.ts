// Where the four kernel builds of wasm/build.mjs live, relative to this module. Each URL is written out
// as `new URL('<literal>', import.meta.url)` so that bundlers which follow that pattern (Vite, webpack,
// Parcel, Rollup plugins) copy the .wasm files along; with esbuild, copy dist/wasm/build/ next to your
// bundle as build/, or set `wasmEnv.wasmPaths` (src/backend/wasm/assets.ts). The package ships these
// files under dist/wasm/build/, beside the compiled form of this module (dist/wasm/kernels.js).

/** The four builds: SIMD128 or relaxed SIMD (FMA); private memory or shared (-mt, for the worker pool). */
export type WasmVariant = 'simd128' | 'relaxed' | 'simd128-mt' | 'relaxed-mt';

export const WASM_VARIANTS: readonly WasmVariant[] = ['simd128', 'relaxed', 'simd128-mt', 'relaxed-mt'];

/** The file name of one build, e.g. gptedge-relaxed-mt.wasm */
export function kernelFile(variant: WasmVariant): string {
  return `gptedge-${variant}.wasm`;
}

/** The URL of one build beside this module (file: under Node/Deno/Bun, http(s): in browsers). */
export function kernelURL(variant: WasmVariant): URL {
  switch (variant) {
    case 'simd128':
      return new URL('./build/gptedge-simd128.wasm', import.meta.url);
    case 'relaxed':
      return new URL('./build/gptedge-relaxed.wasm', import.meta.url);
    case 'simd128-mt':
      return new URL('./build/gptedge-simd128-mt.wasm', import.meta.url);
    case 'relaxed-mt':
      return new URL('./build/gptedge-relaxed-mt.wasm', import.meta.url);
  }
}
