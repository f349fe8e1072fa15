// Times a backend's ops from outside: wraps its public ops so that each call reports its wall time to a hook.
// The WASM backend's ops are synchronous, so a call's wall time is the op's time. Used by bench/gpt.ts
// (--profile, --alongside) and bench/kernel-ab.ts (--ops). A bench tool, never a timed test.
import type { Backend } from '../src/backend/backend.ts';

export const TIMED_OPS = [
  'matmul',
  'attentionForward',
  'attentionBackward',
  'attentionCached',
  'layernormForward',
  'layernormBackward',
  'geluForward',
  'geluBackward',
  'residualForward',
  'biasBackward',
  'crossEntropyForward',
  'crossEntropyBackward',
  'encoderForward',
  'encoderBackward',
  'adamw',
  'sumSquares',
  'fill',
  'copy',
  'write',
  'read',
  'gatherRows',
  'dropoutForward',
  'accumulate',
] as const;

/** A call's row in a profile, and the FLOPs it counts: matmuls by kind (V: the vocabulary, which marks the LM head), attention's products */
export function opKey(op: string, args: unknown[], V: number): { key: string; flops: number } {
  if (op === 'matmul') {
    const [M, K, N, tA, tB] = args.slice(4, 9) as [number, number, number, boolean, boolean];
    const kind = tA ? 'Aᵀ·B (dW)' : tB ? 'A·Bᵀ (dX; the LM head fwd)' : 'A·B (fwd)';
    return { key: `matmul ${M === V || K === V || N === V ? 'LM head ' : ''}${kind}`, flops: 2 * M * K * N };
  }
  if (op === 'attentionForward' || op === 'attentionBackward') {
    const [B, T, C] = args.slice(op === 'attentionForward' ? 3 : 5) as number[];
    // the causal half of the products: attention's own rate (flops.ts counts the model's full T×T)
    return { key: op, flops: (op === 'attentionForward' ? 2 : 4) * B * T * T * C };
  }
  return { key: op, flops: 0 };
}

/**
 * Wraps be's ops (in place). Each call first asks `before(op)`; when it returns true the call is timed and
 * `after(op, args, ms)` hears of it, otherwise it runs untouched.
 */
export function timeOps(be: Backend, before: (op: string) => boolean, after: (op: string, args: unknown[], ms: number) => void): void {
  const b = be as unknown as Record<string, (...a: unknown[]) => unknown>;
  for (const op of TIMED_OPS) {
    const orig = b[op];
    if (typeof orig !== 'function') continue;
    b[op] = (...args: unknown[]) => {
      if (!before(op)) return orig.apply(be, args);
      const t = performance.now();
      const r = orig.apply(be, args);
      after(op, args, performance.now() - t);
      return r;
    };
  }
}
