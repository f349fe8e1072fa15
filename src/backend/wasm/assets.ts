// Finding the WASM kernel builds with no configuration, in every runtime and bundler: by default each
// build's URL beside wasm/kernels.ts (bundlers follow `new URL(..., import.meta.url)`), fetched. Like
// onnxruntime-web's `env.wasm.wasmPaths`, `wasmEnv` overrides that for a whole page or worker: a base URL
// (a CDN folder, `/assets/`), one URL per build, or a fetch function. Runtimes that read files (Node, Bun)
// pass their own `load` instead (adapters/node/wasm.ts); workerd passes precompiled modules.
import { kernelFile, kernelURL, type WasmVariant } from '../../../wasm/kernels.ts';

export interface WasmEnv {
  /** a base URL the four gptedge-*.wasm files sit under, or a URL per build */
  wasmPaths?: string | URL | Partial<Record<WasmVariant, string | URL>>;
  /** the fetch used to download a build (default globalThis.fetch) */
  fetch?: (url: URL) => Promise<Response>;
}

/** Process-wide defaults for createWasmBackend's loading; options passed to it win. */
export const wasmEnv: WasmEnv = {};

/** Where one build is read from under `env`. */
export function kernelLocation(variant: WasmVariant, env: WasmEnv = wasmEnv): URL {
  const p = env.wasmPaths;
  if (p === undefined) return kernelURL(variant);
  if (typeof p === 'string' || p instanceof URL) {
    const base = String(p).endsWith('/') ? String(p) : `${String(p)}/`;
    return new URL(kernelFile(variant), new URL(base, (globalThis as { location?: { href: string } }).location?.href ?? kernelURL(variant)));
  }
  const one = p[variant];
  if (one === undefined) throw new Error(`wasm backend: wasmPaths names no URL for the ${variant} build`);
  return new URL(String(one), (globalThis as { location?: { href: string } }).location?.href ?? kernelURL(variant));
}

/** The bytes of one build, fetched from `kernelLocation`. */
export async function fetchKernel(variant: WasmVariant, env: WasmEnv = wasmEnv): Promise<Uint8Array> {
  const url = kernelLocation(variant, env);
  const f = env.fetch ?? (globalThis.fetch as ((u: URL) => Promise<Response>) | undefined);
  if (!f) throw new Error(`wasm backend: no fetch in this runtime to load ${url.href}; pass \`load\` or \`modules\``);
  let res: Response;
  try {
    res = await f(url);
  } catch (err) {
    const hint = url.protocol === 'file:' ? ' (this runtime cannot fetch file: URLs: on Node use gptedge/node, or pass `load`)' : '';
    throw new Error(`wasm backend: cannot load ${url.href}${hint}: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!res.ok)
    throw new Error(`wasm backend: ${url.href} answered ${res.status} ${res.statusText}; set wasmEnv.wasmPaths to where the gptedge-*.wasm files are served`);
  return new Uint8Array(await res.arrayBuffer());
}
