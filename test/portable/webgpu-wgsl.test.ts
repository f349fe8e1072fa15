// src/wgsl/index.ts is generated from the .wgsl files by scripts/build-wgsl.mjs: fail when it is stale;
// and each kernel's entry point and Params struct agree with src/backend/webgpu/kernels.ts. Needs no GPU.
import { readFileSync } from 'node:fs';
import { assert, assertEqual, test } from '../lib/harness.ts';
// @ts-ignore: a plain .mjs build script without type declarations
import { generate } from '../../scripts/build-wgsl.mjs';
import * as wgsl from '../../src/wgsl/index.ts';
import { checkParams } from '../../src/backend/webgpu/kernels.ts';

test('wgsl: src/wgsl/index.ts is up to date with src/wgsl/*.wgsl (run node scripts/build-wgsl.mjs)', () => {
  const current = readFileSync(new URL('../../src/wgsl/index.ts', import.meta.url), 'utf8');
  assertEqual(current === (generate as () => string)(), true, 'src/wgsl/index.ts is stale');
});

test('wgsl: every module declares compute entry points and no f32 atomics', () => {
  for (const [name, code] of Object.entries(wgsl)) {
    if (name === 'common' || name === 'reduce') continue; // shared snippets prepended to modules
    assert(/@compute/.test(code), `${name} has no @compute entry point`);
    assert(!/atomic<f32>/.test(code), `${name} uses f32 atomics, which WGSL does not have`);
  }
});

test("wgsl: every kernel's Params struct matches its declaration in kernels.ts, and a mismatch is caught", () => {
  const sources = wgsl as unknown as Record<string, string>;
  assertEqual(checkParams(sources), [], 'checkParams on the shipped WGSL');
  // each way one side can drift: a field renamed, reordered, retyped, dropped; a struct no kernel declares
  const edits: [string, (s: string) => string, RegExp][] = [
    ['renamed', (s) => s.replace('o_bias: u32,', 'o_bia: u32,'), /struct MatmulParams in matmul\.wgsl is \{[^}]*o_bia: u32/],
    ['reordered', (s) => s.replace('lda: u32, ldb: u32', 'ldb: u32, lda: u32'), /MatmulParams/],
    ['retyped', (s) => s.replace('lda: u32', 'lda: f32'), /lda: f32/],
    ['dropped', (s) => s.replace(' ldo: u32,', ''), /MatmulParams/],
    ['orphan', (s) => s + '\nstruct ExtraParams { n: u32 }\n', /ExtraParams, which no kernel/],
  ];
  for (const [what, edit, want] of edits) {
    const problems = checkParams({ ...sources, matmul: edit(sources.matmul) });
    assert(
      problems.some((p) => want.test(p)),
      `a ${what} field should be reported, got ${JSON.stringify(problems)}`,
    );
  }
});
