// Filling memory from the kernels, not from JS: on a shared memory (the threaded builds) V8's
// TypedArray.prototype.fill stores element by element (Uint8Array: 45 ms for 83 MB, 8× a memset;
// Float32Array 2–3×), so the allocator's zeroing of reused blocks and the backend's fill run here.
// Threads take ranges of whole 64-byte lines counted from dst.
import { part } from './common';

/**
 * bytes [dst, dst + n) = the 32-bit word `word` repeated from dst on (little-endian; n need not be a
 * multiple of 4: the last word is cut). word 0 zeroes; an f16 fill passes its bits twice.
 */
export function fillWords(dst: usize, n: u32, word: u32, tid: i32, nth: i32): void {
  // n up to the 4 GiB of a memory (a block may pass 2 GiB): lines and byte offsets in 64 bits
  const lines = <i32>((<u64>n + 63) >> 6);
  const b0 = <usize>(<u64>part(lines, tid, nth) << 6), b1 = <usize>min(<u64>n, <u64>part(lines, tid + 1, nth) << 6);
  if (b0 >= b1) return;
  if (word == 0) {
    memory.fill(dst + b0, 0, b1 - b0);
    return;
  }
  const v = i32x4.splat(<i32>word);
  let b = b0;
  for (; b + 16 <= b1; b += 16) v128.store(dst + b, v);
  for (; b + 4 <= b1; b += 4) store<u32>(dst + b, word);
  for (; b < b1; b++) store<u8>(dst + b, <u8>(word >> <u32>((b & 3) << 3)));
}
