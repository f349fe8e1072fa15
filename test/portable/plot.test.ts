// SVG charts (src/train/plot.ts): tick choice, every series and error bar drawn, log axes, panels,
// and the loss curve; the output is well-formed text with no NaN coordinates.
import { lineChartSVG, lossCurveSVG, niceTicks, panelsSVG } from '../../src/train/plot.ts';
import { assert, assertEqual, test } from '../lib/harness.ts';

const count = (s: string, re: RegExp) => (s.match(re) ?? []).length;

test('niceTicks: steps of 1, 2 or 5 × 10^k covering the range', () => {
  assertEqual(niceTicks(0, 1, 5), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assertEqual(niceTicks(3.2, 7.9, 6), [4, 5, 6, 7]);
  assertEqual(niceTicks(2, 2), [2]);
});

test('line chart: a path per series, error bars where given, reference lines, log x ticks at the data', () => {
  const svg = lineChartSVG({
    title: 'a <b> & c',
    xLabel: 'labelled examples',
    yLabel: 'accuracy',
    logX: true,
    series: [
      {
        label: 'pretrained',
        color: '#d00',
        points: [
          { x: 100, y: 0.7, lo: 0.65, hi: 0.75 },
          { x: 1000, y: 0.8, lo: 0.78, hi: 0.82 },
        ],
        dots: true,
      },
      {
        label: 'scratch',
        color: '#00d',
        points: [
          { x: 100, y: 0.6 },
          { x: 1000, y: 0.7 },
        ],
        dash: '4 3',
      },
    ],
    refs: [{ label: 'chance', value: 0.5 }],
  });
  assert(svg.startsWith('<svg') && svg.trimEnd().endsWith('</svg>'));
  assert(!/NaN|undefined/.test(svg), 'no NaN coordinates');
  assert(svg.includes('a &lt;b&gt; &amp; c'), 'the title is escaped');
  assertEqual(count(svg, /stroke="#d00"/g), 1 + 2 + 1, 'series line, two error bars, legend');
  assertEqual(count(svg, /<circle /g), 2);
  assert(svg.includes('stroke-dasharray="4 3"') && svg.includes('>chance<'));
  assert(svg.includes('>100<') && svg.includes('>1000<'), 'log axis ticks at the data');
  const two = panelsSVG(
    [
      {
        title: 'x',
        xLabel: 'k',
        yLabel: 'y',
        series: [
          {
            label: 's',
            color: '#000',
            points: [
              { x: 0, y: 1 },
              { x: 4, y: 2 },
            ],
          },
        ],
      },
      { title: 'z', xLabel: 'k', yLabel: 'y', series: [] },
    ],
    2,
  );
  assertEqual(count(two, /<svg /g), 3, 'outer + two panels');
  assert(two.includes('no data'), 'an empty panel says so');
});

test('loss curve: training and validation series, the reference value printed', () => {
  const svg = lossCurveSVG(
    [
      { step: 1, loss: 8 },
      { step: 2, loss: 6, valLoss: 6.5 },
      { step: 3, loss: 5 },
      { step: 4, loss: 4.5, valLoss: 4.9 },
    ],
    'run',
    { label: 'unigram entropy', value: 6.2 },
  );
  assert(!/NaN/.test(svg));
  assert(svg.includes('unigram entropy 6.200') && svg.includes('validation loss') && svg.includes('train loss'));
  assertEqual(count(svg, /<circle /g), 2, 'a dot per validation point');
});
