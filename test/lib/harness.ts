// One test API for every runtime: vitest under Node, `bun test` under Bun, `deno test` under Deno.
// Test files import `test` and the assertions from here, so the same file runs in all three.
type TestFn = () => void | Promise<void>;
type Register = (name: string, fn: TestFn, timeoutMs?: number) => void;

const g = globalThis as unknown as { Deno?: { test(o: object): void }; Bun?: unknown };
let register: Register;
if (g.Deno) {
  const deno = g.Deno;
  register = (name, fn) => deno.test({ name, fn, sanitizeOps: false, sanitizeResources: false });
} else {
  // the module name is built at run time so that no bundler or type checker tries to resolve it
  const mod = (await import(/* @vite-ignore */ g.Bun ? 'bun:' + 'test' : 'vi' + 'test')) as { test: (n: string, f: TestFn, t?: number) => void };
  register = (name, fn, timeoutMs) => mod.test(name, fn, timeoutMs ?? 120_000);
}

export const runtime: 'deno' | 'bun' | 'node' = g.Deno ? 'deno' : g.Bun ? 'bun' : 'node';

export function test(name: string, fn: TestFn, timeoutMs?: number): void {
  register(name, fn, timeoutMs);
}

export class AssertionError extends Error {}

export function assert(cond: unknown, msg = 'assertion failed'): asserts cond {
  if (!cond) throw new AssertionError(msg);
}

export function assertEqual<T>(actual: T, expected: T, msg = ''): void {
  const a = JSON.stringify(actual),
    e = JSON.stringify(expected);
  if (a !== e) throw new AssertionError(`${msg ? msg + ': ' : ''}expected ${e.slice(0, 400)}, got ${a.slice(0, 400)}`);
}

/**
 * Elementwise |a - e| <= atol + rtol * |e|. Reports the worst element. Returns the max abs error.
 */
export function assertClose(actual: ArrayLike<number> | number, expected: ArrayLike<number> | number, tol: { atol?: number; rtol?: number }, msg = ''): number {
  const a = typeof actual === 'number' ? [actual] : actual;
  const e = typeof expected === 'number' ? [expected] : expected;
  const atol = tol.atol ?? 0,
    rtol = tol.rtol ?? 0;
  if (a.length !== e.length) throw new AssertionError(`${msg}: length ${a.length} != ${e.length}`);
  let worst = -1,
    worstExcess = -Infinity,
    maxAbs = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - e[i]);
    if (!(d <= maxAbs) && Number.isFinite(d)) maxAbs = Math.max(maxAbs, d);
    const excess = d - (atol + rtol * Math.abs(e[i]));
    if (!(excess <= 0) && (Number.isNaN(excess) || excess > worstExcess)) {
      worst = i;
      worstExcess = Number.isNaN(excess) ? Infinity : excess;
    }
  }
  if (worst >= 0) {
    throw new AssertionError(
      `${msg ? msg + ': ' : ''}element ${worst} of ${a.length}: got ${a[worst]}, expected ${e[worst]} (atol ${atol}, rtol ${rtol}); max abs error ${maxAbs}`,
    );
  }
  return maxAbs;
}

export function assertThrows(fn: () => unknown, pattern: RegExp, msg = ''): Error {
  try {
    fn();
  } catch (err) {
    const m = err instanceof Error ? err.message : String(err);
    if (!pattern.test(m)) throw new AssertionError(`${msg ? msg + ': ' : ''}error "${m}" does not match ${pattern}`);
    return err as Error;
  }
  throw new AssertionError(`${msg ? msg + ': ' : ''}expected an error matching ${pattern}, none was thrown`);
}

export async function assertRejects(fn: () => Promise<unknown>, pattern: RegExp, msg = ''): Promise<Error> {
  try {
    await fn();
  } catch (err) {
    const m = err instanceof Error ? err.message : String(err);
    if (!pattern.test(m)) throw new AssertionError(`${msg ? msg + ': ' : ''}error "${m}" does not match ${pattern}`);
    return err as Error;
  }
  throw new AssertionError(`${msg ? msg + ': ' : ''}expected a rejection matching ${pattern}, none came`);
}

/** A small deterministic PRNG for test data (mulberry32). */
export function rand(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randn(n: number, seed: number, std = 1): Float32Array {
  const r = rand(seed),
    out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = std * Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r());
  return out;
}
