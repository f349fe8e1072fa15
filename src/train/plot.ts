// The loss curve as a self-contained SVG: training loss (thin) and validation loss (dots + line),
// with a log-free linear y axis and labelled ticks. Portable: returns a string.
import type { HistoryPoint } from './pretrain.ts';

export function lossCurveSVG(history: HistoryPoint[], title = 'gptedge pretraining', ref?: { label: string; value: number }): string {
  const W = 720, H = 420, L = 60, R = 20, Tp = 40, Bm = 50;
  const train = history.filter((h) => h.loss !== undefined) as { step: number; loss: number }[];
  const val = history.filter((h) => h.valLoss !== undefined) as { step: number; valLoss: number }[];
  const ys = [...train.map((p) => p.loss), ...val.map((p) => p.valLoss), ...(ref ? [ref.value] : [])].filter(Number.isFinite);
  const xs = history.map((h) => h.step);
  if (ys.length === 0) return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}"><text x="20" y="40">no data</text></svg>`;
  const x0 = Math.min(...xs, 0), x1 = Math.max(...xs, 1);
  const y0 = Math.floor(Math.min(...ys)), y1 = Math.ceil(Math.max(...ys));
  const sx = (x: number) => L + ((x - x0) / (x1 - x0 || 1)) * (W - L - R);
  const sy = (y: number) => Tp + (1 - (y - y0) / (y1 - y0 || 1)) * (H - Tp - Bm);
  const path = (pts: [number, number][]) => pts.map(([x, y], i) => `${i ? 'L' : 'M'}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join('');
  const ticks: string[] = [];
  for (let y = y0; y <= y1; y += Math.max(1, Math.round((y1 - y0) / 8))) {
    ticks.push(`<line x1="${L}" x2="${W - R}" y1="${sy(y)}" y2="${sy(y)}" stroke="#eee"/><text x="${L - 8}" y="${sy(y) + 4}" text-anchor="end" font-size="11">${y}</text>`);
  }
  for (let i = 0; i <= 5; i++) {
    const x = Math.round(x0 + ((x1 - x0) * i) / 5);
    ticks.push(`<text x="${sx(x)}" y="${H - Bm + 18}" text-anchor="middle" font-size="11">${x}</text>`);
  }
  const refLine = ref ? `<line x1="${L}" x2="${W - R}" y1="${sy(ref.value)}" y2="${sy(ref.value)}" stroke="#999" stroke-dasharray="6 4"/><text x="${W - R}" y="${sy(ref.value) - 6}" text-anchor="end" font-size="11" fill="#666">${esc(ref.label)} ${ref.value.toFixed(3)}</text>` : '';
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text x="${W / 2}" y="24" text-anchor="middle" font-size="15">${esc(title)}</text>
${ticks.join('\n')}
<line x1="${L}" y1="${H - Bm}" x2="${W - R}" y2="${H - Bm}" stroke="#333"/><line x1="${L}" y1="${Tp}" x2="${L}" y2="${H - Bm}" stroke="#333"/>
<text x="${W / 2}" y="${H - 12}" text-anchor="middle" font-size="12">step</text>
<text x="16" y="${H / 2}" transform="rotate(-90 16 ${H / 2})" text-anchor="middle" font-size="12">loss (nats/token)</text>
${refLine}
<path d="${path(train.map((p) => [p.step, p.loss]))}" fill="none" stroke="#4a7fd4" stroke-width="1.2"/>
<path d="${path(val.map((p) => [p.step, p.valLoss]))}" fill="none" stroke="#d4594a" stroke-width="2"/>
${val.map((p) => `<circle cx="${sx(p.step)}" cy="${sy(p.valLoss)}" r="3" fill="#d4594a"/>`).join('')}
<rect x="${W - R - 170}" y="${Tp + 4}" width="165" height="40" fill="white" stroke="#ccc"/>
<line x1="${W - R - 160}" x2="${W - R - 135}" y1="${Tp + 18}" y2="${Tp + 18}" stroke="#4a7fd4"/><text x="${W - R - 128}" y="${Tp + 22}" font-size="11">train loss</text>
<line x1="${W - R - 160}" x2="${W - R - 135}" y1="${Tp + 34}" y2="${Tp + 34}" stroke="#d4594a" stroke-width="2"/><text x="${W - R - 128}" y="${Tp + 38}" font-size="11">validation loss</text>
</svg>
`;
}

function esc(s: string): string {
  return s.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);
}
