// The WASM kernels' parameters are declared once (src/backend/wasm/kernels.ts) and checked against the
// AssemblyScript sources (names, order, types) and against the compiled module (every kernel exported,
// with the declared number of parameters); calls pass arguments by name.
import { readdirSync, readFileSync } from 'node:fs';
import { argList, bindKernels, checkKernels, paramNames, splitKernels } from '../../src/backend/wasm/kernels.ts';
import { assert, assertEqual, assertThrows, test } from '../lib/harness.ts';

const dir = new URL('../../wasm/assembly/', import.meta.url);
const sources = () =>
  Object.fromEntries(
    readdirSync(dir)
      .filter((f) => f.endsWith('.ts'))
      .map((f) => [f, readFileSync(new URL(f, dir), 'utf8')]),
  );

test('wasm kernels: every declaration agrees with wasm/assembly, and every export of index.ts is declared', () => {
  assertEqual(checkKernels(sources()), []);
});

test('wasm kernels: a parameter renamed, reordered or retyped on one side, or an export undeclared, is reported', () => {
  const edit = (file: string, from: string, to: string) => {
    const s = sources();
    assert(s[file].includes(from), `${file} holds ${from}`);
    s[file] = s[file].replace(from, to);
    return checkKernels(s);
  };
  const one = (problems: string[], pattern: RegExp) => assert(problems.length === 1 && pattern.test(problems[0]), problems.join('\n'));
  one(
    edit(
      'elementwise.ts',
      'export function dropout(out: usize, inp: usize, N: i32, key: u32',
      'export function dropout(out: usize, inp: usize, N: i32, seed: u32',
    ),
    /dropout: wasm\/assembly\/elementwise\.ts takes \(out: usize, inp: usize, N: i32, seed: u32, .*declares \(out: ptr, inp: ptr, N: i32, key: u32/,
  );
  one(edit('rows.ts', 'gatherRows(out: usize, inp: usize,', 'gatherRows(inp: usize, out: usize,'), /gatherRows: .* takes \(inp: usize, out: usize,/);
  one(edit('adamw.ts', 'maxNorm: f32, tid', 'maxNorm: f64, tid'), /adamw: .*maxNorm: f64/);
  one(
    edit('softmax.ts', 'dscale: f32, tid: i32, nth: i32', 'dscale: f32'),
    /crossEntropyBackward: .* takes \(.*dscale: f32\), .*dscale: f32, tid: i32, nth: i32\)/,
  );
  one(edit('index.ts', ', dropout }', ', dropout, mix }'), /index\.ts exports mix, which src\/backend\/wasm\/kernels\.ts does not declare/);
  one(edit('index.ts', 'accumulate, ', ''), /accumulate: not exported by wasm\/assembly\/index\.ts/);
});

test('wasm kernels: arguments are laid out in declared order whatever the order of the call; a module that differs is refused', () => {
  assertEqual(paramNames('gatherRows'), ['out', 'inp', 'idx', 'R', 'C']);
  assertEqual(argList('gatherRows', { C: 5, R: 4, idx: 3, inp: 2, out: 1 }), [1, 2, 3, 4, 5]);
  // a fake module: every declared kernel with the right arity, then one missing and one with another arity
  const exports: Record<string, unknown> = {};
  const arity = (n: number) => new Function(...Array.from({ length: n }, (_, i) => `a${i}`), 'return 0');
  for (const [name, n] of Object.entries({ gatherRows: 7, heapBase: 0 })) exports[name] = arity(n);
  assertThrows(() => bindKernels(exports), /the module exports no \w+ \(rebuild it: node wasm\/build\.mjs\)/);
  const real = sources()['index.ts'];
  const declared = [...real.matchAll(/export\s*\{([^}]*)\}/g)].flatMap((m) =>
    m[1]
      .split(',')
      .map((x) => x.trim())
      .filter((x) => x),
  );
  const split = new Set<string>(splitKernels());
  for (const name of declared) exports[name] = arity(paramNames(name as 'gatherRows').length + (split.has(name) ? 2 : 0));
  bindKernels(exports);
  exports.gatherRows = arity(5);
  assertThrows(() => bindKernels(exports), /gatherRows takes 5 parameters in the module, 7 in src\/backend\/wasm\/kernels\.ts/);
});
