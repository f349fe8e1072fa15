// Quantized weights (q8, q4): matmul's b operand stored (N,K) and quantized along K, and the embedding's
// gather from a quantized table. Layout in one buffer (src/backend/webgpu/quant.ts): the codes, each row
// padded to whole u32 words (row_words), then one f32 scale per row (q8) or per group of 32 (q4, `groups`
// per row) from word o_scale on.
//   q8  byte k of a row is the int8 code of element k:             W[n,k] = code · scale[n]
//   q4  16 bytes per group; byte j of group g holds element 32g+j in its low nibble and 32g+16+j in
//       its high nibble (llama.cpp's Q4_0 order), codes 0..15:     W[n,k] = (code - 8) · scale[n, k/32]
// Weights are dequantized as they are read (f32 arithmetic on exactly the values the reference holds):
// matvec_q multiplies them for up to 8 rows (decoding), dequant_q writes a block of rows as f32 for the
// tiled matmul kernels (prefill). Q4 (a pipeline constant) picks the layout.

override Q4: bool = false;

// the quantized matrix of every kernel here (binding 3 in both Params layouts)
@group(0) @binding(3) var<storage, read_write> w: array<u32>;

// W[n, k] of the quantized matrix whose codes start at word `o_w`
fn dequant(o_w: u32, row_words: u32, o_scale: u32, groups: u32, n: u32, k: u32) -> f32 {
  if (Q4) {
    let g = k / 32u;
    let j = k % 32u;
    let byte_index = g * 16u + (j % 16u);
    let byte = (w[o_w + n * row_words + byte_index / 4u] >> ((byte_index % 4u) * 8u)) & 0xffu;
    let code = select(byte & 15u, byte >> 4u, j >= 16u);
    return (f32(code) - 8.0) * bitcast<f32>(w[o_scale + n * groups + g]);
  }
  let word = w[o_w + n * row_words + k / 4u];
  let code = bitcast<i32>(word << (24u - (k % 4u) * 8u)) >> 24u; // the byte, sign-extended
  return f32(code) * bitcast<f32>(w[o_scale + n]);
}

struct QuantParams {
  M: u32, K: u32, N: u32,
  o_out: u32, o_a: u32, o_w: u32, o_bias: u32,
  beta: u32, has_bias: u32,
  lda: u32, ldo: u32,
  row_words: u32, o_scale: u32, groups: u32,
  n0: u32,
}
@group(0) @binding(0) var<uniform> p: QuantParams;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read_write> a: array<f32>;
@group(0) @binding(4) var<storage, read_write> bias: array<f32>;

const MVQ_ROWS: u32 = 8u;
var<workgroup> red_q: array<f32, 2048>; // [MVQ_ROWS][256] partial sums

// out(M,N) = beta·out + a(M,K)·W(N,K)ᵀ [+ bias], M <= 8: 8 columns per workgroup, 32 invocations each
// along K (consecutive invocations read consecutive weights), the k-slices of a column summed in a fixed order.
@compute @workgroup_size(256)
fn matvec_q(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let blk = linear_id(wid, nwg);
  let n = blk * 8u + lid / 32u;
  var acc: array<f32, 8>;
  if (n < p.N) {
    for (var k = lid % 32u; k < p.K; k += 32u) {
      let wv = dequant(p.o_w, p.row_words, p.o_scale, p.groups, n, k);
      for (var m = 0u; m < min(p.M, MVQ_ROWS); m++) { acc[m] = fma(a[p.o_a + m * p.lda + k], wv, acc[m]); }
    }
  }
  for (var m = 0u; m < MVQ_ROWS; m++) { red_q[m * 256u + lid] = acc[m]; }
  workgroupBarrier();
  if (lid >= 8u) { return; }
  let col = blk * 8u + lid;
  if (col >= p.N) { return; }
  for (var m = 0u; m < min(p.M, MVQ_ROWS); m++) {
    var s = 0.0;
    for (var j = 0u; j < 32u; j++) { s += red_q[m * 256u + lid * 32u + j]; }
    if (p.has_bias != 0u) { s += bias[p.o_bias + col]; }
    let o = p.o_out + m * p.ldo + col;
    if (p.beta != 0u) { s += out[o]; }
    out[o] = s;
  }
}

// out(N rows of the block, K) = W[n0 + r, k] as f32: rows n0 .. n0+N of the quantized matrix
@compute @workgroup_size(256)
fn dequant_q(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg) * 256u + lid;
  if (i >= p.N * p.K) { return; }
  out[p.o_out + i] = dequant(p.o_w, p.row_words, p.o_scale, p.groups, p.n0 + i / p.K, i % p.K);
}

struct EncoderQParams { n: u32, C: u32, T: u32, o_eout: u32, o_ids: u32, o_w: u32, o_wpe: u32, pos0: u32, row_words: u32, o_scale: u32, groups: u32 }
@group(0) @binding(0) var<uniform> pe: EncoderQParams;
@group(0) @binding(1) var<storage, read_write> eout: array<f32>;
@group(0) @binding(2) var<storage, read_write> ids: array<i32>;
@group(0) @binding(4) var<storage, read_write> wpe: array<f32>;

// out(B,T,C) = W_e[ids[b,t]] (dequantized) + wpe[pos0 + t]. n = B*T*C.
@compute @workgroup_size(256)
fn encoder_forward_q(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg) * 256u + lid;
  if (i >= pe.n) { return; }
  let c = i % pe.C;
  let bt = i / pe.C;
  let tok = u32(ids[pe.o_ids + bt]);
  let pos = pe.pos0 + bt % pe.T;
  eout[pe.o_eout + i] = dequant(pe.o_w, pe.row_words, pe.o_scale, pe.groups, tok, c) + wpe[pe.o_wpe + pos * pe.C + c];
}
