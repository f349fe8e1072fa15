// What no GPU has measured yet, computed from the kernels' tile parameters: for the matmul and attention
// kernels before (main at 73110d9) and after (src/wgsl/matmul.wgsl, attention.wgsl), the arithmetic
// intensity against global memory (FLOP per byte loaded from storage buffers, before any cache) and the
// workgroup-memory traffic per FLOP (bytes and access instructions). A proxy for speed, not a measurement:
// a GPU sustains its FLOP peak only when FLOP/byte exceeds its peak/bandwidth ratio (≈ 20–60 for current
// discrete GPUs) and workgroup-memory accesses do not bind first.
//   node_modules/.bin/bun bench/webgpu-intensity.ts
const B = 4; // bytes per f32

interface Row {
  kernel: string;
  flopPerGlobalByte: number;
  wgBytesPerFlop: number;
  wgAccessesPerFlop: number;
  note: string;
}

/**
 * A tiled matmul step: a workgroup computes a bm×bn tile, loading bm×bk of A and bk×bn of B per k-step
 * into workgroup memory; each invocation keeps an rm×rn block and, per k, reads rm + rn floats from
 * workgroup memory in `width`-float accesses.
 */
function tiledMatmul(kernel: string, bm: number, bn: number, bk: number, rm: number, rn: number, width: number, note: string): Row {
  const flops = 2 * bm * bn * bk; // per workgroup per k-step
  const global = (bm + bn) * bk * B;
  const invocations = (bm * bn) / (rm * rn);
  const wgReads = invocations * bk * (rm + rn) * B; // bytes read from workgroup memory per k-step
  const wgWrites = (bm + bn) * bk * B;
  const accesses = invocations * bk * ((rm + rn) / width) + (bm + bn) * bk; // vector reads + scalar/vec stores (counted per float)
  return { kernel, flopPerGlobalByte: flops / global, wgBytesPerFlop: (wgReads + wgWrites) / flops, wgAccessesPerFlop: accesses / flops, note };
}

const rows: Row[] = [
  tiledMatmul('matmul before (64×64, 4×4, k 16, scalar)', 64, 64, 16, 4, 4, 1, 'transposing tile stores 16-way bank conflicts (two of four transpose cases)'),
  tiledMatmul(
    'matmul_tiled (128×128, 8×8, k 8, vec4)',
    128,
    128,
    8,
    8,
    8,
    4,
    'rows padded to 132 floats: stores conflict-free; next k-tile fetched during compute',
  ),
  tiledMatmul('matmul_small (64×64, 4×4, k 16, scalar)', 64, 64, 16, 4, 4, 1, 'unchanged: outputs with fewer than 48 tiles of 128'),
];

// matvec (decoding, M ≤ 8 rows): b (K×N) is read once for all M rows, 2·M FLOP per 4 bytes of b. The 64-tile
// kernel it replaces for such outputs read b as often, but a 1-row output kept 1/64 of each tile's FMAs useful.
for (const M of [1, 8]) {
  rows.push({
    kernel: `matvec, M ${M}`,
    flopPerGlobalByte: (2 * M) / B,
    wgBytesPerFlop: 0,
    wgAccessesPerFlop: 0,
    note: `no workgroup tiles; before (64×64 tiles) ${((100 * M) / 64).toFixed(0)}% of the FMAs computed were useful`,
  });
}

/**
 * Causal attention at head size hs, per (query, key) pair: `flops`, the bytes of q/k/v/dout rows loaded
 * from global memory (`rowsLoaded` rows of hs floats, shared by `share` rows of the block), and the
 * workgroup-memory bytes and accesses, as the kernels' loops read them.
 */
function attention(kernel: string, flops: number, rowsLoaded: number, share: number, wgBytes: number, wgAccesses: number, note: string): Row {
  return { kernel, flopPerGlobalByte: flops / ((rowsLoaded * hs * B) / share), wgBytesPerFlop: wgBytes / flops, wgAccessesPerFlop: wgAccesses / flops, note };
}
const hs = 64,
  v4 = hs / 4;
// forward, 4·hs FLOP per pair. Before: q (scalar, per FMA) and p (per FMA) from workgroup memory, k and v
// rows from global. Flash: q in registers; k and v as vec4 from the tile; p once per invocation of the quad.
rows.push(
  attention('attention forward before (a workgroup per query)', 4 * hs, 2, 1, 2 * hs * B, 2 * hs, 'k, v rows re-read from global memory for every query'),
);
rows.push(
  attention(
    'flash_forward (16 queries per workgroup)',
    4 * hs,
    2,
    16,
    2 * v4 * 16 + 4 * B,
    2 * v4 + 4,
    'k, v tiles of 16 keys in workgroup memory, shared by 16 queries',
  ),
);
// dq, 6·hs FLOP per pair (q·k, dout·v, dS·k). Before: q, dout, dS scalar from workgroup memory per FMA;
// k, v, k from global. Flash: all four rows vec4 from workgroup memory; k, v tiles shared by 16 queries.
rows.push(attention('attention backward dq before (a workgroup per query)', 6 * hs, 3, 1, 3 * hs * B, 3 * hs, 'k, v re-read per query row'));
rows.push(
  attention(
    'flash_backward_dq (16 queries, key tiles of 8)',
    6 * hs,
    2,
    16,
    5 * v4 * 16 + 4 * B,
    5 * v4 + 4,
    'k, v tiles shared by 16 queries; more workgroup bytes per FLOP than before (vec4 reads: fewer accesses)',
  ),
);
// dk, dv, 8·hs FLOP per pair (q·k, dout·v, Pd·dout, dS·q)
rows.push(attention('attention backward dkv before (a workgroup per key)', 8 * hs, 4, 1, 4 * hs * B, 4 * hs, 'q, dout re-read per key row'));
rows.push(attention('flash_backward_dkv (16 keys, query tiles of 8)', 8 * hs, 2, 16, 6 * v4 * 16 + 8 * B, 6 * v4 + 8, 'q, dout tiles shared by 16 keys'));

const w = Math.max(...rows.map((r) => r.kernel.length));
console.log(`${'kernel'.padEnd(w)}  FLOP/global byte  workgroup B/FLOP  workgroup accesses/FLOP  note`);
for (const r of rows) {
  console.log(
    `${r.kernel.padEnd(w)}  ${r.flopPerGlobalByte.toFixed(2).padStart(16)}  ${r.wgBytesPerFlop.toFixed(3).padStart(16)}  ${r.wgAccessesPerFlop.toFixed(4).padStart(23)}  ${r.note}`,
  );
}
console.log('\nNo GPU has measured these kernels: the figures above are computed from tile sizes, not timed.');
