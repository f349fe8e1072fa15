// The report part: reads every cached result (whatever has finished), writes the SVG plots and a
// markdown file of tables under docs/transfer/, and a small JSON summary of every number in them.
import { mkdirSync, writeFileSync } from 'node:fs';
import { lineChartSVG, lossCurveSVG, panelsSVG, type ChartSpec, type Series } from '../../src/train/plot.ts';
import { DEV_N, readArm, type ArmResult, type ArmSpec } from './arms.ts';
import type { BaselineResult } from './baselines.ts';
import { OUT, PRETRAIN, readJSON } from './common.ts';
import { SETS, type SetInfo } from './data.ts';
import type { CorpusSummary, PretrainSummary } from './pretrain.ts';
import { BUDGET_EPOCHS, BUDGET_SETS, LAMBDA, LAMBDA_ALT, LAMBDA_SETS, LAYER_SETS, LR_GRID, N_LIST, SEARCH_N, SEEDS, chooseLr } from './study.ts';
import type { ZeroShotPoint } from './zeroshot.ts';

const DOCS = 'docs/transfer';
const COLORS = { pretrained: '#d4594a', scratch: '#4a7fd4', bow: '#3a9a5b', majority: '#888888' };

/** the headline metric of a family: macro-F1 for the labelled sets (spam is 74% ham), accuracy for multiple choice */
export const metricOf = (s: SetInfo) => (s.family === 'multiple-choice' ? 'accuracy' : 'macroF1') as 'accuracy' | 'macroF1';
const metricName = (s: SetInfo) => (metricOf(s) === 'accuracy' ? 'test accuracy' : 'test macro-F1');

export interface Stat {
  mean: number;
  std: number;
  n: number;
  values: number[];
}
export function stat(values: number[]): Stat {
  const n = values.length,
    mean = values.reduce((a, b) => a + b, 0) / Math.max(1, n);
  const std = n > 1 ? Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : NaN;
  return { mean, std, n, values };
}
const pct = (x: number) => (100 * x).toFixed(1);
const signedPct = (x: number) => (x >= 0 ? '+' : '−') + pct(Math.abs(x));
/** a paired difference: the mean, ± its std over seeds, and (perSeed) each seed's */
const diffCell = (d: Stat, perSeed = false) =>
  d.n === 0 ? '—' : `${signedPct(d.mean)}${d.n > 1 ? ` ± ${pct(d.std)}${perSeed ? ` (${d.values.map(signedPct).join(', ')})` : ''}` : ''}`;
/** metric m of a − b, on every seed both have run */
const pairedBySeed = (a: ArmResult[], b: ArmResult[], m: 'accuracy' | 'macroF1') =>
  stat(
    a.flatMap((x) => {
      const y = b.find((q) => q.seed === x.seed);
      return y ? [x.test[m] - y.test[m]] : [];
    }),
  );
const cell = (s: Stat | null) => (!s || s.n === 0 ? '—' : s.n > 1 ? `${pct(s.mean)} ± ${pct(s.std)}` : `${pct(s.mean)} (1 seed)`);
const point = (x: number, s: Stat) => ({ x, y: s.mean, ...(s.n > 1 ? { lo: s.mean - s.std, hi: s.mean + s.std } : {}) });

async function lrOf(set: SetInfo, init: string): Promise<number | null> {
  try {
    return await chooseLr(null, set, init);
  } catch {
    return null;
  }
}

/** Arms of one configuration over the seeds that have finished. */
function armsOver(spec: Omit<ArmSpec, 'seed'>): ArmResult[] {
  return SEEDS.map((seed) => readArm({ ...spec, seed })).filter((r): r is ArmResult => r !== null);
}

export async function reportPart(): Promise<void> {
  mkdirSync(DOCS, { recursive: true });
  const md: string[] = [],
    summary: Record<string, unknown> = {};
  const corpus = readJSON<CorpusSummary>(`${OUT}/corpus.json`),
    pre = readJSON<PretrainSummary>(`${OUT}/pretrain.json`);
  if (corpus) summary.corpus = corpus;
  if (pre) {
    summary.pretrain = { ...pre, history: pre.history.filter((h) => h.valLoss !== undefined) };
    writeFileSync(
      `${DOCS}/pretrain-loss.svg`,
      lossCurveSVG(
        pre.history,
        `pretraining: ${pre.params} parameters, ${PRETRAIN.steps} steps × ${PRETRAIN.batch} × ${PRETRAIN.seq} tokens`,
        corpus ? { label: 'unigram entropy', value: corpus.unigramEntropy } : undefined,
      ),
    );
  }

  // learning curves
  const baselines = readJSON<BaselineResult[]>(`${OUT}/baselines.json`) ?? [];
  const curveRows: string[] = [],
    charts: ChartSpec[] = [],
    curves: Record<string, unknown> = {};
  md.push(`## Learning curves (λ = ${LAMBDA}; mean ± std over seeds; macro-F1 for spam, similarity, hypernymy; accuracy for cloze)\n`);
  md.push('| set | n | majority | BoW | scratch | pretrained | pretrained − scratch (paired by seed) | seeds | lr scratch / pretrained |');
  md.push('|---|---|---|---|---|---|---|---|---|');
  for (const set of SETS) {
    const m = metricOf(set),
      series: Record<string, Series> = {};
    for (const [k, label] of [
      ['majority', 'majority class'],
      ['bow', 'bag of words'],
      ['scratch', 'GPT from scratch'],
      ['pretrained', 'GPT pretrained'],
    ] as const) {
      series[k] = { label, color: COLORS[k], points: [], dots: true, ...(k === 'majority' || k === 'bow' ? { dash: '5 4', width: 1.5 } : {}) };
    }
    const lrs = { scratch: await lrOf(set, 'scratch'), pretrained: await lrOf(set, 'pretrained') };
    for (const n of N_LIST) {
      const b = baselines.filter((r) => r.set === set.set && r.n === n);
      const maj = stat(b.map((r) => r.majority[m])),
        bow = stat(b.map((r) => r.bow[m]));
      const arms = Object.fromEntries(
        (['scratch', 'pretrained'] as const).map((init) => [init, lrs[init] === null ? [] : armsOver({ set, n, init, lr: lrs[init]!, lambda: LAMBDA })]),
      );
      const sc = stat(arms.scratch.map((r) => r.test[m])),
        pr = stat(arms.pretrained.map((r) => r.test[m]));
      const paired = pairedBySeed(arms.pretrained, arms.scratch, m);
      if (maj.n) series.majority.points.push(point(n, maj));
      if (bow.n) series.bow.points.push(point(n, bow));
      if (sc.n) series.scratch.points.push(point(n, sc));
      if (pr.n) series.pretrained.points.push(point(n, pr));
      const diff = diffCell(paired, true);
      curveRows.push(
        `| ${set.set} | ${n} | ${cell(maj)} | ${cell(bow)} | ${cell(sc)} | ${cell(pr)} | ${diff} | ${sc.n}/${pr.n} | ${lrs.scratch ?? '—'} / ${lrs.pretrained ?? '—'} |`,
      );
      curves[`${set.set}/${n}`] = {
        majority: maj,
        bow,
        scratch: sc,
        pretrained: pr,
        paired,
        lr: lrs,
        arms: { scratch: arms.scratch.map(brief), pretrained: arms.pretrained.map(brief) },
      };
    }
    const chance = set.family === 'multiple-choice' ? [{ label: 'chance', value: 1 / set.choices! }] : [];
    charts.push({
      title: `${set.set} (${set.family})`,
      xLabel: 'labelled training examples',
      yLabel: metricName(set),
      logX: true,
      series: Object.values(series),
      refs: chance,
      width: 480,
      height: 360,
    });
  }
  md.push(...curveRows, '');
  summary.curves = curves;
  writeFileSync(`${DOCS}/learning-curves.svg`, panelsSVG(charts, 2));

  // learning-rate search
  md.push(`## Learning-rate search (n = ${SEARCH_N}, seed 1; best dev score over the epochs, dev = the first ${DEV_N} dev examples)\n`);
  md.push(`| set | init | ${LR_GRID.map((l) => `lr ${l}`).join(' | ')} |`);
  md.push(`|---|---|${LR_GRID.map(() => '---|').join('')}`);
  for (const set of SETS)
    for (const init of ['scratch', 'pretrained']) {
      const cells = LR_GRID.map((lr) => {
        const r = readArm({ set, n: SEARCH_N, init, seed: 1, lr, lambda: LAMBDA });
        return r ? `${pct(Math.max(...r.dev.map((d) => d[metricOf(set)])))} (epoch ${r.bestEpoch}/${r.epochs})` : '—';
      });
      md.push(`| ${set.set} | ${init} | ${cells.join(' | ')} |`);
    }
  md.push('');

  // layers transferred
  const layerCharts: ChartSpec[] = [],
    layers: Record<string, unknown> = {};
  md.push(`## Layers transferred (n = ${SEARCH_N}; embeddings + the first k blocks from pretraining)\n`);
  md.push('| set | scratch | ' + [0, 1, 2, 3, 4].map((k) => `k = ${k}`).join(' | ') + ' |');
  md.push('|---|---|---|---|---|---|---|');
  for (const name of LAYER_SETS) {
    const set = SETS.find((s) => s.set === name)!,
      m = metricOf(set),
      lrP = await lrOf(set, 'pretrained'),
      lrS = await lrOf(set, 'scratch');
    const pts: Stat[] = [];
    for (let k = 0; k <= 4; k++) {
      const init = k === 4 ? 'pretrained' : `k${k}`;
      pts.push(stat(lrP === null ? [] : armsOver({ set, n: SEARCH_N, init, lr: lrP, lambda: LAMBDA }).map((r) => r.test[m])));
    }
    const sc = stat(lrS === null ? [] : armsOver({ set, n: SEARCH_N, init: 'scratch', lr: lrS, lambda: LAMBDA }).map((r) => r.test[m]));
    md.push(`| ${name} | ${cell(sc)} | ${pts.map(cell).join(' | ')} |`);
    layers[name] = { scratch: sc, k: pts };
    layerCharts.push({
      title: `${name}: layers transferred (n = ${SEARCH_N})`,
      xLabel: 'blocks transferred (k; 0 = embeddings only)',
      yLabel: metricName(set),
      xTicks: [0, 1, 2, 3, 4],
      series: [{ label: 'pretrained embeddings + k blocks', color: COLORS.pretrained, dots: true, points: pts.flatMap((s, k) => (s.n ? [point(k, s)] : [])) }],
      refs: sc.n ? [{ label: `from scratch ${pct(sc.mean)}`, value: sc.mean }] : [],
      width: 480,
      height: 360,
    });
  }
  md.push('');
  summary.layers = layers;
  writeFileSync(`${DOCS}/layers.svg`, panelsSVG(layerCharts, 2));

  // zero-shot
  const zs = [0, ...Array.from({ length: Math.floor(PRETRAIN.steps / PRETRAIN.ckptEvery) }, (_, i) => (i + 1) * PRETRAIN.ckptEvery)]
    .map((s) => readJSON<ZeroShotPoint>(`${OUT}/zeroshot/step-${s}.json`))
    .filter((z): z is ZeroShotPoint => z !== null);
  if (zs.length) {
    const cloze = SETS.find((s) => s.family === 'multiple-choice')!;
    md.push(`## Zero-shot cloze over pretraining (the LM alone; n = ${zs[0].n}; chance ${pct(1 / cloze.choices!)}%)\n`);
    md.push('| pretraining step | validation loss | length-normalised log-prob | total log-prob |');
    md.push('|---|---|---|---|');
    const val = new Map((pre?.history ?? []).filter((h) => h.valLoss !== undefined).map((h) => [h.step, h.valLoss!]));
    for (const z of zs) md.push(`| ${z.step} | ${val.get(z.step)?.toFixed(3) ?? '—'} | ${pct(z.accuracy)} | ${pct(z.sumAccuracy)} |`);
    md.push('');
    const se = (p: number, n: number) => Math.sqrt((p * (1 - p)) / n);
    writeFileSync(
      `${DOCS}/zero-shot.svg`,
      lineChartSVG({
        title: 'zero-shot cloze (2 candidates) across pretraining',
        xLabel: 'pretraining step',
        yLabel: 'test accuracy',
        yMin: 0.4,
        yMax: 0.8,
        series: [
          {
            label: 'length-normalised log-prob (± binomial s.e.)',
            color: COLORS.pretrained,
            dots: true,
            points: zs.map((z) => ({ x: z.step, y: z.accuracy, lo: z.accuracy - se(z.accuracy, z.n), hi: z.accuracy + se(z.accuracy, z.n) })),
          },
          { label: 'total log-prob', color: COLORS.scratch, dots: true, dash: '5 4', points: zs.map((z) => ({ x: z.step, y: z.sumAccuracy })) },
        ],
        refs: [{ label: 'chance', value: 1 / cloze.choices! }],
      }),
    );
    summary.zeroShot = zs;
  }

  // λ ablation
  const lam: Record<string, unknown> = {};
  md.push(`## λ ablation (n = ${N_LIST.at(-1)}; mean ± std over seeds; paired by seed)\n`);
  md.push(`| set | init | λ = ${LAMBDA_ALT} | λ = ${LAMBDA} | (λ = ${LAMBDA_ALT}) − (λ = ${LAMBDA}) |`);
  md.push('|---|---|---|---|---|');
  for (const name of LAMBDA_SETS)
    for (const init of ['scratch', 'pretrained']) {
      const set = SETS.find((s) => s.set === name)!,
        m = metricOf(set),
        lr = await lrOf(set, init),
        n = N_LIST.at(-1)!;
      if (lr === null) continue;
      const a = armsOver({ set, n, init, lr, lambda: LAMBDA_ALT }),
        z = armsOver({ set, n, init, lr, lambda: LAMBDA });
      const d = pairedBySeed(a, z, m);
      md.push(`| ${name} | ${init} | ${cell(stat(a.map((x) => x.test[m])))} | ${cell(stat(z.map((x) => x.test[m])))} | ${diffCell(d)} |`);
      lam[`${name}/${init}`] = { half: a.map(brief), zero: z.map(brief), diff: d };
    }
  md.push('');
  summary.lambda = lam;

  // under-training check: the same arms at n = SEARCH_N trained BUDGET_EPOCHS epochs instead of 3
  const budget: Record<string, unknown> = {};
  md.push(`## Longer fine-tuning (n = ${SEARCH_N}; ${BUDGET_EPOCHS} epochs, dev every 2, against the curves' 3; mean ± std over seeds; paired by seed)\n`);
  md.push(`| set | init | ${BUDGET_EPOCHS} epochs | 3 epochs | difference | train L2, ${BUDGET_EPOCHS} / 3 epochs | best dev epoch (${BUDGET_EPOCHS}) |`);
  md.push('|---|---|---|---|---|---|---|');
  for (const name of BUDGET_SETS)
    for (const init of ['scratch', 'pretrained']) {
      const set = SETS.find((s) => s.set === name)!,
        m = metricOf(set),
        lr = await lrOf(set, init);
      if (lr === null) continue;
      const long = armsOver({ set, n: SEARCH_N, init, lr, lambda: LAMBDA, epochs: BUDGET_EPOCHS }),
        short = armsOver({ set, n: SEARCH_N, init, lr, lambda: LAMBDA });
      if (!long.length) continue;
      const d = pairedBySeed(long, short, m);
      const l2 = (rs: ArmResult[]) => (rs.length ? stat(rs.map((r) => r.trainL2)).mean.toFixed(3) : '—');
      md.push(
        `| ${name} | ${init} | ${cell(stat(long.map((x) => x.test[m])))} | ${cell(stat(short.map((x) => x.test[m])))} | ${diffCell(d)} | ${l2(long)} / ${l2(short)} | ${long.map((r) => r.bestEpoch).join(', ')} |`,
      );
      budget[`${name}/${init}`] = { long: long.map(brief), short: short.map(brief), diff: d };
    }
  md.push('');
  summary.budget = budget;
  writeFileSync(`${DOCS}/results.md`, `<!-- generated by scripts/transfer/run.ts --parts report; do not edit -->\n\n${md.join('\n')}\n`);
  writeFileSync(`${DOCS}/results.json`, JSON.stringify(summary, null, 1) + '\n');
}

const brief = (r: ArmResult) => ({
  seed: r.seed,
  accuracy: r.test.accuracy,
  macroF1: r.test.macroF1,
  bestEpoch: r.bestEpoch,
  trainL2: r.trainL2,
  predicted: r.predicted,
  seconds: r.seconds,
});
