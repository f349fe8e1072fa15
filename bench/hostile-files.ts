// Hostile files against the CLI (issue 14): how long each refusal takes and the process's peak memory.
// Not a test (the tests in test/portable/*-check.test.ts assert the refusals); this is the figure in
// docs/files.md, and the way to compare with another checkout:
//
//   node_modules/.bin/bun bench/hostile-files.ts [--cli path/to/cli.js] [--limit 30]
//
// Needs /usr/bin/time (GNU time) for the peak resident memory; Linux (a FIFO, /dev/zero).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { parseArgs } from 'node:util';
import { NodeFileSystem } from '../adapters/node/fs.ts';
import { saveCheckpoint } from '../src/io/checkpoint.ts';
import { tinyModel, tinyTokenizerJSON } from '../test/lib/helpers.ts';
import { PbWriter } from '../src/io/onnx/protobuf.ts';

const { values: a } = parseArgs({ options: { cli: { type: 'string', default: 'dist/adapters/cli/main.js' }, limit: { type: 'string', default: '30' } } });
const cli = new URL(a.cli!, `file://${process.cwd()}/`).pathname;
const dir = mkdtempSync(`${tmpdir()}/gptedge-hostile-`);
const tokenizer = tinyTokenizerJSON();

try {
  const fs = new NodeFileSystem();
  const model = tinyModel();
  for (const name of ['good', 'nlayer', 'zero', 'fifo']) await saveCheckpoint(fs, `${dir}/${name}`, model, tokenizer, undefined, { name: 'm' });
  const cfg = JSON.parse(readFileSync(`${dir}/nlayer/m/config.json`, 'utf8'));
  writeFileSync(`${dir}/nlayer/m/config.json`, JSON.stringify({ ...cfg, n_layer: 1e8 }));
  rmSync(`${dir}/zero/m/model.safetensors`);
  symlinkSync('/dev/zero', `${dir}/zero/m/model.safetensors`);
  rmSync(`${dir}/fifo/m/config.json`);
  execFileSync('mkfifo', [`${dir}/fifo/m/config.json`]);
  const n = 4 << 20,
    graph = new Uint8Array(2 * n); // 4,194,304 empty NodeProtos: 8 MB
  for (let i = 0; i < n; i++) graph[2 * i] = 0x0a;
  writeFileSync(`${dir}/nodes.onnx`, new PbWriter().varint(1, 8).bytes(7, graph).message(8, new PbWriter().string(1, '').varint(2, 17)).toBytes());
  const choices = Array.from({ length: 2500 }, (_, i) => `C${i}`);
  writeFileSync(`${dir}/mc.jsonl`, `${JSON.stringify({ context: 'Q', choices, label: 0 })}\n${JSON.stringify({ context: 'R', choices, label: 1 })}\n`);

  const cases: [string, string[]][] = [
    ['config.json with n_layer 1e8', ['generate', '--model', 'nlayer', '--prompt', 'A', '--max-tokens', '2', '--backend', 'reference']],
    ['model.safetensors -> /dev/zero', ['generate', '--model', 'zero', '--prompt', 'A', '--max-tokens', '2', '--backend', 'reference']],
    ['config.json is a FIFO', ['generate', '--model', 'fifo', '--prompt', 'A', '--max-tokens', '2', '--backend', 'reference']],
    ['8 MB ONNX of empty nodes', ['import', '--from', 'nodes.onnx', '--out', 'out', '--tokenizer', 'good/m']],
    [
      '2,500 choices per example (38 KB)',
      [
        'finetune',
        '--task',
        'multiple-choice',
        '--model',
        'good',
        '--train',
        'mc.jsonl',
        '--out',
        'ft',
        '--steps',
        '1',
        '--batch',
        '2',
        '--backend',
        'reference',
      ],
    ],
  ];
  const gnuTime = existsSync('/usr/bin/time');
  console.log(`${cli}, limit ${a.limit} s${gnuTime ? '' : ' (no /usr/bin/time: no memory figure)'}`);
  for (const [what, args] of cases) {
    const cmd = gnuTime
      ? ['/usr/bin/time', '-f', '@@ %e s, peak RSS %M KB', 'timeout', a.limit!, process.execPath, cli, ...args]
      : ['timeout', a.limit!, process.execPath, cli, ...args];
    const t0 = Date.now();
    const r = spawnSync(cmd[0], cmd.slice(1), { cwd: dir, encoding: 'utf8' });
    const stats = /@@ (.*)/.exec(r.stderr)?.[1] ?? `${((Date.now() - t0) / 1000).toFixed(2)} s`;
    const said =
      r.stderr
        .split('\n')
        .find((l) => l.startsWith('gptedge:'))
        ?.slice(0, 140) ??
      (r.status === 124 || /status 124/.test(r.stderr) ? '(no answer: killed at the limit)' : r.stdout.split('\n').filter(Boolean).pop()?.slice(0, 100));
    console.log(`${what.padEnd(36)} ${stats.padEnd(32)} ${said}`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
