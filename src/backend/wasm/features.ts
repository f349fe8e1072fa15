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
 * Relaxed SIMD where the q8 kernels can use it: f32x4.relaxed_madd validates and the engine's
 * i16x8.relaxed_dot_i8x16_i7x16_s is exact on the operands those kernels give it (int8 codes in -128..127
 * against 7-bit codes in 0..127; wasm/assembly/quant.ts). The relaxed spec lets an engine round or
 * saturate only outside that range; this checks the engine keeps to it.
 */
export function hasRelaxedSimd(): boolean {
  return WebAssembly.validate(RELAXED) && relaxedDotExact();
}

/** the exact pair sums of i16x8.relaxed_dot_i8x16_i7x16_s on relaxedDotMatches' operands */
export const RELAXED_DOT_A = [127, 127, -127, -127, 127, -127, 1, -1, 100, -50, 0, 127, -3, 77, -128, 64];
export const RELAXED_DOT_B = [127, 127, 127, 127, 127, 127, 0, 5, 127, 64, 127, 0, 9, 126, 1, 127];

export function relaxedDotExact(): boolean {
  const want: number[] = [];
  for (let i = 0; i < 16; i += 2) want.push(RELAXED_DOT_A[i] * RELAXED_DOT_B[i] + RELAXED_DOT_A[i + 1] * RELAXED_DOT_B[i + 1]);
  return relaxedDotMatches(want);
}

/** whether the engine's i16x8.relaxed_dot_i8x16_i7x16_s(RELAXED_DOT_A, RELAXED_DOT_B) gives the 8 lanes `want` (false without relaxed SIMD) */
export function relaxedDotMatches(want: number[]): boolean {
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
  try {
    if (!WebAssembly.validate(bytes)) return false;
    return (new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports.f as () => number)() === 1;
  } catch {
    return false;
  }
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
