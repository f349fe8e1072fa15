// Files: regular files only, with size caps checked (by a stat through the FileSystem seam) before a
// byte is read; latest.json stays inside its run folder; temp folders of an interrupted save are
// removed at the next save; a corpus that is not valid UTF-8 is an error naming the byte offset (or is
// read with an explicit encoding); task-data readers cap per-example sizes (issue 14, finding 6).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { MemoryFileSystem, readFileChecked, type FileSystem } from '../../src/io/fs.ts';
import { decodeText } from '../../src/io/text.ts';
import { loadCheckpoint, resolveModelDir, saveCheckpoint } from '../../src/io/checkpoint.ts';
import { readDataset } from '../../src/finetune/dataset.ts';
import { NodeFileSystem } from '../../adapters/node/fs.ts';
import { loadCorpus } from '../../adapters/cli/corpora.ts';
import { assert, assertEqual, test } from '../lib/harness.ts';
import { tinyModel, tinyTokenizerJSON } from '../lib/helpers.ts';
import { assertFileError } from '../lib/file-errors.ts';

test('latest.json stays inside its run folder', async () => {
  const fs = new MemoryFileSystem();
  await saveCheckpoint(fs, 'runs/a', tinyModel(), tinyTokenizerJSON(), { step: 1, seed: 1 });
  await saveCheckpoint(fs, 'runs', tinyModel(), tinyTokenizerJSON(), undefined, { name: 'model' }); // a model one level up
  for (const name of ['..', '.', '../model', '/runs/model', '.step-000001.abc.tmp', 'a/../..', '']) {
    await fs.writeFile('runs/a/latest.json', JSON.stringify({ checkpoint: name }));
    await assertFileError(() => resolveModelDir(fs, 'runs/a'), 'runs/a/latest.json', /no valid "checkpoint" entry \(a folder name inside the run folder\)/);
  }
  await fs.writeFile('runs/a/latest.json', JSON.stringify({ checkpoint: 'step-000001' }));
  assertEqual(await resolveModelDir(fs, 'runs/a'), 'runs/a/step-000001');
});

test('temp folders of an interrupted save (.step-*.tmp) are removed at the next save; other files stay', async () => {
  const fs = new MemoryFileSystem();
  await saveCheckpoint(fs, 'run', tinyModel(), tinyTokenizerJSON(), { step: 1, seed: 1 });
  // what a kill -9 during a save leaves: a half-written step folder and a latest.json temp file
  await fs.mkdir('run/.step-000002.k3j9x1.tmp');
  await fs.writeFile('run/.step-000002.k3j9x1.tmp/model.safetensors', new Uint8Array(100));
  await fs.writeFile('run/latest.json.a1b2c3d4.tmp', '{"checkpoint": "step-0');
  await fs.writeFile('run/notes.txt', 'mine');
  await fs.writeFile('run/.hidden.tmp', 'not ours: no step name');
  await saveCheckpoint(fs, 'run', tinyModel(), tinyTokenizerJSON(), { step: 3, seed: 1 });
  assertEqual((await fs.readdir('run')).sort(), ['.hidden.tmp', 'latest.json', 'notes.txt', 'step-000001', 'step-000003']);
});

test('FileSystem.stat: kind and size through the seam (memory and Node)', async () => {
  const mem = new MemoryFileSystem();
  await mem.writeFile('d/f.bin', new Uint8Array(10));
  assertEqual(await mem.stat('d/f.bin'), { kind: 'file', size: 10 });
  assertEqual(await mem.stat('d'), { kind: 'directory', size: 0 });
  assertEqual(await mem.stat('nope'), null);
  const dir = mkdtempSync(`${tmpdir()}/gptedge-files-`);
  try {
    const fs = new NodeFileSystem();
    writeFileSync(`${dir}/f.bin`, new Uint8Array(7));
    symlinkSync('/dev/zero', `${dir}/zero`);
    assertEqual(await fs.stat(`${dir}/f.bin`), { kind: 'file', size: 7 });
    assertEqual((await fs.stat(dir))?.kind, 'directory');
    assertEqual((await fs.stat(`${dir}/zero`))?.kind, 'other');
    assertEqual(await fs.stat(`${dir}/missing`), null);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a model file that is a symlink to /dev/zero, or a FIFO, is refused at once (no hang, no growing memory)', async () => {
  const dir = mkdtempSync(`${tmpdir()}/gptedge-files-`);
  try {
    const fs = new NodeFileSystem();
    await saveCheckpoint(fs, `${dir}/run`, tinyModel(), tinyTokenizerJSON(), { step: 1, seed: 1 });
    const step = `${dir}/run/step-000001`;
    rmSync(`${step}/model.safetensors`);
    symlinkSync('/dev/zero', `${step}/model.safetensors`);
    const t0 = Date.now();
    await assertFileError(() => loadCheckpoint(fs, `${dir}/run`), `${step}/model.safetensors`, /model\.safetensors: not a regular file/);
    rmSync(`${step}/config.json`);
    assertEqual(spawnSync('mkfifo', [`${step}/config.json`]).status, 0, 'mkfifo');
    await assertFileError(() => loadCheckpoint(fs, `${dir}/run`), `${step}/config.json`, /config\.json: not a regular file/);
    // even read directly, the Node adapter refuses a device: it never reads until memory runs out
    await assertFileError(() => fs.readFile('/dev/zero'), '/dev/zero', /not a regular file/);
    // generous for a loaded CI machine: 73110d9 never answered (the FIFO) or read 4 GiB of /dev/zero
    assert(Date.now() - t0 < 10_000, `refused in ${Date.now() - t0} ms`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('size caps are checked before reading: the weights file may not exceed what its config implies', async () => {
  const fs = new MemoryFileSystem();
  await saveCheckpoint(fs, 'run', tinyModel(), tinyTokenizerJSON(), { step: 1, seed: 1 });
  const huge: FileSystem = Object.create(fs);
  let reads = 0;
  huge.stat = async (p: string) => (p.endsWith('model.safetensors') ? { kind: 'file', size: 3e9 } : fs.stat(p));
  huge.readFile = async (p: string) => {
    if (p.endsWith('model.safetensors')) reads++;
    return fs.readFile(p);
  };
  await assertFileError(
    () => loadCheckpoint(huge, 'run'),
    'run/step-000001/model.safetensors',
    /model\.safetensors: 3000000000 bytes, more than the \d+ a model of \d+ parameters \(run\/step-000001\/config\.json\) can take/,
  );
  assertEqual(reads, 0);
  await assertFileError(
    () => readFileChecked(huge, 'run/step-000001/model.safetensors', { maxBytes: 1000 }),
    'run/step-000001/model.safetensors',
    /3000000000 bytes, more than the 1000/,
  );
  await assertFileError(() => readFileChecked(fs, 'run/nothing.json', { maxBytes: 1000 }), 'run/nothing.json', /missing/);
  await assertFileError(() => readFileChecked(fs, 'run', { maxBytes: 1000 }), 'run', /not a regular file \(a directory\)/);
});

test('text: invalid UTF-8 is an error naming the byte offset; other encodings only when asked for; NUL bytes are refused', async () => {
  const latin1 = new Uint8Array([0x43, 0x61, 0x66, 0xe9, 0x20, 0x6e, 0x6f, 0x69, 0x72]); // "Café noir" in Latin-1
  await assertFileError(() => decodeText(latin1, 'c.txt'), 'c.txt', /c\.txt: not valid UTF-8 at byte 3 \(0xe9\); pass --encoding/);
  assertEqual(decodeText(latin1, 'c.txt', 'latin1'), 'Café noir');
  assertEqual(decodeText(new TextEncoder().encode('\ufeffCafé'), 'c.txt'), 'Café', 'a BOM is dropped');
  await assertFileError(() => decodeText(new Uint8Array([0x61, 0x62, 0xf0, 0x9f, 0x98]), 'c.txt'), 'c.txt', /not valid UTF-8 at byte 2/);
  await assertFileError(() => decodeText(new Uint8Array([0x61, 0x00, 0x62]), 'b.bin'), 'b.bin', /b\.bin: a NUL byte at byte 1: a binary file, not text/);
  await assertFileError(() => decodeText(latin1, 'c.txt', 'klingon'), 'c.txt', /unknown encoding "klingon"/);
  const dir = mkdtempSync(`${tmpdir()}/gptedge-corpus-`);
  try {
    writeFileSync(`${dir}/latin1.txt`, latin1);
    await assertFileError(() => loadCorpus([`${dir}/latin1.txt`]), `${dir}/latin1.txt`, /not valid UTF-8 at byte 3/);
    assertEqual((await loadCorpus([`${dir}/latin1.txt`], { encoding: 'latin1' })).texts, ['Café noir']);
    symlinkSync('/dev/zero', `${dir}/zero.txt`);
    await assertFileError(() => loadCorpus([`${dir}/zero.txt`]), `${dir}/zero.txt`, /not a regular file/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('task data: per-example sizes are capped (thousands of choices from a 40 KB file are refused at once)', async () => {
  const choices = Array.from({ length: 5000 }, (_, i) => `c${i}`);
  const text = JSON.stringify({ context: 'q', choices, label: 0 }) + '\n';
  assert(text.length < 40_000);
  const t0 = Date.now();
  await assertFileError(
    () => readDataset(text, 'multiple-choice', 'mc.jsonl'),
    'mc.jsonl',
    /mc\.jsonl line 1: 5000 choices, more than the limit of 32 per example/,
  );
  const csv = 'context,' + choices.map((_, i) => `choice_${i}`).join(',') + ',label\nq,' + choices.join(',') + ',0\n';
  await assertFileError(() => readDataset(csv, 'multiple-choice', 'mc.csv'), 'mc.csv', /mc\.csv line 2: 5000 choices, more than the limit of 32/);
  assert(Date.now() - t0 < 5000, `${Date.now() - t0} ms`);
  readDataset(JSON.stringify({ context: 'q', choices: choices.slice(0, 40), label: 0 }) + '\n', 'multiple-choice', 'mc.jsonl', { maxChoices: 64 });
  const long = JSON.stringify({ text: 'x'.repeat(1_000_001), label: 'a' }) + '\n' + JSON.stringify({ text: 'y', label: 'b' }) + '\n';
  await assertFileError(
    () => readDataset(long, 'classification', 'c.jsonl'),
    'c.jsonl',
    /c\.jsonl line 1: field "text" has 1000001 characters, more than the limit of 1000000/,
  );
  // every reader error is a FileFormatError naming the file
  await assertFileError(() => readDataset('{"text": 1}\n', 'classification', 'd.jsonl'), 'd.jsonl', /d\.jsonl line 1: field "text" must be a string/);
});
