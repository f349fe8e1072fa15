// matmul: out(M,N) = beta*out + op(a)(M,K) · op(b)(K,N) [+ bias(N)], every transpose; and bias backward.
//
// Tiling: a 16×16 workgroup (256 invocations: SwiftShader's limit) computes a 64×64 tile of out; each
// invocation holds a 4×4 register block (rows ty+16i, cols tx+16j, so neighbouring invocations read
// neighbouring workgroup-memory words). K advances in steps of 16 through two workgroup tiles
// As[k][m] and Bs[k][n] (2 × 4 KiB). Loads map the linear invocation index so that consecutive
// invocations read consecutive addresses whichever way the operand is stored (coalesced in all four
// transpose cases). Out-of-range rows/cols/k are loaded as 0 and never stored: any M, K, N works.
// Leading dimensions (lda, ldb, ldo: the stored row lengths) let the host run a block of a larger matrix,
// which it does when one operand is split across buffers (see src/backend/webgpu/webgpu.ts).
struct MatmulParams {
  M: u32, K: u32, N: u32,
  o_out: u32, o_a: u32, o_b: u32, o_bias: u32,
  trans_a: u32, trans_b: u32, beta: u32, has_bias: u32,
  lda: u32, ldb: u32, ldo: u32,
}
@group(0) @binding(0) var<uniform> p: MatmulParams;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read_write> a: array<f32>;
@group(0) @binding(3) var<storage, read_write> b: array<WT>; // f16 in the f16-weights variant
@group(0) @binding(4) var<storage, read_write> bias: array<f32>;

const TILE: u32 = 64u;
const TK: u32 = 16u;
var<workgroup> As: array<f32, 1024>; // [TK][TILE]
var<workgroup> Bs: array<f32, 1024>; // [TK][TILE]

@compute @workgroup_size(16, 16)
fn matmul(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
  let tx = lid3.x;
  let ty = lid3.y;
  let lid = ty * 16u + tx;
  let row0 = wid.y * TILE;
  let col0 = wid.x * TILE;
  var acc: array<f32, 16>;
  for (var k0 = 0u; k0 < p.K; k0 += TK) {
    for (var r = 0u; r < 4u; r++) {
      let idx = lid + r * 256u;
      // A tile: op(a)[row0+m, k0+k]
      var m: u32;
      var ka: u32;
      if (p.trans_a == 0u) { m = idx / TK; ka = idx % TK; } else { ka = idx / TILE; m = idx % TILE; }
      let gm = row0 + m;
      let gka = k0 + ka;
      var va = 0.0;
      if (gm < p.M && gka < p.K) {
        if (p.trans_a == 0u) { va = a[p.o_a + gm * p.lda + gka]; } else { va = a[p.o_a + gka * p.lda + gm]; }
      }
      As[ka * TILE + m] = va;
      // B tile: op(b)[k0+k, col0+n]
      var n: u32;
      var kb: u32;
      if (p.trans_b == 0u) { kb = idx / TILE; n = idx % TILE; } else { n = idx / TK; kb = idx % TK; }
      let gn = col0 + n;
      let gkb = k0 + kb;
      var vb = 0.0;
      if (gn < p.N && gkb < p.K) {
        if (p.trans_b == 0u) { vb = f32(b[p.o_b + gkb * p.ldb + gn]); } else { vb = f32(b[p.o_b + gn * p.ldb + gkb]); }
      }
      Bs[kb * TILE + n] = vb;
    }
    workgroupBarrier();
    for (var k = 0u; k < TK; k++) {
      var ar: array<f32, 4>;
      var br: array<f32, 4>;
      for (var i = 0u; i < 4u; i++) {
        ar[i] = As[k * TILE + ty + 16u * i];
        br[i] = Bs[k * TILE + tx + 16u * i];
      }
      for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) {
          acc[i * 4u + j] = fma(ar[i], br[j], acc[i * 4u + j]);
        }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let gm = row0 + ty + 16u * i;
    if (gm >= p.M) { continue; }
    for (var j = 0u; j < 4u; j++) {
      let gn = col0 + tx + 16u * j;
      if (gn >= p.N) { continue; }
      var v = acc[i * 4u + j];
      if (p.has_bias != 0u) { v += bias[p.o_bias + gn]; }
      let o = p.o_out + gm * p.ldo + gn;
      if (p.beta != 0u) { v += out[o]; }
      out[o] = v;
    }
  }
}

struct BiasParams { M: u32, N: u32, o_dbias: u32, o_dout: u32 }
@group(0) @binding(0) var<uniform> pb: BiasParams;
@group(0) @binding(1) var<storage, read_write> dbias: array<f32>;
@group(0) @binding(2) var<storage, read_write> dout: array<f32>;

// dbias(N) += column sums of dout(M,N). One invocation per column walks the rows in order: deterministic,
// no atomics (WGSL has no f32 atomics), and consecutive invocations read consecutive addresses.
@compute @workgroup_size(64)
fn bias_backward(@builtin(global_invocation_id) gid: vec3<u32>) {
  let n = gid.x;
  if (n >= pb.N) { return; }
  var s = 0.0;
  for (var m = 0u; m < pb.M; m++) { s += dout[pb.o_dout + m * pb.N + n]; }
  dbias[pb.o_dbias + n] = dbias[pb.o_dbias + n] + s;
}
