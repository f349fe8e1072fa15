// src/wgsl/index.ts is generated from the .wgsl files by scripts/build-wgsl.mjs: fail when it is stale,
// and check that each kernel the backend names exists in its module. Needs no GPU.
import { readFileSync } from 'node:fs';
import { assert, assertEqual, test } from '../lib/harness.ts';
// @ts-ignore: a plain .mjs build script without type declarations
import { generate } from '../../scripts/build-wgsl.mjs';
import * as wgsl from '../../src/wgsl/index.ts';

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
