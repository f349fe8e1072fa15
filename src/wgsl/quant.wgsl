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

// ---- int8 weights on packed integer dot products (WGSL's packed_4x8_integer_dot_product) -----------------
// For up to 8 rows: quantize_act writes each row of a as integers q = round(a/s), s = max|block|/32639 per
// block of 256 inputs, split q = 256·h + l with h, l in -128..127 and packed four to a word (hi and lo
// planes, then the block scales); matvec_q8_dot4 sums Σ q·code = 256·Σ h·code + Σ l·code exactly in i32
// with dot4I8Packed (the weights' words are already four int8 codes) and scales per block and column.
struct ActQParams { M: u32, K: u32, o_act: u32, o_aq: u32, lda: u32, row_words: u32, blocks: u32 }
@group(0) @binding(0) var<uniform> pq: ActQParams;
@group(0) @binding(1) var<storage, read_write> act: array<u32>;
@group(0) @binding(2) var<storage, read_write> aq: array<f32>;

//#if packed
// one invocation per (row, block)
@compute @workgroup_size(64)
fn quantize_act(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg) * 64u + lid;
  if (i >= pq.M * pq.blocks) { return; }
  let m = i / pq.blocks;
  let b = i % pq.blocks;
  let k0 = b * 256u;
  let k1 = min(pq.K, k0 + 256u);
  var mx = 0.0;
  for (var k = k0; k < k1; k++) { mx = max(mx, abs(aq[pq.o_aq + m * pq.lda + k])); }
  let inv = select(0.0, 32639.0 / mx, mx > 0.0);
  let row = pq.o_act + m * (2u * pq.row_words + pq.blocks);
  act[row + 2u * pq.row_words + b] = bitcast<u32>(mx / 32639.0);
  for (var wi = b * 64u; wi < min((b + 1u) * 64u, pq.row_words); wi++) {
    var h = vec4<i32>(0);
    var l = vec4<i32>(0);
    for (var j = 0u; j < 4u; j++) {
      let k = wi * 4u + j;
      var q = 0;
      if (k < pq.K) { q = i32(round(aq[pq.o_aq + m * pq.lda + k] * inv)); }
      h[j] = (q + 128) >> 8u;
      l[j] = q - 256 * h[j];
    }
    act[row + wi] = pack4xI8(h);
    act[row + pq.row_words + wi] = pack4xI8(l);
  }
}
//#endif

struct QuantDotParams { M: u32, K: u32, N: u32, o_dout: u32, o_dact: u32, o_w: u32, o_dbias: u32, beta: u32, has_bias: u32, ldo: u32, row_words: u32, o_scale: u32, blocks: u32 }
@group(0) @binding(0) var<uniform> pd: QuantDotParams;
@group(0) @binding(1) var<storage, read_write> dout: array<f32>;
@group(0) @binding(2) var<storage, read_write> dact: array<u32>;
@group(0) @binding(4) var<storage, read_write> dbias: array<f32>;

//#if packed
// out(M,N) = beta·out + a·W(N,K)ᵀ [+ bias], W int8, M <= 8: as matvec_q, 8 columns × 32 invocations
@compute @workgroup_size(256)
fn matvec_q8_dot4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let blk = linear_id(wid, nwg);
  let n = blk * 8u + lid / 32u;
  let stride = 2u * pd.row_words + pd.blocks;
  var acc: array<f32, 8>;
  if (n < pd.N) {
    for (var b = 0u; b < pd.blocks; b++) {
      var ai = array<i32, 8>(0, 0, 0, 0, 0, 0, 0, 0); // explicitly, each block
      for (var wi = b * 64u + lid % 32u; wi < min((b + 1u) * 64u, pd.row_words); wi += 32u) {
        let c = w[pd.o_w + n * pd.row_words + wi];
        for (var m = 0u; m < min(pd.M, MVQ_ROWS); m++) {
          let r = pd.o_dact + m * stride;
          ai[m] += 256 * dot4I8Packed(dact[r + wi], c) + dot4I8Packed(dact[r + pd.row_words + wi], c);
        }
      }
      for (var m = 0u; m < min(pd.M, MVQ_ROWS); m++) { acc[m] = fma(f32(ai[m]), bitcast<f32>(dact[pd.o_dact + m * stride + 2u * pd.row_words + b]), acc[m]); }
    }
  }
  for (var m = 0u; m < MVQ_ROWS; m++) { red_q[m * 256u + lid] = acc[m]; }
  workgroupBarrier();
  if (lid >= 8u) { return; }
  let col = blk * 8u + lid;
  if (col >= pd.N) { return; }
  let scale = bitcast<f32>(w[pd.o_scale + col]);
  for (var m = 0u; m < min(pd.M, MVQ_ROWS); m++) {
    var s = 0.0;
    for (var j = 0u; j < 32u; j++) { s += red_q[m * 256u + lid * 32u + j]; }
    s *= scale;
    if (pd.has_bias != 0u) { s += dbias[pd.o_dbias + col]; }
    let o = pd.o_dout + m * pd.ldo + col;
    if (pd.beta != 0u) { s += dout[o]; }
    dout[o] = s;
  }
}
//#endif
