// Seeded mutation fuzzing of file readers (issue 14). A mutator turns valid seed files into damaged
// ones — byte flips, interesting bytes, truncations, deleted/inserted/duplicated ranges, length fields
// (little-endian integers, protobuf varints) set to hostile values, and for text formats number,
// string, key and structure edits — and runFuzz checks every input against one contract:
//
//   - it loads, or fails with a FileFormatError naming one of the target's files (never another error);
//   - it takes at most PER_INPUT_MS (checked after the call: readers are synchronous, so a true
//     infinite loop would stall the test run rather than fail it);
//   - the typed arrays allocated while reading it total at most ALLOC_FACTOR × its size + ALLOC_SLACK
//     bytes (counted deterministically: the global typed-array constructors are wrapped for the
//     duration of each call, so every array made with a length or from a list is counted; views on
//     existing buffers are not; plain objects and strings are not counted — readers size none of
//     those by declared numbers).
//
// Everything is seeded: a failure names the target, the input number and the mutations, and the
// input is returned so that it can be kept as a regression fixture under test/fixtures/fuzz/.
import { FileFormatError } from '../../src/io/errors.ts';
import { decodeFields } from '../../src/io/onnx/protobuf.ts';
import { rand } from './harness.ts';

export const PER_INPUT_MS = 5000; // inputs take milliseconds; generous for a loaded CI machine
export const ALLOC_FACTOR = 16;
export const ALLOC_SLACK = 1 << 20;

const INTERESTING_BYTES = [0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff, 0x22, 0x5b, 0x7b, 0x30, 0x39];
const INTERESTING_INTS = [0, 1, 2, 7, 8, 0x7f, 0x80, 0xff, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff, 100_000_000, 100_000_001];
const HOSTILE_NUMBERS = [
  '0',
  '-1',
  '1e12',
  '1e400',
  '-1e400',
  '-0',
  '0.5',
  '4294967296',
  '9007199254740993',
  '1e-400',
  '100000000',
  '2147483648',
  'null',
  '"1"',
  '[]',
  '{}',
  'true',
  '3.5',
];
const DEEP = 20_000; // nesting deep enough to overflow a recursive JSON.stringify, which JSON.parse accepts
const HOSTILE_VALUES = [
  'null',
  '""',
  '"\\u0000"',
  '[]',
  '{}',
  '1e12',
  '-1',
  '[[[[[[[[[[]]]]]]]]]]',
  `[${'"x",'.repeat(3000)}"x"]`,
  `"${'y'.repeat(2000)}"`,
  '['.repeat(DEEP) + ']'.repeat(DEEP),
  '{"a":'.repeat(DEEP) + '1' + '}'.repeat(DEEP),
];

type Mutation = { name: string; apply: (b: Uint8Array) => Uint8Array };

export class Mutator {
  private readonly r: () => number;
  constructor(seed: number) {
    this.r = rand(seed);
  }
  int(n: number): number {
    return Math.floor(this.r() * n);
  }
  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)];
  }

  /** 1–3 mutations of `seed`; returns the bytes and the names of the mutations applied. */
  mutate(seed: Uint8Array, kind: FuzzKind): { bytes: Uint8Array; how: string[] } {
    let b: Uint8Array = seed; // every op copies: the seed itself is never changed
    const how: string[] = [];
    let n = 1 + this.int(3);
    if (kind === 'protobuf' && this.r() < 0.6) {
      // structure-aware edits on the seed's parsed tree, then perhaps one byte-level edit
      const tree = cachedTree(seed);
      if (tree) {
        for (let k = 1 + this.int(2); k > 0; k--) {
          const e = this.pick(this.protoEdits());
          e.edit(tree);
          how.push(e.name);
        }
        b = encodeTree(tree);
        n = this.r() < 0.3 ? 1 : 0;
      }
    }
    if (kind === 'safetensors' && this.r() < 0.6) {
      // the JSON header edited as text, its length prefix kept right: offsets, shapes, dtypes, names
      const len = seed.length >= 8 ? Number(new DataView(seed.buffer, seed.byteOffset).getBigUint64(0, true)) : -1;
      if (len >= 0 && len <= seed.length - 8) {
        let h: Uint8Array = seed.subarray(8, 8 + len);
        for (let k = 1 + this.int(2); k > 0; k--) {
          const op = this.pick(this.textOps());
          h = op.apply(h);
          how.push(`header: ${op.name}`);
        }
        b = concat(new Uint8Array(8), h, seed.subarray(8 + len));
        new DataView(b.buffer).setBigUint64(0, BigInt(h.length), true);
        n = this.r() < 0.3 ? 1 : 0;
      }
    }
    const ops =
      kind === 'text' ? [...this.byteOps(), ...this.byteOps().slice(0, 2), ...this.textOps(), ...this.textOps()] : [...this.byteOps(), ...this.binaryOps()];
    for (let i = 0; i < n; i++) {
      const op = this.pick(ops);
      b = op.apply(b);
      how.push(op.name);
    }
    return { bytes: b, how };
  }

  private byteOps(): Mutation[] {
    return [
      {
        name: 'bit flip',
        apply: (b) => {
          const c = b.slice();
          if (c.length) c[this.int(c.length)] ^= 1 << this.int(8);
          return c;
        },
      },
      {
        name: 'interesting byte',
        apply: (b) => {
          const c = b.slice();
          if (c.length) c[this.int(c.length)] = this.pick(INTERESTING_BYTES);
          return c;
        },
      },
      {
        name: 'random bytes',
        apply: (b) => {
          const c = b.slice();
          for (let k = this.int(8) + 1; k > 0 && c.length; k--) c[this.int(c.length)] = this.int(256);
          return c;
        },
      },
      { name: 'truncate', apply: (b) => b.slice(0, this.int(b.length + 1)) },
      {
        name: 'delete range',
        apply: (b) => {
          const i = this.int(b.length + 1),
            n = 1 + this.int(64);
          return concat(b.subarray(0, i), b.subarray(i + n));
        },
      },
      {
        name: 'insert bytes',
        apply: (b) => {
          const i = this.int(b.length + 1),
            ins = Uint8Array.from({ length: 1 + this.int(16) }, () => this.int(256));
          return concat(b.subarray(0, i), ins, b.subarray(i));
        },
      },
      {
        name: 'duplicate range',
        apply: (b) => {
          const i = this.int(b.length + 1),
            n = 1 + this.int(256),
            j = this.int(b.length + 1);
          return concat(b.subarray(0, j), b.subarray(i, i + n), b.subarray(j));
        },
      },
    ];
  }

  private binaryOps(): Mutation[] {
    return [
      {
        name: 'u32 field',
        apply: (b) => {
          const c = b.slice();
          if (c.length >= 4) new DataView(c.buffer).setUint32(this.int(c.length - 3), (this.pick(INTERESTING_INTS) + this.int(3) - 1) >>> 0, true);
          return c;
        },
      },
      {
        name: 'u64 field',
        apply: (b) => {
          const c = b.slice();
          if (c.length >= 8)
            new DataView(c.buffer).setBigUint64(
              this.int(c.length - 7) & (this.r() < 0.5 ? 0 : ~0),
              BigInt(this.pick(INTERESTING_INTS)) << BigInt(this.pick([0, 0, 8, 32])),
              true,
            );
          return c;
        },
      },
      {
        name: 'huge varint',
        apply: (b) => {
          const i = this.int(b.length + 1);
          const v = this.pick([
            [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
            [0x80, 0x80, 0x80, 0x80, 0x10],
            [0xff, 0xff, 0xff, 0xff, 0x0f],
            [0x00],
            [0x7f],
          ]);
          return concat(b.subarray(0, i), Uint8Array.from(v), b.subarray(i + this.int(3)));
        },
      },
      {
        name: 'varint +-',
        apply: (b) => {
          const c = b.slice();
          const i = this.int(c.length);
          if (c.length && c[i] < 0x80) c[i] = Math.max(0, Math.min(0x7f, c[i] + this.pick([-2, -1, 1, 2, 64])));
          return c;
        },
      },
    ];
  }

  /**
   * Structure-aware protobuf edits that keep every enclosing length right (the tree is encoded again
   * afterwards): one varint anywhere set to a hostile value (negative, 1e12, 2^32, 2^62, ...), one
   * field repeated up to 2,000 times, or one dropped. Byte-level edits alone rarely reach a dimension
   * or a count without breaking the lengths around it.
   */
  private protoEdits(): { name: string; edit: (t: PbNode[]) => void }[] {
    const all = (t: PbNode[], keep: (n: PbNode) => boolean, out: PbNode[] = []): PbNode[] => {
      for (const n of t) {
        if (keep(n)) out.push(n);
        if (n.children) all(n.children, keep, out);
      }
      return out;
    };
    const lists = (t: PbNode[], out: PbNode[][] = []): PbNode[][] => {
      out.push(t);
      for (const n of t) if (n.children) lists(n.children, out);
      return out;
    };
    const hostile = {
      name: 'hostile varint',
      edit: (t: PbNode[]) => {
        const v = all(t, (n) => n.int !== undefined);
        if (v.length) this.pick(v).int = this.pick(HOSTILE_VARINTS);
      },
    };
    return [
      hostile,
      hostile, // twice as likely as the others
      {
        name: 'repeat field',
        edit: (t) => {
          const l = this.pick(lists(t));
          if (l.length) {
            const i = this.int(l.length);
            l.splice(i, 0, ...Array.from({ length: this.pick([1, 2, 100, 2000]) }, () => l[i]));
          }
        },
      },
      {
        name: 'drop field',
        edit: (t) => {
          const l = this.pick(lists(t));
          if (l.length) l.splice(this.int(l.length), 1);
        },
      },
    ];
  }

  private textOps(): Mutation[] {
    const onText = (name: string, f: (t: string) => string): Mutation => ({ name, apply: (b) => new TextEncoder().encode(f(new TextDecoder().decode(b))) });
    const replaceNth = (t: string, re: RegExp, by: (m: string) => string) => {
      const all = [...t.matchAll(re)];
      if (all.length === 0) return t;
      const m = this.pick(all);
      return t.slice(0, m.index) + by(m[0]) + t.slice(m.index! + m[0].length);
    };
    return [
      onText('hostile number', (t) => replaceNth(t, /-?\d+(\.\d+)?([eE][+-]?\d+)?/g, () => this.pick(HOSTILE_NUMBERS))),
      onText('hostile value', (t) => replaceNth(t, /"(?:[^"\\]|\\.)*"|-?\d+(\.\d+)?|true|false|null/g, () => this.pick(HOSTILE_VALUES))),
      onText('duplicate key', (t) => replaceNth(t, /"(?:[^"\\]|\\.)*"\s*:\s*("(?:[^"\\]|\\.)*"|-?[\d.eE+-]+|true|false|null)\s*,/g, (m) => m + m)),
      onText('drop structure', (t) => replaceNth(t, /[{}[\],:"\n]/g, () => '')),
      onText('add structure', (t) => {
        const i = this.int(t.length + 1);
        return t.slice(0, i) + this.pick(['{', '}', '[', ']', ',', ':', '"', '\n', ',,,,', '\r\n', '"",']) + t.slice(i);
      }),
      onText('many columns', (t) => {
        const i = t.indexOf('\n') + 1;
        return t.slice(0, i) + ','.repeat(500 + this.int(3000)) + t.slice(i);
      }),
    ];
  }
}

export type FuzzKind = 'binary' | 'text' | 'protobuf' | 'safetensors';

const HOSTILE_VARINTS = [0n, 1n, 2n ** 64n - 1n, 2n ** 64n - 128n, 10n ** 12n, 2n ** 31n, 2n ** 32n, 2n ** 62n, 4n * 10n ** 9n, 127n, 65536n];

interface PbNode {
  field: number;
  wire: number;
  int?: bigint;
  bytes?: Uint8Array;
  children?: PbNode[];
}

/** A protobuf message as a tree: a length-delimited field that parses as a message is taken for one. */
function parseTree(b: Uint8Array, depth: number): PbNode[] | null {
  let fields;
  try {
    fields = decodeFields(b);
  } catch {
    return null;
  }
  return fields.map((f) => {
    const n: PbNode = { field: f.field, wire: f.wire, int: f.int, bytes: f.bytes };
    if (f.wire === 2 && depth < 8 && f.bytes!.length > 0) n.children = parseTree(f.bytes!, depth + 1) ?? undefined;
    return n;
  });
}

const trees = new WeakMap<Uint8Array, PbNode[] | null>();
const cloneTree = (t: PbNode[]): PbNode[] => t.map((n) => ({ ...n, children: n.children && cloneTree(n.children) }));

/** parseTree of a seed is computed once (mutations start from the seed itself); a copy is returned to edit. */
function cachedTree(b: Uint8Array): PbNode[] | null {
  if (!trees.has(b)) trees.set(b, parseTree(b, 0));
  const t = trees.get(b);
  return t ? cloneTree(t) : null;
}

function encodeTree(t: PbNode[]): Uint8Array {
  let out = new Uint8Array(1024),
    n = 0;
  const room = (k: number) => {
    if (n + k > out.length) {
      const bigger = new Uint8Array(Math.max(out.length * 2, n + k));
      bigger.set(out.subarray(0, n));
      out = bigger;
    }
  };
  const varint = (v: bigint | number) => {
    room(10);
    if (typeof v === 'number' && v < 2 ** 31) {
      while (v >= 0x80) {
        out[n++] = (v & 0x7f) | 0x80;
        v >>>= 7;
      }
      out[n++] = v;
      return;
    }
    let x = BigInt.asUintN(64, BigInt(v));
    while (x >= 0x80n) {
      out[n++] = Number(x & 0x7fn) | 0x80;
      x >>= 7n;
    }
    out[n++] = Number(x);
  };
  const put = (b: Uint8Array) => {
    room(b.length);
    out.set(b, n);
    n += b.length;
  };
  for (const node of t) {
    varint(node.field * 8 + node.wire);
    if (node.wire === 0) varint(node.int!);
    else if (node.wire === 2) {
      const body = node.children ? encodeTree(node.children) : node.bytes!;
      varint(body.length);
      put(body);
    } else put(node.bytes!);
  }
  return out.slice(0, n);
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((o, p) => (out.set(p, o), o + p.length), 0);
  return out;
}

// ---- typed-array allocation accounting -------------------------------------------------------------

const TYPED = [
  'Int8Array',
  'Uint8Array',
  'Uint8ClampedArray',
  'Int16Array',
  'Uint16Array',
  'Int32Array',
  'Uint32Array',
  'Float32Array',
  'Float64Array',
  'BigInt64Array',
  'BigUint64Array',
] as const;

/** Runs `fn` with the global typed-array constructors wrapped; returns its outcome and the bytes allocated. */
export async function countingAllocations<T>(fn: () => Promise<T>): Promise<{ result?: T; error?: unknown; bytes: number }> {
  const g = globalThis as unknown as Record<string, unknown>;
  const saved = TYPED.map((n) => [n, g[n]] as const);
  let bytes = 0;
  for (const [name, Orig] of saved) {
    const Base = Orig as new (...a: unknown[]) => { byteLength: number };
    const Counted = class extends Base {
      constructor(...args: unknown[]) {
        super(...args);
        const a = args[0];
        if (!(a instanceof ArrayBuffer) && !(typeof SharedArrayBuffer !== 'undefined' && a instanceof SharedArrayBuffer)) bytes += this.byteLength;
      }
    };
    Object.defineProperty(Counted, 'name', { value: name });
    g[name] = Counted;
  }
  try {
    return { result: await fn(), bytes };
  } catch (error) {
    return { error, bytes };
  } finally {
    for (const [name, Orig] of saved) g[name] = Orig;
  }
}

// ---- the runner -------------------------------------------------------------------------------------

export interface FuzzTarget {
  name: string;
  kind: FuzzKind;
  seeds: Uint8Array[];
  /** the file paths an error may name (a checkpoint's reader may blame a sibling file) */
  files: string[];
  /** read one (mutated) input; resolves when it loads, rejects when refused */
  run: (bytes: Uint8Array) => Promise<unknown>;
  /** the bytes the reader sees besides the input (other files of a folder), for the allocation bound */
  extraBytes?: number;
}

export interface FuzzFailure {
  target: string;
  input: number;
  how: string[];
  bytes: Uint8Array;
  problem: string;
}

/** The contract for one input: `problem` says what broke, if anything; `loaded` whether it was accepted. */
export async function checkInput(t: FuzzTarget, bytes: Uint8Array): Promise<{ problem?: string; loaded: boolean }> {
  const t0 = performance.now();
  const { error, bytes: allocated } = await countingAllocations(() => t.run(bytes));
  const ms = performance.now() - t0;
  const loaded = error === undefined;
  if (!loaded) {
    if (!(error instanceof FileFormatError)) return { loaded, problem: `threw ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}` };
    if (!t.files.includes(error.file) || !error.message.startsWith(error.file))
      return { loaded, problem: `a FileFormatError naming ${JSON.stringify(error.file)}, not one of ${t.files.join(', ')}: ${error.message}` };
  }
  if (ms > PER_INPUT_MS) return { loaded, problem: `took ${ms.toFixed(0)} ms (limit ${PER_INPUT_MS})` };
  const cap = ALLOC_FACTOR * (bytes.length + (t.extraBytes ?? 0)) + ALLOC_SLACK;
  if (allocated > cap) return { loaded, problem: `allocated ${allocated} bytes of typed arrays for ${bytes.length} input bytes (cap ${cap})` };
  return { loaded };
}

/** `count` seeded mutations of the target's seeds: every input that broke the contract, and how many loaded or were refused. */
export async function runFuzz(t: FuzzTarget, count: number, seed: number): Promise<{ failures: FuzzFailure[]; loaded: number; refused: number }> {
  const m = new Mutator(seed);
  const failures: FuzzFailure[] = [];
  let loaded = 0;
  for (let i = 0; i < count; i++) {
    const { bytes, how } = m.mutate(t.seeds[i % t.seeds.length], t.kind);
    const r = await checkInput(t, bytes);
    if (r.problem) failures.push({ target: t.name, input: i, how, bytes, problem: r.problem });
    if (r.loaded) loaded++;
  }
  return { failures, loaded, refused: count - loaded };
}
