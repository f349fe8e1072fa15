// safetensors as strict as the format's reference implementation (huggingface/safetensors): the
// header is at most 100,000,000 bytes, tensor byte ranges tile the data section exactly (no overlap,
// no gap, no trailing bytes), names are unique, dtype × shape = bytes with checked arithmetic; and
// non-finite weights are an error naming the tensor unless explicitly allowed. Every rejection is a
// FileFormatError naming the file (issue 14, finding 2).
import { FileFormatError } from '../../src/io/errors.ts';
import { MemoryFileSystem } from '../../src/io/fs.ts';
import { loadCheckpoint, saveCheckpoint } from '../../src/io/checkpoint.ts';
import { readSafetensors, writeSafetensors } from '../../src/io/safetensors.ts';
import { assert, assertEqual, test } from '../lib/harness.ts';
import { tinyModel, tinyTokenizerJSON } from '../lib/helpers.ts';
import { assertFileError } from '../lib/file-errors.ts';

/** A safetensors file from a header (object or raw text) and a data section. */
function craft(header: object | string, data: Uint8Array | number): Uint8Array {
  const h = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const d = typeof data === 'number' ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + h.length + d.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  out.set(d, 8 + h.length);
  return out;
}

const F32 = (shape: number[], b: number, e: number) => ({ dtype: 'F32', shape, data_offsets: [b, e] });

test('safetensors: overlapping byte ranges are rejected, naming both tensors', async () => {
  await assertFileError(
    () => readSafetensors(craft({ a: F32([4], 0, 16), b: F32([4], 8, 24) }, 24), 'w.safetensors'),
    'w.safetensors',
    /tensors a and b overlap/,
  );
  // zero-size tensors may share an offset; a sized one may not start inside another
  readSafetensors(craft({ a: F32([0], 0, 0), b: F32([4], 0, 16), c: F32([0], 16, 16) }, 16), 'ok.safetensors');
});

test('safetensors: gaps between tensors, before the first and trailing bytes are rejected', async () => {
  await assertFileError(
    () => readSafetensors(craft({ a: F32([2], 0, 8), b: F32([2], 12, 20) }, 20), 'g.safetensors'),
    'g.safetensors',
    /4 unused bytes between tensors a and b/,
  );
  await assertFileError(() => readSafetensors(craft({ a: F32([2], 4, 12) }, 12), 'g.safetensors'), 'g.safetensors', /4 unused bytes before tensor a/);
  await assertFileError(() => readSafetensors(craft({ a: F32([2], 0, 8) }, 12), 't.safetensors'), 't.safetensors', /4 trailing bytes after the last tensor/);
  await assertFileError(() => readSafetensors(craft({}, 3), 't.safetensors'), 't.safetensors', /3 trailing bytes/);
});

test('safetensors: a tensor name given twice is rejected', async () => {
  const header = '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}';
  await assertFileError(() => readSafetensors(craft(header, 16), 'd.safetensors'), 'd.safetensors', /tensor name "a" appears twice/);
  const escaped = '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"\\u0061":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}';
  await assertFileError(() => readSafetensors(craft(escaped, 8), 'd.safetensors'), 'd.safetensors', /tensor name "a" appears twice/);
});

test('safetensors: the header is capped at 100,000,000 bytes (the reference limit), checked before anything else', async () => {
  const f = new Uint8Array(64);
  new DataView(f.buffer).setBigUint64(0, 100_000_001n, true);
  await assertFileError(() => readSafetensors(f, 'h.safetensors'), 'h.safetensors', /header of 100000001 bytes is larger than the limit of 100000000/);
  new DataView(f.buffer).setBigUint64(0, 2n ** 64n - 1n, true);
  await assertFileError(() => readSafetensors(f, 'h.safetensors'), 'h.safetensors', /larger than the limit/);
});

test('safetensors: dtype × shape = bytes with checked arithmetic; bad entries name the tensor', async () => {
  const big = 2 ** 31;
  await assertFileError(
    () => readSafetensors(craft({ x: F32([big, big, big], 0, 16) }, 16), 's.safetensors'),
    's.safetensors',
    /tensor x: shape \[.*\] has more elements than/,
  );
  await assertFileError(
    () => readSafetensors(craft({ x: F32([3], 0, 16) }, 16), 's.safetensors'),
    's.safetensors',
    /tensor x holds 16 bytes, its shape \[3\] of F32 needs 12/,
  );
  await assertFileError(() => readSafetensors(craft({ x: F32([1.5], 0, 4) }, 4), 's.safetensors'), 's.safetensors', /tensor x has an invalid shape/);
  await assertFileError(
    () => readSafetensors(craft({ x: { dtype: 'F32', shape: [1], data_offsets: [0] } }, 4), 's.safetensors'),
    's.safetensors',
    /tensor x has invalid data_offsets/,
  );
  await assertFileError(
    () => readSafetensors(craft({ x: { dtype: 'Q4', shape: [1], data_offsets: [0, 1] } }, 1), 's.safetensors'),
    's.safetensors',
    /tensor x has unsupported dtype "Q4"/,
  );
  await assertFileError(() => readSafetensors(craft({ x: null }, 0), 's.safetensors'), 's.safetensors', /tensor x: its entry must be an object/);
  await assertFileError(
    () => readSafetensors(craft({ __metadata__: { a: 1 } }, 0), 's.safetensors'),
    's.safetensors',
    /__metadata__ must map strings to strings/,
  );
  await assertFileError(() => readSafetensors(craft('[1,2]', 0), 's.safetensors'), 's.safetensors', /header is not a JSON object/);
  await assertFileError(() => readSafetensors(craft({ x: F32([1], 0, 4) }, 4).subarray(0, 20), 's.safetensors'), 's.safetensors', /truncated/);
});

test('safetensors: NaN and Inf weights are an error naming the tensor (allowed only on request)', async () => {
  for (const bad of [NaN, Infinity, -Infinity]) {
    const d = new Float32Array([1, 2, 3, 4]);
    d[3] = bad;
    const bytes = writeSafetensors(
      new Map([
        ['ok', { data: new Float32Array(2), shape: [2] }],
        ['w', { data: d, shape: [2, 2] }],
      ]),
    );
    await assertFileError(
      () => readSafetensors(bytes, 'n.safetensors'),
      'n.safetensors',
      new RegExp(`tensor w holds a non-finite value \\(${bad}\\) at index 3`),
    );
    const r = readSafetensors(bytes, 'n.safetensors', { allowNonFinite: true });
    assert(!Number.isFinite(r.tensors.get('w')!.data[3]), 'kept when allowed');
  }
  const h = new Uint16Array([0x3c00, 0x7e00]); // f16: 1, NaN
  await assertFileError(
    () => readSafetensors(craft({ h: { dtype: 'F16', shape: [2], data_offsets: [0, 4] } }, new Uint8Array(h.buffer)), 'n.safetensors'),
    'n.safetensors',
    /tensor h holds a non-finite value \(NaN\) at index 1/,
  );
});

test('safetensors: a checkpoint with a NaN weight does not load; the error names model.safetensors and the tensor', async () => {
  const fs = new MemoryFileSystem();
  await saveCheckpoint(fs, 'run', tinyModel({ layout: 'pre-ln' }), tinyTokenizerJSON(), { step: 1, seed: 1 });
  const file = 'run/step-000001/model.safetensors';
  const t = readSafetensors(await fs.readFile(file)).tensors;
  t.get('h.1.mlp.c_fc.bias')!.data[5] = NaN;
  await fs.writeFile(file, writeSafetensors(t));
  let err: unknown;
  await loadCheckpoint(fs, 'run').catch((e) => (err = e));
  assert(
    err instanceof FileFormatError && err.file === file && /tensor h\.1\.mlp\.c_fc\.bias holds a non-finite value \(NaN\) at index 5/.test(err.message),
    `got ${err}`,
  );
  const ok = await loadCheckpoint(fs, 'run', { allowNonFinite: true });
  assert(Number.isNaN(ok.weights.get('h.1.mlp.c_fc.bias')![5]));
});

test('safetensors: files written here (and the PyTorch fixtures) still read, bit for bit', async () => {
  const t = new Map([
    ['b', { data: new Float32Array([1, -2.5, 3e-8]), shape: [3] }],
    ['a', { data: new Float32Array(6).fill(0.25), shape: [2, 3] }],
    ['z', { data: new Float32Array(0), shape: [0, 4] }],
  ]);
  const back = readSafetensors(writeSafetensors(t, { producer: 'gptedge' }), 'rt.safetensors');
  assertEqual(back.metadata, { producer: 'gptedge' });
  for (const [k, v] of t) assertEqual(Array.from(back.tensors.get(k)!.data), Array.from(v.data), k);
});
