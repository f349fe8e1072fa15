// The headline of BENCHMARKS.md: every peer in one run, repeated in rounds, medians over rounds.
// Each round runs, one process each (onnxruntime-web fixes its thread count at its first session):
//   node bench/run-node.mjs gemm --threads T      gptedge-wasm, tfjs-wasm, onnxruntime-web, onnxruntime-node
//   node bench/run-node.mjs gpt --threads T       the same peers on GPT-1 prefill, decode and training
//   python3 bench/torch-gpt.py --threads T        PyTorch CPU (Debian's python3-torch with OpenBLAS)
// for T = 1 and 2, records the load average around each, and writes BENCHMARKS.md's headline table,
// the targets of issue 15 computed from it, and the per-op profiles of the last round.
//   node bench/headline.mjs [--rounds 3] [--tfjs-rounds 1] [--write]
// PyTorch needs `apt-get install python3-torch libopenblas0-openmp` (bench only; CI does not install it);
// OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are unset for that command only. A benchmark, never a test.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';

const argv = process.argv.slice(2);
const opt = (name, dflt) => (argv.includes(`--${name}`) ? Number(argv[argv.indexOf(`--${name}`) + 1]) : dflt);
// --smoke: the plumbing only (tiny models, one repetition, no tfjs), never --write
const smoke = argv.includes('--smoke');
const rounds = smoke ? 1 : opt('rounds', 3),
  tfjsRounds = smoke ? 0 : opt('tfjs-rounds', 1);
const gemmArgs = smoke ? ['--reps', '1', '--only=gptedge-relaxed,gptedge-relaxed-1t,ort-web'] : ['--reps', '5'];
const gptArgs = smoke ? ['--model=tiny', '--train-model=tiny', '--reps', '1', '--train-reps', '1', '--decode-steps', '2'] : [];
const torchArgs = smoke ? ['--only', 'gemm', '--reps', '1'] : [];
const dir = '.cache/headline';
mkdirSync(dir, { recursive: true });
const la = () =>
  loadavg()
    .map((x) => x.toFixed(1))
    .join(' ');
const median = (xs) => {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  return v.length ? (v.length % 2 ? v[v.length >> 1] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2) : undefined;
};
const cpuModel = (() => {
  try {
    return /Model name:\s*(.+)/.exec(execFileSync('lscpu', { encoding: 'utf8' }))[1].trim();
  } catch {
    return cpus()[0]?.model ?? 'unknown CPU';
  }
})();

const loads = [];
/** runs one bench process, its output to a log file; returns the parsed JSON (file or stdout) or null */
function run(label, cmd, args, env, jsonFile) {
  const before = la(),
    t0 = Date.now();
  process.stdout.write(`[${new Date().toISOString().slice(11, 19)}, load ${before}] ${label} ... `);
  const p = spawnSync(cmd, args, { env, encoding: 'utf8', maxBuffer: 1 << 28 });
  const after = la();
  writeFileSync(join(dir, `${label}.log`), `${cmd} ${args.join(' ')}\n${p.stdout}\n${p.stderr}`);
  console.log(`${((Date.now() - t0) / 1000).toFixed(0)} s, load ${after}${p.status === 0 ? '' : ` — FAILED (exit ${p.status}, see ${dir}/${label}.log)`}`);
  loads.push({ label, before, after });
  if (p.status !== 0) return null;
  try {
    return JSON.parse(jsonFile ? readFileSync(jsonFile, 'utf8') : p.stdout.trim().split('\n').pop());
  } catch {
    return null;
  }
}

const torchEnv = { ...process.env };
delete torchEnv.OPENBLAS_CORETYPE;
delete torchEnv.OPENBLAS_L2_SIZE;
// the first interpreter that imports torch (Debian's python3-torch lives in /usr/bin/python3, not in a pyenv's)
const python = ['python3', '/usr/bin/python3'].find((py) => spawnSync(py, ['-c', 'import torch'], { env: torchEnv }).status === 0);
const torchVersion = python ? spawnSync(python, ['-c', 'import torch; print(torch.__version__)'], { env: torchEnv, encoding: 'utf8' }).stdout.trim() : null;
if (!torchVersion) console.log('PyTorch not found (apt-get install python3-torch libopenblas0-openmp): its column stays empty');

const R = { gemm: { 1: [], 2: [] }, gpt: { 1: [], 2: [] }, torch: { 1: [], 2: [] } };
const started = new Date(),
  load0 = la();
for (let r = 1; r <= rounds; r++) {
  for (const T of [1, 2]) {
    const g = join(dir, `gemm-${T}-r${r}.json`);
    R.gemm[T].push(run(`gemm-${T}t-r${r}`, process.execPath, ['bench/run-node.mjs', 'gemm', '--threads', `${T}`, ...gemmArgs, '--json', g], process.env, g));
    const m = join(dir, `gpt-${T}-r${r}.json`);
    const tfjs = T === 1 && r <= tfjsRounds ? [] : ['--no-tfjs'];
    R.gpt[T].push(
      run(
        `gpt-${T}t-r${r}`,
        process.execPath,
        ['bench/run-node.mjs', 'gpt', '--threads', `${T}`, ...gptArgs, ...tfjs, ...(r === rounds ? ['--profile'] : []), '--alongside', '--json', m],
        process.env,
        m,
      ),
    );
    if (torchVersion) R.torch[T].push(run(`torch-${T}t-r${r}`, python, ['bench/torch-gpt.py', '--threads', `${T}`, ...torchArgs], torchEnv, null));
  }
}
const finished = new Date();

// ---- medians over rounds ------------------------------------------------------------------------------
const m = (xs, f) => median(xs.filter(Boolean).map(f));
const peak = median([1, 2].flatMap((T) => [...R.gemm[T], ...R.gpt[T]].filter(Boolean).map((j) => j.peak)));
const shapes = ['512x768x768', '512x768x3072', '512x3072x768', '512x768x40478'];
const gemm = (T, key) => shapes.map((_, i) => m(R.gemm[T], (j) => j.rows[key]?.gflops[i]));
const torchGemm = (T) => shapes.map((s) => m(R.torch[T], (j) => j.gemm[s]));
const gpt = (T, what, key) => m(R.gpt[T], (j) => j[what][key]);
const torch = (T, what) => m(R.torch[T], (j) => j[what]);
const flops = R.gpt[1].find(Boolean)?.flops ?? R.gpt[2].find(Boolean)?.flops;
// what the two cores gave together (the peak tile on both threads at once, measured by each 2-thread process)
const together = [...R.gemm[2], ...R.gpt[2]].filter((j) => j?.together).map((j) => j.together);
const perCore2 = together.length ? median(together.map((t) => t.sum / t.threads)) : undefined;
const scale2 = together.length ? median(together.map((t) => t.sum / t.alone)) : undefined;
const alone2 = together.length ? median(together.map((t) => t.alone)) : undefined;
/** a 2-thread figure as a share of what both cores gave together */
const ofTogether = (fl, ms) =>
  ms === undefined || !perCore2 ? '' : ` (${((100 * fl) / ms / 1e6 / 2 / perCore2).toFixed(0)}% of what both cores gave together)`;

const f = (v, d = 0) => (v === undefined ? '–' : v.toFixed(d));
const pct = (v) => (v === undefined ? '' : ` (${(100 * v).toFixed(0)}%)`);
// share of the peak per core: GFLOP/s / threads / peak
const shareG = (g, T) => (g === undefined || !peak ? undefined : g / T / peak);
const shareMs = (fl, ms, T, pk = peak) => (ms === undefined || !pk ? undefined : fl / ms / 1e6 / T / pk);
const tokMs = (tokensPerStep, tokS) => (tokS === undefined ? undefined : (1000 * tokensPerStep) / tokS);
const shareTok = (fl, tokensPerStep, tokS, T) => (tokS === undefined ? undefined : shareMs(fl, tokMs(tokensPerStep, tokS), T));
const gemmCell = (vals, T) =>
  vals.map((g) => f(g, 1)).join(' / ') +
  (vals.every((g) => g !== undefined) && peak ? ` (${vals.map((g) => (100 * shareG(g, T)).toFixed(0)).join(' / ')}%)` : '');

const peers = ['gptedge', 'ort-web', 'ort-node', 'tfjs', 'torch'];
const rows = [];
for (const T of [1, 2])
  rows.push([
    `prefill 1×512 (logits of all 512), ms, ${T} thread${T > 1 ? 's' : ''}`,
    ...peers.map((p) =>
      p === 'torch'
        ? f(torch(T, 'prefill'))
        : p === 'tfjs'
          ? '–'
          : f(gpt(T, 'prefill', p)) + (p === 'gptedge' ? pct(shareMs(flops?.prefill, gpt(T, 'prefill', p), T)) : ''),
    ),
  ]);
for (const T of [1, 2])
  rows.push([
    `decode ms/token after 128, ${T} thread${T > 1 ? 's' : ''}`,
    ...peers.map((p) => (p === 'torch' ? f(torch(T, 'decode'), 1) : p === 'tfjs' ? '–' : f(gpt(T, 'decode', p), 1))),
  ]);
for (const [what, label, tokens] of [
  ['trainSmall', 'training tokens/s, small GPT B 8 × T 256', 8 * 256],
  ['trainGpt1', 'training tokens/s, GPT-1 B 1 × T 512', 512],
]) {
  for (const T of [1, 2])
    rows.push([
      `${label}, ${T} thread${T > 1 ? 's' : ''}`,
      ...peers.map((p) =>
        p === 'torch'
          ? f(torch(T, what), 1)
          : p === 'ort-web' || p === 'ort-node'
            ? '–'
            : p === 'tfjs'
              ? T === 1
                ? f(gpt(1, what, 'tfjs'), 1)
                : '–'
              : f(gpt(T, what, p), 1) + pct(shareTok(flops?.[what], tokens, gpt(T, what, p), T)),
      ),
    ]);
}
for (const T of [1, 2])
  rows.push([
    `f32 GEMM GFLOP/s, 512×768×768 / ×3072 / 3072×768 / ×40478, ${T} thread${T > 1 ? 's' : ''}`,
    gemmCell(gemm(T, 'gptedge-relaxed'), T),
    f2(gemm(T, 'ort-web')),
    f2(gemm(T, 'ort-node')),
    T === 1 ? f2(gemm(1, 'tfjs-wasm')) : '–',
    f2(torchGemm(T)),
  ]);
function f2(vals) {
  return vals.every((v) => v === undefined) ? '–' : vals.map((v) => f(v, 1)).join(' / ');
}

const head = [
  '| GPT-1 (116.5M) unless named | gptedge WASM (share of peak) | onnxruntime-web | onnxruntime-node | tfjs-wasm | PyTorch CPU |',
  '|---|---:|---:|---:|---:|---:|',
];
const table = [...head, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');

// ---- the targets of issue 15, from the same figures -----------------------------------------------------
const g1 = gemm(1, 'gptedge-relaxed'),
  g2 = gemm(2, 'gptedge-relaxed'),
  base1 = gemm(2, 'gptedge-relaxed-1t'),
  // per repetition (our 1 and 2 threads back to back): the median over the rounds of each process's median
  paired = shapes.map((_, i) => m(R.gemm[2], (j) => j.scaling?.[i])),
  w2 = gemm(2, 'ort-web');
const ratio = (a, b) => a.map((x, i) => (x === undefined || b[i] === undefined ? '–' : (x / b[i]).toFixed(2))).join(' / ');
// attention's GFLOP/s (its causal products) against the matmuls' in one profile (the last round's)
const attention = (T, which) => {
  const p = R.gpt[T]
    .filter(Boolean)
    .pop()
    ?.profileData?.find((x) => x.title.includes(which));
  if (!p) return '–';
  const sum = (pred) => p.rows.filter(([k]) => pred(k)).reduce((a, [, r]) => ({ ms: a.ms + r.ms, flops: a.flops + r.flops }), { ms: 0, flops: 0 });
  const mm = sum((k) => k.startsWith('matmul')),
    rate = (x) => x.flops / x.ms / 1e6;
  const parts = ['attentionForward', 'attentionBackward'].map((op) => [op, sum((k) => k === op)]).filter(([, x]) => x.ms > 0);
  return (
    parts
      .map(([op, x]) => `${op.replace('attention', '').toLowerCase()} ${rate(x).toFixed(1)} GFLOP/s = ${((100 * rate(x)) / rate(mm)).toFixed(0)}%`)
      .join(', ') + ` of the matmuls' ${rate(mm).toFixed(1)}`
  );
};
// the share of what the cores offered while the work ran (gpt.ts --alongside: the peak tile probed between ops
// on as many threads as the work used), at 1 thread and at 2
const along = (what, T) => {
  const v = m(R.gpt[T], (j) => j.alongside?.[what]?.share);
  return v === undefined ? '–' : `${(100 * v).toFixed(0)}%`;
};
// each round's GPT process against the peak that process probed at its start (the shares above divide each
// median over rounds by the run's median peak; a round that met a slow or a fast spell shows here)
const ownPeak = (what, T, msOf) =>
  R.gpt[T]
    .map((j) => {
      const v = j && flops?.[what] ? shareMs(flops[what], msOf(j), T, j.peak) : undefined;
      return v === undefined ? '–' : `${(100 * v).toFixed(0)}%`;
    })
    .join(' / ');
const ownLine = (what, msOf) =>
  `; each round's process against the peak it probed (round 1 / 2 / …): 1 thread ${ownPeak(what, 1, msOf)}, 2 threads ${ownPeak(what, 2, msOf)}`;
const ownTrain = (what, tokens) => ownLine(what, (j) => tokMs(tokens, j[what]?.gptedge));
const alongLine = (...whats) => whats.map(([label, w]) => `${label}${along(w, 1)} at 1 thread, ${along(w, 2)} at 2`).join('; ');
const targets = [
  '| target (issue 15) | measured in this run | ',
  '|---|---|',
  `| 0. the ceiling | SIMD128 peak per core ${f(peak, 1)} GFLOP/s (median over the run's measurements; best tile, relaxed FMA, panels in L1). Both cores at once (the best tile on 2 threads together, medians over 1.5 s): ${f(perCore2, 1)} GFLOP/s per core, ${f(scale2, 2)}× one thread alone (${f(alone2, 1)}) |`,
  `| 1. GEMM 2 threads ≥ 1.8× 1 thread, every shape | ${paired.map((x) => f(x, 2)).join(' / ')} (our 1-thread time / 2-thread time, the two back to back in each repetition: median over repetitions, then over rounds); as a ratio of the two medians in the same process ${ratio(g2, base1)}; across processes ${ratio(g2, g1)}; the peak tile itself ${f(scale2, 2)}× |`,
  `| 1. GEMM 2 threads ≥ 1.3× onnxruntime-web 2 threads | ${ratio(g2, w2)} |`,
  `| 2. attention ≥ 50% of the GEMM rate | small GPT training step: 1 thread ${attention(1, 'training step of the small GPT')}; 2 threads ${attention(2, 'training step of the small GPT')}. GPT-1 prefill: 1 thread ${attention(1, 'GPT-1 prefill')}; 2 threads ${attention(2, 'GPT-1 prefill')} |`,
  `| 2. prefill ≥ 90% of peak per core | 1 thread ${f(100 * (shareMs(flops?.prefill, gpt(1, 'prefill', 'gptedge'), 1) ?? NaN))}%, 2 threads ${f(100 * (shareMs(flops?.prefill, gpt(2, 'prefill', 'gptedge'), 2) ?? NaN))}%${ofTogether(flops?.prefill, gpt(2, 'prefill', 'gptedge'))}${ownLine('prefill', (j) => j.prefill?.gptedge)}. Of the rate the cores offered while it ran (the peak tile probed between ops on as many threads): ${alongLine(['', 'prefill'])} |`,
  `| 2. training step ≥ 90% of peak per core | GPT-1: 1 thread ${f(100 * (shareTok(flops?.trainGpt1, 512, gpt(1, 'trainGpt1', 'gptedge'), 1) ?? NaN))}%, 2 threads ${f(100 * (shareTok(flops?.trainGpt1, 512, gpt(2, 'trainGpt1', 'gptedge'), 2) ?? NaN))}%${ofTogether(flops?.trainGpt1, tokMs(512, gpt(2, 'trainGpt1', 'gptedge')))}${ownTrain('trainGpt1', 512)}; small GPT: 1 thread ${f(100 * (shareTok(flops?.trainSmall, 2048, gpt(1, 'trainSmall', 'gptedge'), 1) ?? NaN))}%, 2 threads ${f(100 * (shareTok(flops?.trainSmall, 2048, gpt(2, 'trainSmall', 'gptedge'), 2) ?? NaN))}%${ofTogether(flops?.trainSmall, tokMs(2048, gpt(2, 'trainSmall', 'gptedge')))}${ownTrain('trainSmall', 2048)}. Of the rate the cores offered while it ran (probed between ops): ${alongLine(['GPT-1 ', 'trainGpt1'], ['small GPT ', 'trainSmall'])} |`,
].join('\n');

const cmd = `node bench/headline.mjs ${argv.join(' ')}`.trim();
const loadsRange = (() => {
  const xs = loads.flatMap((l) => [l.before, l.after].map((s) => Number(s.split(' ')[0])));
  return `${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)}`;
})();
const meta = [
  `\`${cmd}\` — ${started.toISOString().slice(0, 16).replace('T', ' ')} to ${finished.toISOString().slice(11, 16)} UTC; ${cpuModel} ×${cpus().length}; ` +
    `${process.release.name} ${process.version}${torchVersion ? `, PyTorch ${torchVersion} (Debian, OpenBLAS)` : ''}; medians of ${rounds} rounds (each round: every peer, 1 and 2 threads, one process each), ` +
    `tfjs-wasm training in ${tfjsRounds} round${tfjsRounds > 1 ? 's' : ''} (one step ≈ minutes).`,
  `Load average (1 min) at the start ${load0}; over the run's processes ${loadsRange} on ${cpus().length} cores (per process: ${dir}/*.log and below). ` +
    'A shared machine: the peers of one row ran interleaved in one process (or back to back), so rows compare within the table; absolute figures move with the load.',
];
const profiles = [1, 2].flatMap((T) => R.gpt[T].filter(Boolean).pop()?.profiles ?? []);
const out = [
  '<!-- headline -->',
  '## Headline',
  '',
  ...meta,
  '',
  table,
  '',
  "gptedge's share of the SIMD128 peak per core in parentheses: model FLOPs (bench/flops.ts: matmuls 2·M·K·N, attention as the full T×T, training 3× the forward) / time / threads / peak. " +
    "Prefill: the logits of all 512 positions (what the exported ONNX graph computes). Decode: greedy, the new position's logits read back each token. Training: forward, loss, backward, optimizer (AdamW + clip; tfjs Adam; PyTorch AdamW + clip), loss read back; dropout off. " +
    "tfjs-wasm has no threads in Node (1-thread figures only) and trains the small GPT as 2 accumulated micro-batches of 4 (its 4 GB heap cannot hold B 8); it cannot hold GPT-1's training step. " +
    "The peak is a best case (the best of several trials); this machine's core switches between rates for seconds at a time (the peak tile sampled every 20 ms for 8 s: runs of ~52 and of ~34 GFLOP/s; other work on the host, presumably), so a median over minutes falls short of it by the machine's state as well as by the engine. " +
    "The targets table therefore also gives the share of the rate the cores offered while the work ran: 3 more runs of prefill and of each training step after the timed ones, the peak tile probed for 2 ms between ops (at most every 25 ms) on as many threads as the work used, all at once, each op's time weighted by the mean of the probes around it (bench/gpt.ts --alongside; at 2 threads each probe first lets the engine's workers fall asleep, which the next op pays for).",
  '',
  '### Targets',
  '',
  targets,
  '<!-- /headline -->',
  '',
  '<!-- profiles -->',
  '## Profiles (the last round)',
  '',
  ...profiles.flatMap((p) => [p, '']),
  '<!-- /profiles -->',
  '',
  '<details><summary>load per process</summary>',
  '',
  '| process | load before | after |',
  '|---|---|---|',
  ...loads.map((l) => `| ${l.label} | ${l.before} | ${l.after} |`),
  '',
  '</details>',
].join('\n');
writeFileSync(join(dir, 'headline.md'), out);
console.log('\n' + out);
if (argv.includes('--write') && !smoke) {
  const file = 'BENCHMARKS.md';
  let md = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmarks\n';
  const re = /<!-- headline -->[\s\S]*?<\/details>/;
  md = re.test(md) ? md.replace(re, out) : md.replace(/^# Benchmarks\n/, `# Benchmarks\n\n${out}\n`);
  writeFileSync(file, md);
  console.log(`wrote ${file}`);
}
