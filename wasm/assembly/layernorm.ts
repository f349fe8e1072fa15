// layernorm: out(N,C) = (x - mean)·rstd·w + b, saving mean(N), rstd(N) for the backward.
// Forward and the dinp part of backward split rows over threads; dw, db (sums over rows) split columns,
// so no two threads ever add into the same gradient element.
import { colEnd, colStart, hsum, madd, part } from './common';

export function layernormForward(out: usize, mean: usize, rstd: usize, inp: usize, w: usize, b: usize, N: i32, C: i32, eps: f32, tid: i32, nth: i32): void {
  const n1 = part(N, tid + 1, nth);
  for (let n = part(N, tid, nth); n < n1; n++) {
    const x = inp + (<usize>n * <usize>C) * 4, o = out + (<usize>n * <usize>C) * 4;
    // two passes (mean, then squared deviations) for accuracy on rows with a large mean
    let sv = f32x4.splat(0);
    let c = 0;
    for (; c + 4 <= C; c += 4) sv = f32x4.add(sv, v128.load(x + (<usize>c << 2)));
    let s = hsum(sv);
    for (; c < C; c++) s += load<f32>(x + (<usize>c << 2));
    const m = s / <f32>C;
    const mv = f32x4.splat(m);
    sv = f32x4.splat(0);
    for (c = 0; c + 4 <= C; c += 4) {
      const d = f32x4.sub(v128.load(x + (<usize>c << 2)), mv);
      sv = madd(d, d, sv);
    }
    let v = hsum(sv);
    for (; c < C; c++) {
      const d = load<f32>(x + (<usize>c << 2)) - m;
      v += d * d;
    }
    const r = <f32>(1 / Math.sqrt(<f64>(v / <f32>C) + <f64>eps));
    const rv = f32x4.splat(r);
    for (c = 0; c + 4 <= C; c += 4) {
      const o4 = c << 2;
      const nrm = f32x4.mul(f32x4.sub(v128.load(x + o4), mv), rv);
      v128.store(o + o4, madd(nrm, v128.load(w + o4), v128.load(b + o4)));
    }
    for (; c < C; c++) {
      const o4 = c << 2;
      store<f32>(o + o4, (load<f32>(x + o4) - m) * r * load<f32>(w + o4) + load<f32>(b + o4));
    }
    store<f32>(mean + (<usize>n << 2), m);
    store<f32>(rstd + (<usize>n << 2), r);
  }
}

/** dinp(N,C) += rstd·(dnorm - mean(dnorm) - norm·mean(dnorm·norm)), dnorm = dout·w; threads split rows */
export function layernormBackwardInput(dinp: usize, dout: usize, inp: usize, w: usize, mean: usize, rstd: usize, N: i32, C: i32, tid: i32, nth: i32): void {
  const n1 = part(N, tid + 1, nth);
  for (let n = part(N, tid, nth); n < n1; n++) {
    const off = (<usize>n * <usize>C) * 4;
    const x = inp + off, dy = dout + off, dx = dinp + off;
    const m = load<f32>(mean + (<usize>n << 2)), r = load<f32>(rstd + (<usize>n << 2));
    const mv = f32x4.splat(m), rv = f32x4.splat(r);
    let sd = f32x4.splat(0), sdn = sd;
    let c = 0;
    for (; c + 4 <= C; c += 4) {
      const o4 = c << 2;
      const nrm = f32x4.mul(f32x4.sub(v128.load(x + o4), mv), rv);
      const dn = f32x4.mul(v128.load(dy + o4), v128.load(w + o4));
      sd = f32x4.add(sd, dn);
      sdn = madd(dn, nrm, sdn);
    }
    let sD = hsum(sd), sDN = hsum(sdn);
    for (; c < C; c++) {
      const o4 = c << 2;
      const nrm = (load<f32>(x + o4) - m) * r;
      const dn = load<f32>(dy + o4) * load<f32>(w + o4);
      sD += dn;
      sDN += dn * nrm;
    }
    sD /= <f32>C;
    sDN /= <f32>C;
    const sdv = f32x4.splat(sD), sdnv = f32x4.splat(sDN);
    for (c = 0; c + 4 <= C; c += 4) {
      const o4 = c << 2;
      const nrm = f32x4.mul(f32x4.sub(v128.load(x + o4), mv), rv);
      const dn = f32x4.mul(v128.load(dy + o4), v128.load(w + o4));
      const g = f32x4.sub(f32x4.sub(dn, sdv), f32x4.mul(nrm, sdnv));
      v128.store(dx + o4, madd(g, rv, v128.load(dx + o4)));
    }
    for (; c < C; c++) {
      const o4 = c << 2;
      const nrm = (load<f32>(x + o4) - m) * r;
      const dn = load<f32>(dy + o4) * load<f32>(w + o4);
      store<f32>(dx + o4, load<f32>(dx + o4) + (dn - sD - nrm * sDN) * r);
    }
  }
}

/** dw(C) += Σ_n norm·dout, db(C) += Σ_n dout; threads split columns */
export function layernormBackwardParams(dw: usize, db: usize, dout: usize, inp: usize, mean: usize, rstd: usize, N: i32, C: i32, tid: i32, nth: i32): void {
  const c0 = colStart(C, tid, nth), c1 = colEnd(C, tid, nth);
  // blocks of 16 columns keep 8 accumulators in registers over all rows
  let c = c0;
  for (; c + 16 <= c1; c += 16) {
    let w0 = f32x4.splat(0), w1 = w0, w2 = w0, w3 = w0, b0 = w0, b1 = w0, b2 = w0, b3 = w0;
    for (let n = 0; n < N; n++) {
      const off = (<usize>n * <usize>C + <usize>c) * 4;
      const mv = f32x4.splat(load<f32>(mean + (<usize>n << 2))), rv = f32x4.splat(load<f32>(rstd + (<usize>n << 2)));
      const x = inp + off, dy = dout + off;
      let d = v128.load(dy);
      w0 = madd(f32x4.mul(f32x4.sub(v128.load(x), mv), rv), d, w0); b0 = f32x4.add(b0, d);
      d = v128.load(dy, 16);
      w1 = madd(f32x4.mul(f32x4.sub(v128.load(x, 16), mv), rv), d, w1); b1 = f32x4.add(b1, d);
      d = v128.load(dy, 32);
      w2 = madd(f32x4.mul(f32x4.sub(v128.load(x, 32), mv), rv), d, w2); b2 = f32x4.add(b2, d);
      d = v128.load(dy, 48);
      w3 = madd(f32x4.mul(f32x4.sub(v128.load(x, 48), mv), rv), d, w3); b3 = f32x4.add(b3, d);
    }
    const pw = dw + (<usize>c << 2), pb = db + (<usize>c << 2);
    v128.store(pw, f32x4.add(v128.load(pw), w0)); v128.store(pw, f32x4.add(v128.load(pw, 16), w1), 16);
    v128.store(pw, f32x4.add(v128.load(pw, 32), w2), 32); v128.store(pw, f32x4.add(v128.load(pw, 48), w3), 48);
    v128.store(pb, f32x4.add(v128.load(pb), b0)); v128.store(pb, f32x4.add(v128.load(pb, 16), b1), 16);
    v128.store(pb, f32x4.add(v128.load(pb, 32), b2), 32); v128.store(pb, f32x4.add(v128.load(pb, 48), b3), 48);
  }
  for (; c < c1; c++) {
    let sw: f32 = 0, sb: f32 = 0;
    for (let n = 0; n < N; n++) {
      const off = (<usize>n * <usize>C + <usize>c) * 4;
      const d = load<f32>(dout + off);
      sw += (load<f32>(inp + off) - load<f32>(mean + (<usize>n << 2))) * load<f32>(rstd + (<usize>n << 2)) * d;
      sb += d;
    }
    store<f32>(dw + (<usize>c << 2), load<f32>(dw + (<usize>c << 2)) + sw);
    store<f32>(db + (<usize>c << 2), load<f32>(db + (<usize>c << 2)) + sb);
  }
}
