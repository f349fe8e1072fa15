// Self-contained SVG charts, portable (they return strings): a line chart of one or more series with
// optional error bars, dashed reference lines and a log x axis; several charts side by side as panels;
// and the pretraining loss curve (training loss thin, validation loss dots + line) built on it.
import type { HistoryPoint } from './pretrain.ts';

export interface ChartPoint {
  x: number;
  y: number /** error bar ends (e.g. mean ± std over seeds) */;
  lo?: number;
  hi?: number;
}
export interface Series {
  label: string;
  color: string;
  points: ChartPoint[];
  width?: number;
  dots?: boolean;
  dash?: string;
}
export interface ChartSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  /** log10 x axis (e.g. numbers of labelled examples) */
  logX?: boolean;
  /** x tick positions (default: 6 evenly spaced, or the data's x values on a log axis) */
  xTicks?: number[];
  yMin?: number;
  yMax?: number;
  /** dashed horizontal lines with a label, e.g. chance or the unigram entropy */
  refs?: { label: string; value: number }[];
  width?: number;
  height?: number;
}

/** Round tick steps: 1, 2 or 5 × 10^k, about `n` of them over [lo, hi]. */
export function niceTicks(lo: number, hi: number, n = 6): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / n,
    mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const out: number[] = [];
  for (let t = Math.ceil(lo / step - 1e-9) * step; t <= hi + 1e-9 * step; t += step) out.push(Number(t.toPrecision(12)));
  return out;
}

const fmt = (v: number) => (Math.abs(v) >= 1000 ? String(Math.round(v)) : String(Number(v.toPrecision(4))));

export function lineChartSVG(c: ChartSpec): string {
  const W = c.width ?? 720,
    H = c.height ?? 420,
    L = 60,
    R = 20,
    Tp = 40;
  // the legend sits under the x axis label, its items in rows: it never covers the data
  const items: { s: Series; x: number; row: number }[] = [];
  let lx = L,
    row = 0;
  for (const s of c.series) {
    const w = 40 + 6.5 * s.label.length;
    if (lx + w > W - R && lx > L) {
      lx = L;
      row++;
    }
    items.push({ s, x: lx, row });
    lx += w + 12;
  }
  const legendRows = c.series.length ? row + 1 : 0,
    Bm = 50 + 16 * legendRows;
  const pts = c.series.flatMap((s) => s.points);
  const ys = [...pts.flatMap((p) => [p.y, p.lo ?? p.y, p.hi ?? p.y]), ...(c.refs ?? []).map((r) => r.value)].filter(Number.isFinite);
  const xs = pts.map((p) => p.x).filter(Number.isFinite);
  if (ys.length === 0 || xs.length === 0) return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}"><text x="20" y="40">no data</text></svg>`;
  const tx = (x: number) => (c.logX ? Math.log10(x) : x);
  let x0 = Math.min(...xs.map(tx)),
    x1 = Math.max(...xs.map(tx));
  if (c.logX) {
    const pad = (x1 - x0 || 1) * 0.06;
    x0 -= pad;
    x1 += pad;
  }
  const yTicks = niceTicks(c.yMin ?? Math.min(...ys), c.yMax ?? Math.max(...ys));
  const y0 = Math.min(c.yMin ?? Infinity, yTicks[0], ...ys),
    y1 = Math.max(c.yMax ?? -Infinity, yTicks.at(-1)!, ...ys);
  const sx = (x: number) => L + ((tx(x) - x0) / (x1 - x0 || 1)) * (W - L - R);
  const sy = (y: number) => Tp + (1 - (y - y0) / (y1 - y0 || 1)) * (H - Tp - Bm);
  const f1 = (v: number) => v.toFixed(1);
  const grid = yTicks.map(
    (y) =>
      `<line x1="${L}" x2="${W - R}" y1="${f1(sy(y))}" y2="${f1(sy(y))}" stroke="#eee"/><text x="${L - 8}" y="${f1(sy(y) + 4)}" text-anchor="end" font-size="11">${fmt(y)}</text>`,
  );
  const xt = c.xTicks ?? (c.logX ? [...new Set(xs)].sort((a, b) => a - b) : niceTicks(Math.min(...xs), Math.max(...xs), 5));
  const xTickText = xt.map((x) => `<text x="${f1(sx(x))}" y="${H - Bm + 18}" text-anchor="middle" font-size="11">${fmt(x)}</text>`);
  const refs = (c.refs ?? []).map(
    (r) =>
      `<line x1="${L}" x2="${W - R}" y1="${f1(sy(r.value))}" y2="${f1(sy(r.value))}" stroke="#999" stroke-dasharray="6 4"/><text x="${W - R}" y="${f1(sy(r.value) - 6)}" text-anchor="end" font-size="11" fill="#666">${esc(r.label)}</text>`,
  );
  const lines = c.series.map((s) => {
    const p = s.points.filter((q) => Number.isFinite(q.y));
    const d = p.map((q, i) => `${i ? 'L' : 'M'}${f1(sx(q.x))},${f1(sy(q.y))}`).join('');
    const bars = p
      .filter((q) => q.lo !== undefined && q.hi !== undefined)
      .map((q) => {
        const x = f1(sx(q.x));
        return `<path d="M${x},${f1(sy(q.lo!))}L${x},${f1(sy(q.hi!))}M${f1(sx(q.x) - 4)},${f1(sy(q.lo!))}h8M${f1(sx(q.x) - 4)},${f1(sy(q.hi!))}h8" stroke="${s.color}" fill="none"/>`;
      });
    const dots = s.dots ? p.map((q) => `<circle cx="${f1(sx(q.x))}" cy="${f1(sy(q.y))}" r="3" fill="${s.color}"/>`) : [];
    return `<path d="${d}" fill="none" stroke="${s.color}" stroke-width="${s.width ?? 2}"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>${bars.join('')}${dots.join('')}`;
  });
  const legend = items.map(({ s, x, row: r }) => {
    const y = H - Bm + 44 + 16 * r;
    return `<line x1="${x}" x2="${x + 24}" y1="${y}" y2="${y}" stroke="${s.color}" stroke-width="${s.width ?? 2}"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/><text x="${x + 30}" y="${y + 4}" font-size="11">${esc(s.label)}</text>`;
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text x="${W / 2}" y="24" text-anchor="middle" font-size="15">${esc(c.title)}</text>
${grid.join('\n')}
${xTickText.join('')}
<line x1="${L}" y1="${H - Bm}" x2="${W - R}" y2="${H - Bm}" stroke="#333"/><line x1="${L}" y1="${Tp}" x2="${L}" y2="${H - Bm}" stroke="#333"/>
<text x="${(L + W - R) / 2}" y="${H - Bm + 34}" text-anchor="middle" font-size="12">${esc(c.xLabel)}</text>
<text x="16" y="${(Tp + H - Bm) / 2}" transform="rotate(-90 16 ${(Tp + H - Bm) / 2})" text-anchor="middle" font-size="12">${esc(c.yLabel)}</text>
${refs.join('\n')}
${lines.join('\n')}
${legend.join('\n')}
</svg>
`;
}

/** Charts side by side, `cols` to a row, as one SVG (each chart a nested <svg>). */
export function panelsSVG(charts: ChartSpec[], cols = 2): string {
  const w = charts[0]?.width ?? 480,
    h = charts[0]?.height ?? 360,
    rows = Math.ceil(charts.length / cols);
  const inner = charts.map((c, i) =>
    lineChartSVG({ ...c, width: w, height: h }).replace('<svg ', `<svg x="${(i % cols) * w}" y="${Math.floor(i / cols) * h}" `),
  );
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${cols * w}" height="${rows * h}" font-family="sans-serif">\n${inner.join('')}</svg>\n`;
}

/** Training loss (thin) and validation loss (dots + line) against the step, with an optional reference line. */
export function lossCurveSVG(history: HistoryPoint[], title = 'gptedge pretraining', ref?: { label: string; value: number }): string {
  const train = history.filter((h) => h.loss !== undefined).map((h) => ({ x: h.step, y: h.loss! }));
  const val = history.filter((h) => h.valLoss !== undefined).map((h) => ({ x: h.step, y: h.valLoss! }));
  return lineChartSVG({
    title,
    xLabel: 'step',
    yLabel: 'loss (nats/token)',
    series: [
      { label: 'train loss', color: '#4a7fd4', points: train, width: 1.2 },
      { label: 'validation loss', color: '#d4594a', points: val, dots: true },
    ],
    refs: ref ? [{ label: `${ref.label} ${ref.value.toFixed(3)}`, value: ref.value }] : [],
  });
}

function esc(s: string): string {
  return s.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);
}
