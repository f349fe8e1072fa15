// Feature detection by validation: the smallest module that uses the instruction, so the answer is
// the engine's own (flags, versions and embedders all differ).

// (module (func (result v128) (f32x4.add (v128.const i32x4 0 0 0 0) (v128.const i32x4 0 0 0 0))))
const SIMD128 = [
  0,
  97,
  115,
  109,
  1,
  0,
  0,
  0,
  1,
  5,
  1,
  96,
  0,
  1,
  123,
  3,
  2,
  1,
  0,
  10,
  43,
  1,
  41,
  0,
  253,
  12,
  ...new Array(16).fill(0),
  253,
  12,
  ...new Array(16).fill(0),
  253,
  228,
  1,
  11,
];

// (module (func (result v128) (f32x4.relaxed_madd (v128.const …0) (v128.const …0) (v128.const …0))))
const RELAXED = [
  0,
  97,
  115,
  109,
  1,
  0,
  0,
  0,
  1,
  5,
  1,
  96,
  0,
  1,
  123,
  3,
  2,
  1,
  0,
  10,
  61,
  1,
  59,
  0,
  253,
  12,
  ...new Array(16).fill(0),
  253,
  12,
  ...new Array(16).fill(0),
  253,
  12,
  ...new Array(16).fill(0),
  253,
  133,
  2,
  11,
];

export function hasSimd128(): boolean {
  return WebAssembly.validate(new Uint8Array(SIMD128));
}

export function hasRelaxedSimd(): boolean {
  return WebAssembly.validate(new Uint8Array(RELAXED));
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
