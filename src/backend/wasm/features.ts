// Feature detection by validation: the smallest module that uses the instruction, so the answer is
// the engine's own (flags, versions and embedders all differ).

/**
 * The bytes of (module (func (result v128) (OP (v128.const 0) × consts))): one function of type
 * [] → [v128] whose body pushes `consts` zero vectors and applies the instruction `op` (its encoding).
 * Every length here is under 128, so each LEB128 size is one byte.
 */
function probe(consts: number, op: number[]): Uint8Array<ArrayBuffer> {
  const zero = [0xfd, 12, ...new Array(16).fill(0)]; // v128.const i32x4 0 0 0 0
  const body = [0, ...new Array(consts).fill(zero).flat(), ...op, 11]; // no locals … end
  return new Uint8Array([
    ...[0, 97, 115, 109, 1, 0, 0, 0], // \0asm, version 1
    ...[1, 5, 1, 0x60, 0, 1, 0x7b], // type section: func [] -> [v128]
    ...[3, 2, 1, 0], // function section: one function of type 0
    ...[10, body.length + 2, 1, body.length, ...body], // code section: one body
  ]);
}

const SIMD128 = probe(2, [0xfd, 228, 1]); // f32x4.add
const RELAXED = probe(3, [0xfd, 133, 2]); // f32x4.relaxed_madd

export function hasSimd128(): boolean {
  return WebAssembly.validate(SIMD128);
}

/**
 * Relaxed SIMD as the int8 kernels need it:
 * - 'exact': f32x4.relaxed_madd validates and the engine's i16x8.relaxed_dot_i8x16_i7x16_s is exact on the
 *   operands those kernels give it (int8 codes in -128..127 against 7-bit codes in 0..127;
 *   wasm/assembly/quant.ts) — the relaxed spec lets an engine round or saturate only outside that range;
 * - 'inexact': it validates, but this engine's dot is not exact there;
 * - 'absent': it does not validate (or no SIMD at all);
 * - 'unchecked': it validates, but this embedder refuses to compile WebAssembly from bytes (workerd, Cloudflare
 *   Workers), so the dot can be checked only on a module the runtime compiled: createWasmBackend runs the
 *   relaxed kernel build's own dotI8Pairs (kernelDotMatches) before it keeps that build.
 */
export function relaxedSimdStatus(): 'exact' | 'inexact' | 'absent' | 'unchecked' {
  if (!WebAssembly.validate(RELAXED)) return 'absent';
  const m = relaxedDotMatches(relaxedDotWant());
  return m === null ? 'unchecked' : m ? 'exact' : 'inexact';
}

/** relaxed SIMD known to validate here with an exact int8 dot (relaxedSimdStatus() 'exact') */
export function hasRelaxedSimd(): boolean {
  return relaxedSimdStatus() === 'exact';
}

/** the exact pair sums of i16x8.relaxed_dot_i8x16_i7x16_s on RELAXED_DOT_A, RELAXED_DOT_B */
export function relaxedDotWant(): number[] {
  const want: number[] = [];
  for (let i = 0; i < 16; i += 2) want.push(RELAXED_DOT_A[i] * RELAXED_DOT_B[i] + RELAXED_DOT_A[i + 1] * RELAXED_DOT_B[i + 1]);
  return want;
}
export const RELAXED_DOT_A = [127, 127, -127, -127, 127, -127, 1, -1, 100, -50, 0, 127, -3, 77, -128, 64];
export const RELAXED_DOT_B = [127, 127, 127, 127, 127, 127, 0, 5, 127, 64, 127, 0, 9, 126, 1, 127];

/**
 * whether the engine's i16x8.relaxed_dot_i8x16_i7x16_s(RELAXED_DOT_A, RELAXED_DOT_B) gives the 8 lanes `want`:
 * false without relaxed SIMD, null where the probe module cannot be compiled from bytes (workerd)
 */
export function relaxedDotMatches(want: number[]): boolean | null {
  const v128 = (bytes: number[]) => [0xfd, 12, ...bytes]; // v128.const
  const i16 = (xs: number[]) => xs.flatMap((x) => [x & 0xff, (x >> 8) & 0xff]);
  // (func (export "f") (result i32) (i16x8.all_true (i16x8.eq (i16x8.relaxed_dot_i8x16_i7x16_s A B) want)))
  const body = [0, ...v128(RELAXED_DOT_A.map((x) => x & 0xff)), ...v128(RELAXED_DOT_B), 0xfd, 0x92, 2, ...v128(i16(want)), 0xfd, 45, 0xfd, 0x83, 1, 11];
  const bytes = new Uint8Array([
    ...[0, 97, 115, 109, 1, 0, 0, 0],
    ...[1, 5, 1, 0x60, 0, 1, 0x7f], // type section: func [] -> [i32]
    ...[3, 2, 1, 0],
    ...[7, 5, 1, 1, 102, 0, 0], // export section: "f" = func 0
    ...[10, body.length + 2, 1, body.length, ...body],
  ]);
  if (!WebAssembly.validate(bytes)) return false;
  let module: WebAssembly.Module;
  try {
    module = new WebAssembly.Module(bytes);
  } catch {
    return null; // "Wasm code generation disallowed by embedder"
  }
  return (new WebAssembly.Instance(module).exports.f as () => number)() === 1;
}

/**
 * The same check on a kernel build already instantiated: its dotI8Pairs (wasm/assembly/quant.ts) on
 * RELAXED_DOT_A, RELAXED_DOT_B, with 48 bytes of `memory` at `at` as scratch (zeroed again after).
 */
export function kernelDotMatches(dotI8Pairs: (a: number, b: number, out: number) => void, memory: WebAssembly.Memory, at: number): boolean {
  const bytes = new Uint8Array(memory.buffer, at, 48);
  bytes.set(RELAXED_DOT_A.map((x) => x & 0xff));
  bytes.set(RELAXED_DOT_B, 16);
  dotI8Pairs(at, at + 16, at + 32);
  const got = new Int16Array(memory.buffer, at + 32, 8),
    want = relaxedDotWant();
  const same = want.every((w, i) => got[i] === w);
  bytes.fill(0);
  return same;
}

/** Shared memory (and so a worker pool) needs SharedArrayBuffer, which browsers give only cross-origin isolated pages. */
export function hasSharedMemory(): boolean {
  if (typeof SharedArrayBuffer === 'undefined') return false;
  try {
    return new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true }).buffer instanceof SharedArrayBuffer;
  } catch {
    return false;
  }
}
