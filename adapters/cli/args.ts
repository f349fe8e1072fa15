// What the commands' option parsing has in common: numeric options with a clear error, and the
// sampling options of `generate` (shared by the gptedge and the ONNX Runtime paths).
import type { GenerateChunk, GenerateOptions } from '../../src/infer/generate.ts';
import { WEIGHTS_KINDS, type WeightsKind } from '../../src/model/gpt.ts';

/** A numeric option: absent stays undefined; anything else must be a finite number. */
export function numArg(name: string, v: string): number;
export function numArg(name: string, v: string | undefined): number | undefined;
export function numArg(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new Error(`--${name} must be a number, got "${v}"`);
  return n;
}

export const SAMPLING_OPTIONS = {
  prompt: { type: 'string', default: '' },
  'max-tokens': { type: 'string', default: '100' },
  temperature: { type: 'string', default: '0.8' },
  'top-k': { type: 'string', default: '40' },
  'top-p': { type: 'string', default: '1' },
  seed: { type: 'string', default: '0' },
  stop: { type: 'string', multiple: true },
} as const;

export const SAMPLING_HELP = `  --prompt TEXT        the text to continue (default: start from <|endoftext|>)
  --max-tokens N       tokens to generate (default 100)
  --temperature X      0 = greedy (default 0.8)
  --top-k N            sample among the N most likely tokens (default 40; 0 = all)
  --top-p X            nucleus sampling threshold (default 1)
  --seed N             sampling seed (default 0)
  --stop S             stop before this string; repeatable`;

export function samplingFrom(a: {
  'max-tokens'?: string;
  temperature?: string;
  'top-k'?: string;
  'top-p'?: string;
  seed?: string;
  stop?: string[];
}): GenerateOptions {
  return {
    maxTokens: numArg('max-tokens', a['max-tokens']),
    temperature: numArg('temperature', a.temperature),
    topK: numArg('top-k', a['top-k']),
    topP: numArg('top-p', a['top-p']),
    seed: numArg('seed', a.seed),
    stop: a.stop,
  };
}

/** --weights f32|f16|int8|int4: how a served or generating model stores its matrices (default: as the folder stores them) */
export const WEIGHTS_OPTION = { weights: { type: 'string' } } as const;
export const WEIGHTS_HELP = `  --weights W          f32 | f16 | int8 | int4 (default: as the folder stores them; inference only):
                       f16 halves the weights' memory (WebGPU with shader-f16), int8 / int4 quantize
                       them on load (WASM or reference; gptedge quantize stores them ahead)`;
export function weightsFrom(a: { weights?: string }): WeightsKind | undefined {
  if (a.weights === undefined) return undefined;
  if (!WEIGHTS_KINDS.includes(a.weights as WeightsKind)) throw new Error(`--weights must be one of ${WEIGHTS_KINDS.join(', ')}, got "${a.weights}"`);
  return a.weights as WeightsKind;
}

/** --kv-cache f32|f16: how the KV cache stores k and v (f16: half its memory; WASM) */
export const KV_CACHE_OPTION = { 'kv-cache': { type: 'string' } } as const;
export const KV_CACHE_HELP = `  --kv-cache K         f32 | f16 (default f32): f16 stores the KV cache in half precision, half its
                       memory (WASM or reference); attention still computes in f32`;
export function kvCacheFrom(a: { 'kv-cache'?: string }): 'f32' | 'f16' | undefined {
  const k = a['kv-cache'];
  if (k !== undefined && k !== 'f32' && k !== 'f16') throw new Error(`--kv-cache must be f32 or f16, got "${k}"`);
  return k;
}

/**
 * Prints a generation as it streams: the prompt and the text to stdout, the finish reason to stderr (a
 * status, not text: redirected output holds the text alone).
 */
export async function printGeneration(prompt: string, chunks: AsyncIterable<GenerateChunk>): Promise<void> {
  process.stdout.write(prompt);
  for await (const c of chunks) {
    process.stdout.write(c.text);
    if (c.done) {
      process.stdout.write('\n');
      console.error(`[${c.finishReason}]`);
    }
  }
}
