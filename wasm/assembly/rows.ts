// Row gathers and scatter-adds: the token+position embedding (encoder) and the task head's gather at
// the extract token. Forwards split rows over threads; the scatter-add backwards split columns, so that
// repeated ids never make two threads add into the same element.
import { colEnd, colStart, part } from './common';

@inline function addRow(dst: usize, a: usize, b: usize, c0: i32, c1: i32): void {
  let c = c0;
  for (; c + 4 <= c1; c += 4) {
    const o = <usize>c << 2;
    v128.store(dst + o, f32x4.add(v128.load(a + o), v128.load(b + o)));
  }
  for (; c < c1; c++) {
    const o = <usize>c << 2;
    store<f32>(dst + o, load<f32>(a + o) + load<f32>(b + o));
  }
}

/** out(B,T,C) = wte[ids[b,t]] + wpe[posOffset + t]; ids checked by the caller */
export function encoderForward(out: usize, ids: usize, wte: usize, wpe: usize, B: i32, T: i32, C: i32, posOffset: i32, tid: i32, nth: i32): void {
  const n1 = part(B * T, tid + 1, nth);
  for (let bt = part(B * T, tid, nth); bt < n1; bt++) {
    const tok = load<i32>(ids + (<usize>bt << 2)), pos = posOffset + bt % T;
    addRow(out + (<usize>bt * <usize>C) * 4, wte + (<usize>tok * <usize>C) * 4, wpe + (<usize>pos * <usize>C) * 4, 0, C);
  }
}

/** dwte[ids[b,t]] += dout[b,t]; dwpe[t] += dout[b,t] */
export function encoderBackward(dwte: usize, dwpe: usize, dout: usize, ids: usize, B: i32, T: i32, C: i32, tid: i32, nth: i32): void {
  const c0 = colStart(C, tid, nth), c1 = colEnd(C, tid, nth);
  for (let bt = 0; bt < B * T; bt++) {
    const tok = load<i32>(ids + (<usize>bt << 2));
    const d = dout + (<usize>bt * <usize>C) * 4;
    const e = dwte + (<usize>tok * <usize>C) * 4, p = dwpe + (<usize>(bt % T) * <usize>C) * 4;
    addRow(e, e, d, c0, c1);
    addRow(p, p, d, c0, c1);
  }
}

/** out(R,C) = inp[idx[r]] */
export function gatherRows(out: usize, inp: usize, idx: usize, R: i32, C: i32, tid: i32, nth: i32): void {
  const r1 = part(R, tid + 1, nth);
  for (let r = part(R, tid, nth); r < r1; r++) {
    memory.copy(out + (<usize>r * <usize>C) * 4, inp + (<usize>load<i32>(idx + (<usize>r << 2)) * <usize>C) * 4, <usize>C << 2);
  }
}

/** dinp[idx[r]] += dout[r] */
export function scatterAddRows(dinp: usize, dout: usize, idx: usize, R: i32, C: i32, tid: i32, nth: i32): void {
  const c0 = colStart(C, tid, nth), c1 = colEnd(C, tid, nth);
  for (let r = 0; r < R; r++) {
    const d = dinp + (<usize>load<i32>(idx + (<usize>r << 2)) * <usize>C) * 4;
    addRow(d, d, dout + (<usize>r * <usize>C) * 4, c0, c1);
  }
}
