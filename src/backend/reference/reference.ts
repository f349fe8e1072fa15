// The reference backend: plain TypeScript loops over typed arrays, written for clarity, not speed.
// It is the oracle every other backend is tested against, so each op is the textbook formula.
// Arguments arrive checked (src/backend/checks.ts, applied at the end of this file).
import type { AdamWParams, Arena, ArenaSpec, Backend, DType, DropoutRng, Tensor } from '../backend.ts';
import { dropThreshold, keep, rngKey } from '../rng.ts';
import { roundF16 } from '../f16.ts';
import { codeBytesPerRow, dequantizeRows, isQuant, quantizeRows, scalesPerRow, type QuantDType, type QuantizedRows } from '../quant.ts';
import { checkedOps, HOST_INTS } from '../checks.ts';

type Buf = Float32Array | Int32Array;

interface RefTensor extends Tensor {
  readonly buffer: Buf;
  /** quantized tensors: their codes and scales (the buffer holds the dequantized values) */
  readonly quant?: QuantizedRows;
}

const GELU_K = Math.sqrt(2 / Math.PI);

/** an f32 (or f16, or quantized: dequantized) tensor's values */
function f(t: Tensor): Float32Array {
  const r = t as RefTensor;
  return (r.buffer as Float32Array).subarray(r.offset, r.offset + r.length);
}
/** how a KV cache stores a new k or v: as is (f32 caches) or rounded to a half (f16 caches) */
function kvRounding(k: Tensor): (x: number) => number {
  return k.dtype === 'f16' ? roundF16 : (x) => x;
}
function i32(t: Tensor): Int32Array {
  const r = t as RefTensor;
  return (r.buffer as Int32Array).subarray(r.offset, r.offset + r.length);
}

/**
 * One head of one query against cache rows 0..last: out[y..y+hs) = softmax(q·kᵀ·sc)·v, with q at x[q..],
 * keys and values at K/V[kv + u*C ..] (rows of C). Scores in s (f64 scratch of last+1).
 */
function attendCache(
  o: Float32Array,
  y: number,
  x: Float32Array,
  q: number,
  K: Float32Array,
  V: Float32Array,
  kv: number,
  last: number,
  C: number,
  hs: number,
  sc: number,
  s: Float64Array,
): void {
  let mx = -Infinity;
  for (let u = 0; u <= last; u++) {
    const k = kv + u * C;
    let d = 0;
    for (let i = 0; i < hs; i++) d += x[q + i] * K[k + i];
    s[u] = d * sc;
    if (s[u] > mx) mx = s[u];
  }
  let z = 0;
  for (let u = 0; u <= last; u++) z += Math.exp(s[u] - mx);
  for (let i = 0; i < hs; i++) o[y + i] = 0;
  for (let u = 0; u <= last; u++) {
    const p = Math.exp(s[u] - mx) / z,
      v = kv + u * C;
    for (let i = 0; i < hs; i++) o[y + i] += p * V[v + i];
  }
}

export class ReferenceBackend implements Backend {
  readonly name = 'reference';
  /** f16 tensors hold f16-rounded values in f32 arrays: the oracle for the WebGPU f16 variant */
  readonly f16Storage = true;
  /** quantized tensors hold their codes and, for the ops, the dequantized values: the oracle for WASM */
  readonly quantStorage = true;
  /** f16 KV caches hold the halves WASM's do (roundF16 as written) */
  readonly halfKVCache = true;

  allocArena(specs: ArenaSpec[]): Arena {
    const arena: Arena = {};
    for (const s of specs) if (isQuant(s.dtype ?? 'f32')) arena[s.name] = this.alloc(s.length, s.dtype, s.rowLength);
    for (const dtype of ['f32', 'i32', 'f16'] as DType[]) {
      const group = specs.filter((s) => (s.dtype ?? 'f32') === dtype);
      const total = group.reduce((n, s) => n + s.length, 0);
      const buffer = dtype === 'i32' ? new Int32Array(total) : new Float32Array(total);
      let offset = 0;
      for (const s of group) {
        arena[s.name] = { buffer, offset, length: s.length, dtype } as RefTensor;
        offset += s.length;
      }
    }
    return arena;
  }
  alloc(length: number, dtype: DType = 'f32', rowLength?: number): Tensor {
    if (isQuant(dtype)) {
      const K = rowLength!,
        rows = length / K;
      const quant = quantizeRows(dtype, new Float32Array(length), rows, K); // zeros: codes 0 (q8) or 8 (q4)
      return { buffer: new Float32Array(length), offset: 0, length, dtype, rowLength: K, quant } as RefTensor;
    }
    const buffer = dtype === 'i32' ? new Int32Array(length) : new Float32Array(length);
    return { buffer, offset: 0, length, dtype } as RefTensor;
  }
  free(): void {
    // garbage collected
  }
  slice(t: Tensor, offset: number, length: number): Tensor {
    if (isQuant(t.dtype)) return t; // whole (checks.ts)
    return { buffer: t.buffer, offset: t.offset + offset, length, dtype: t.dtype } as RefTensor;
  }
  write(t: Tensor, data: Float32Array | Int32Array, dstOffset = 0): void {
    if (isQuant(t.dtype)) {
      const K = t.rowLength!;
      this.writeQuantized(t, quantizeRows(t.dtype, Float32Array.from(data), data.length / K, K), dstOffset / K);
      return;
    }
    const dst = t.dtype === 'i32' ? i32(t) : f(t);
    dst.set(t.dtype === 'f16' ? data.map(roundF16) : data, dstOffset);
  }
  read(t: Tensor): Promise<Float32Array | Int32Array> {
    return Promise.resolve(t.dtype === 'i32' ? i32(t).slice() : f(t).slice());
  }
  writeQuantized(t: Tensor, q: QuantizedRows, firstRow = 0): void {
    const r = t as RefTensor,
      dtype = t.dtype as QuantDType;
    const K = t.rowLength!,
      cb = codeBytesPerRow(dtype, K),
      sc = scalesPerRow(dtype, K),
      n = q.codes.length / cb;
    r.quant!.codes.set(q.codes, firstRow * cb);
    r.quant!.scales.set(q.scales, firstRow * sc);
    f(t).set(dequantizeRows(dtype, q, n, K), firstRow * K);
  }
  readQuantized(t: Tensor): Promise<QuantizedRows> {
    const q = (t as RefTensor).quant!;
    return Promise.resolve({ codes: q.codes.slice(), scales: q.scales.slice() });
  }
  sync(): Promise<void> {
    return Promise.resolve();
  }
  fill(t: Tensor, value: number): void {
    (t.dtype === 'i32' ? i32(t) : f(t)).fill(t.dtype === 'f16' ? roundF16(value) : value);
  }
  copy(dst: Tensor, src: Tensor): void {
    const from = src.dtype === 'i32' ? i32(src) : f(src);
    (dst.dtype === 'i32' ? i32(dst) : f(dst)).set(dst.dtype === 'f16' && src.dtype !== 'f16' ? from.map(roundF16) : from);
  }

  // ---- embedding ----------------------------------------------------------------------------------
  encoderForward(out: Tensor, ids: Tensor, wte: Tensor, wpe: Tensor, B: number, T: number, C: number, posOffset: number): void {
    const o = f(out),
      id = i32(ids),
      e = f(wte),
      p = f(wpe);
    for (let bt = 0; bt < B * T; bt++) {
      const tok = id[bt],
        pos = posOffset + (bt % T);
      for (let c = 0; c < C; c++) o[bt * C + c] = e[tok * C + c] + p[pos * C + c];
    }
  }
  encoderBackward(dwte: Tensor, dwpe: Tensor, dout: Tensor, ids: Tensor, B: number, T: number, C: number): void {
    const de = f(dwte),
      dp = f(dwpe),
      d = f(dout),
      id = i32(ids);
    for (let bt = 0; bt < B * T; bt++) {
      const tok = id[bt],
        t = bt % T;
      for (let c = 0; c < C; c++) {
        de[tok * C + c] += d[bt * C + c];
        dp[t * C + c] += d[bt * C + c];
      }
    }
  }

  // ---- layernorm ----------------------------------------------------------------------------------
  layernormForward(out: Tensor, mean: Tensor, rstd: Tensor, inp: Tensor, w: Tensor, b: Tensor, N: number, C: number, eps: number): void {
    const o = f(out),
      mu = f(mean),
      rs = f(rstd),
      x = f(inp),
      g = f(w),
      bb = f(b);
    for (let n = 0; n < N; n++) {
      let m = 0;
      for (let c = 0; c < C; c++) m += x[n * C + c];
      m /= C;
      let v = 0;
      for (let c = 0; c < C; c++) v += (x[n * C + c] - m) ** 2;
      v /= C;
      const s = 1 / Math.sqrt(v + eps);
      for (let c = 0; c < C; c++) o[n * C + c] = (x[n * C + c] - m) * s * g[c] + bb[c];
      mu[n] = m;
      rs[n] = s;
    }
  }
  layernormBackward(dinp: Tensor, dw: Tensor, db: Tensor, dout: Tensor, inp: Tensor, w: Tensor, mean: Tensor, rstd: Tensor, N: number, C: number): void {
    const dx = f(dinp),
      dg = f(dw),
      dbb = f(db),
      dy = f(dout),
      x = f(inp),
      g = f(w),
      mu = f(mean),
      rs = f(rstd);
    for (let n = 0; n < N; n++) {
      // dnorm = dy*g; dx = rstd * (dnorm - mean(dnorm) - norm * mean(dnorm*norm))
      let sumD = 0,
        sumDN = 0;
      for (let c = 0; c < C; c++) {
        const norm = (x[n * C + c] - mu[n]) * rs[n];
        const dn = dy[n * C + c] * g[c];
        sumD += dn;
        sumDN += dn * norm;
      }
      sumD /= C;
      sumDN /= C;
      for (let c = 0; c < C; c++) {
        const norm = (x[n * C + c] - mu[n]) * rs[n];
        const dn = dy[n * C + c] * g[c];
        dbb[c] += dy[n * C + c];
        dg[c] += norm * dy[n * C + c];
        dx[n * C + c] += (dn - sumD - norm * sumDN) * rs[n];
      }
    }
  }

  // ---- matmul -------------------------------------------------------------------------------------
  matmul(out: Tensor, a: Tensor, b: Tensor, bias: Tensor | null, M: number, K: number, N: number, transA: boolean, transB: boolean, beta: 0 | 1): void {
    const o = f(out),
      A = f(a),
      Bm = f(b),
      bi = bias ? f(bias) : null;
    // Row by row in f64, with loops ordered so the inner one walks memory contiguously.
    const arow = new Float64Array(K),
      acc = new Float64Array(N);
    for (let m = 0; m < M; m++) {
      for (let k = 0; k < K; k++) arow[k] = transA ? A[k * M + m] : A[m * K + k];
      if (transB) {
        for (let n = 0; n < N; n++) {
          let s = 0;
          for (let k = 0, j = n * K; k < K; k++, j++) s += arow[k] * Bm[j];
          acc[n] = s;
        }
      } else {
        acc.fill(0);
        for (let k = 0; k < K; k++) {
          const av = arow[k];
          if (av === 0) continue;
          for (let n = 0, j = k * N; n < N; n++, j++) acc[n] += av * Bm[j];
        }
      }
      for (let n = 0; n < N; n++) {
        const s = acc[n] + (bi ? bi[n] : 0);
        o[m * N + n] = beta ? o[m * N + n] + s : s;
      }
    }
  }
  biasBackward(dbias: Tensor, dout: Tensor, M: number, N: number): void {
    const db = f(dbias),
      d = f(dout);
    for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) db[n] += d[m * N + n];
  }

  // ---- attention ----------------------------------------------------------------------------------
  // Per (b, h): S = q·kᵀ/sqrt(hs) masked causally, P = softmax(S), Pd = P ∘ keep/(1-p), out = Pd·v.
  attentionForward(out: Tensor, lse: Tensor, qkv: Tensor, B: number, T: number, C: number, NH: number, pDrop: number, rng: DropoutRng | null): void {
    const o = f(out),
      L = f(lse),
      x = f(qkv);
    const hs = C / NH,
      sc = 1 / Math.sqrt(hs);
    const drop = pDrop > 0 && rng ? { key: rngKey(rng), thr: dropThreshold(pDrop), inv: 1 / (1 - pDrop) } : null;
    const s = new Float64Array(T);
    for (let b = 0; b < B; b++)
      for (let h = 0; h < NH; h++)
        for (let t = 0; t < T; t++) {
          const q = (b * T + t) * 3 * C + h * hs;
          let mx = -Infinity;
          for (let u = 0; u <= t; u++) {
            const k = (b * T + u) * 3 * C + C + h * hs;
            let d = 0;
            for (let i = 0; i < hs; i++) d += x[q + i] * x[k + i];
            s[u] = d * sc;
            if (s[u] > mx) mx = s[u];
          }
          let z = 0;
          for (let u = 0; u <= t; u++) z += Math.exp(s[u] - mx);
          L[(b * NH + h) * T + t] = mx + Math.log(z);
          const y = (b * T + t) * C + h * hs;
          for (let i = 0; i < hs; i++) o[y + i] = 0;
          const row = ((b * NH + h) * T + t) * T;
          for (let u = 0; u <= t; u++) {
            let p = Math.exp(s[u] - mx) / z;
            if (drop) p = keep(drop.key, row + u, drop.thr) ? p * drop.inv : 0;
            const v = (b * T + u) * 3 * C + 2 * C + h * hs;
            for (let i = 0; i < hs; i++) o[y + i] += p * x[v + i];
          }
        }
  }
  attentionBackward(
    dqkv: Tensor,
    dout: Tensor,
    qkv: Tensor,
    out: Tensor,
    lse: Tensor,
    B: number,
    T: number,
    C: number,
    NH: number,
    pDrop: number,
    rng: DropoutRng | null,
  ): void {
    const dx = f(dqkv),
      dy = f(dout),
      x = f(qkv),
      o = f(out),
      L = f(lse);
    const hs = C / NH,
      sc = 1 / Math.sqrt(hs);
    const drop = pDrop > 0 && rng ? { key: rngKey(rng), thr: dropThreshold(pDrop), inv: 1 / (1 - pDrop) } : null;
    dx.subarray(0, B * T * 3 * C).fill(0);
    for (let b = 0; b < B; b++)
      for (let h = 0; h < NH; h++)
        for (let t = 0; t < T; t++) {
          const q = (b * T + t) * 3 * C + h * hs,
            y = (b * T + t) * C + h * hs;
          const lsum = L[(b * NH + h) * T + t];
          // D = dO·O = Σ_u Pd_u dPd_u, the softmax backward's row term
          let D = 0;
          for (let i = 0; i < hs; i++) D += dy[y + i] * o[y + i];
          const row = ((b * NH + h) * T + t) * T;
          for (let u = 0; u <= t; u++) {
            const k = (b * T + u) * 3 * C + C + h * hs,
              v = k + C;
            let sdot = 0;
            for (let i = 0; i < hs; i++) sdot += x[q + i] * x[k + i];
            const p = Math.exp(sdot * sc - lsum);
            const m = drop ? (keep(drop.key, row + u, drop.thr) ? drop.inv : 0) : 1;
            // dV += Pd·dO ; dPd = dO·v ; dP = dPd*m ; dS = P*(dP - D)
            let dpd = 0;
            for (let i = 0; i < hs; i++) {
              dx[v + i] += p * m * dy[y + i];
              dpd += dy[y + i] * x[v + i];
            }
            const ds = p * (dpd * m - D) * sc;
            for (let i = 0; i < hs; i++) {
              dx[q + i] += ds * x[k + i];
              dx[k + i] += ds * x[q + i];
            }
          }
        }
  }
  attentionCached(out: Tensor, qkv: Tensor, kCache: Tensor, vCache: Tensor, B: number, Tn: number, C: number, NH: number, pos0: number, Tmax: number): void {
    const o = f(out),
      x = f(qkv),
      K = f(kCache),
      Vc = f(vCache),
      r = kvRounding(kCache);
    const hs = C / NH,
      sc = 1 / Math.sqrt(hs);
    for (let b = 0; b < B; b++)
      for (let t = 0; t < Tn; t++)
        for (let c = 0; c < C; c++) {
          K[(b * Tmax + pos0 + t) * C + c] = r(x[(b * Tn + t) * 3 * C + C + c]);
          Vc[(b * Tmax + pos0 + t) * C + c] = r(x[(b * Tn + t) * 3 * C + 2 * C + c]);
        }
    const s = new Float64Array(pos0 + Tn);
    for (let b = 0; b < B; b++)
      for (let h = 0; h < NH; h++)
        for (let t = 0; t < Tn; t++) {
          attendCache(o, (b * Tn + t) * C + h * hs, x, (b * Tn + t) * 3 * C + h * hs, K, Vc, b * Tmax * C + h * hs, pos0 + t, C, hs, sc, s);
        }
  }
  attentionRagged(out: Tensor, qkv: Tensor, kCache: Tensor, vCache: Tensor, slotPos: Tensor, N: number, C: number, NH: number, Tmax: number): void {
    const o = f(out),
      x = f(qkv),
      K = f(kCache),
      Vc = f(vCache),
      sp = i32(slotPos),
      r = kvRounding(kCache);
    const hs = C / NH,
      sc = 1 / Math.sqrt(hs);
    for (let n = 0; n < N; n++) {
      const slot = sp[2 * n],
        pos = sp[2 * n + 1];
      for (let c = 0; c < C; c++) {
        K[(slot * Tmax + pos) * C + c] = r(x[n * 3 * C + C + c]);
        Vc[(slot * Tmax + pos) * C + c] = r(x[n * 3 * C + 2 * C + c]);
      }
    }
    const s = new Float64Array(Tmax);
    for (let n = 0; n < N; n++)
      for (let h = 0; h < NH; h++) {
        attendCache(o, n * C + h * hs, x, n * 3 * C + h * hs, K, Vc, sp[2 * n] * Tmax * C + h * hs, sp[2 * n + 1], C, hs, sc, s);
      }
  }

  // ---- elementwise --------------------------------------------------------------------------------
  geluForward(out: Tensor, inp: Tensor, N: number): void {
    const o = f(out),
      x = f(inp);
    for (let i = 0; i < N; i++) {
      const v = x[i];
      o[i] = 0.5 * v * (1 + Math.tanh(GELU_K * (v + 0.044715 * v * v * v)));
    }
  }
  geluBackward(dinp: Tensor, inp: Tensor, dout: Tensor, N: number): void {
    const dx = f(dinp),
      x = f(inp),
      dy = f(dout);
    for (let i = 0; i < N; i++) {
      const v = x[i];
      const u = GELU_K * (v + 0.044715 * v * v * v);
      const th = Math.tanh(u);
      const du = GELU_K * (1 + 3 * 0.044715 * v * v);
      dx[i] += dy[i] * (0.5 * (1 + th) + 0.5 * v * (1 - th * th) * du);
    }
  }
  residualForward(out: Tensor, a: Tensor, b: Tensor, N: number): void {
    const o = f(out),
      x = f(a),
      y = f(b);
    for (let i = 0; i < N; i++) o[i] = x[i] + y[i];
  }
  accumulate(dst: Tensor, src: Tensor, N: number): void {
    const d = f(dst),
      s = f(src);
    for (let i = 0; i < N; i++) d[i] += s[i];
  }
  dropoutForward(out: Tensor, inp: Tensor, N: number, p: number, rng: DropoutRng): void {
    const o = f(out),
      x = f(inp),
      key = rngKey(rng),
      thr = dropThreshold(p),
      inv = 1 / (1 - p);
    for (let i = 0; i < N; i++) o[i] = keep(key, i, thr) ? x[i] * inv : 0;
  }
  dropoutBackward(dinp: Tensor, dout: Tensor, N: number, p: number, rng: DropoutRng): void {
    this.dropoutForward(dinp, dout, N, p, rng);
  }

  // ---- loss ---------------------------------------------------------------------------------------
  crossEntropyForward(losses: Tensor, loss: Tensor, logits: Tensor, targets: Tensor, weights: Tensor, N: number, V: number): void {
    const ls = f(losses),
      out = f(loss),
      z = f(logits),
      y = i32(targets),
      w = f(weights);
    let total = 0;
    for (let n = 0; n < N; n++) {
      const tgt = y[n];
      if (tgt < 0) {
        ls[n] = 0;
        continue;
      }
      let mx = -Infinity;
      for (let v = 0; v < V; v++) mx = Math.max(mx, z[n * V + v]);
      let s = 0;
      for (let v = 0; v < V; v++) s += Math.exp(z[n * V + v] - mx);
      ls[n] = mx + Math.log(s) - z[n * V + tgt];
      total += ls[n] * w[n];
    }
    out[0] += total;
  }
  crossEntropyBackward(dlogits: Tensor, logits: Tensor, targets: Tensor, weights: Tensor, N: number, V: number, dscale: number): void {
    const d = f(dlogits),
      z = f(logits),
      y = i32(targets),
      w = f(weights);
    for (let n = 0; n < N; n++) {
      const tgt = y[n];
      if (tgt < 0) {
        d.fill(0, n * V, (n + 1) * V);
        continue;
      }
      let mx = -Infinity;
      for (let v = 0; v < V; v++) mx = Math.max(mx, z[n * V + v]);
      let s = 0;
      for (let v = 0; v < V; v++) s += Math.exp(z[n * V + v] - mx);
      const g = w[n] * dscale;
      for (let v = 0; v < V; v++) {
        const p = Math.exp(z[n * V + v] - mx) / s;
        d[n * V + v] = (p - (v === tgt ? 1 : 0)) * g;
      }
    }
  }

  // ---- rows ---------------------------------------------------------------------------------------
  gatherRows(out: Tensor, inp: Tensor, idx: Tensor, R: number, C: number): void {
    const o = f(out),
      x = f(inp),
      id = i32(idx);
    for (let r = 0; r < R; r++) for (let c = 0; c < C; c++) o[r * C + c] = x[id[r] * C + c];
  }
  scatterAddRows(dinp: Tensor, dout: Tensor, idx: Tensor, R: number, C: number): void {
    const dx = f(dinp),
      dy = f(dout),
      id = i32(idx);
    for (let r = 0; r < R; r++) for (let c = 0; c < C; c++) dx[id[r] * C + c] += dy[r * C + c];
  }

  // ---- optimizer ----------------------------------------------------------------------------------
  sumSquares(out: Tensor, tensors: Tensor[]): void {
    let s = 0;
    for (const t of tensors) for (const v of f(t)) s += v * v;
    f(out)[0] = s;
  }
  adamw(param: Tensor, grad: Tensor, m: Tensor, v: Tensor, p: AdamWParams): void {
    const w = f(param),
      g = f(grad),
      mm = f(m),
      vv = f(v);
    let gs = 1;
    if (p.gradNormSq && p.maxNorm !== undefined) gs = Math.min(1, p.maxNorm / (Math.sqrt(f(p.gradNormSq)[0]) + 1e-6));
    const bc1 = 1 - p.beta1 ** p.step,
      bc2 = 1 - p.beta2 ** p.step;
    for (let i = 0; i < w.length; i++) {
      const gi = g[i] * gs;
      mm[i] = p.beta1 * mm[i] + (1 - p.beta1) * gi;
      vv[i] = p.beta2 * vv[i] + (1 - p.beta2) * gi * gi;
      const mh = mm[i] / bc1,
        vh = vv[i] / bc2;
      w[i] -= p.lr * (mh / (Math.sqrt(vh) + p.eps) + p.weightDecay * w[i]);
    }
  }

  /** checks.ts reads indices (token ids, targets, rows, slots) through this */
  [HOST_INTS](t: Tensor): Int32Array {
    return i32(t);
  }
}

checkedOps(ReferenceBackend);
