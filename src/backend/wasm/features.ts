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

export function hasRelaxedSimd(): boolean {
  return WebAssembly.validate(RELAXED);
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
