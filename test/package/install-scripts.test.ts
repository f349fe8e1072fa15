// Install scripts. npm (from 11.19) lists dependencies whose install scripts package.json's allowScripts has
// not reviewed, and says a later release will block them: then `npm install` in a clone would leave bun,
// deno, workerd and esbuild without their binaries, and `npm test` would fail far from the cause. So every
// installed package with an install script must be named in allowScripts (true: it runs; false: it must
// not — onnxruntime-node's only downloads CUDA binaries, which .npmrc skips on npm versions that ignore
// allowScripts). And a user's `npm install gptedge` needs no approval at all: the package and its
// dependencies run no install scripts. Node only (vitest).
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { assert, assertEqual, runtime, test } from '../lib/harness.ts';

interface Manifest {
  name: string;
  version: string;
  scripts?: Record<string, string>;
  dependencies?: Record<string, string>;
  allowScripts?: Record<string, boolean>;
}
const read = (dir: string): Manifest => JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));

// npm's own rule: preinstall, install or postinstall, or a binding.gyp (which npm builds with node-gyp)
const INSTALL_SCRIPTS = ['preinstall', 'install', 'postinstall'];
const installScripts = (dir: string, m: Manifest): string[] => [
  ...INSTALL_SCRIPTS.filter((s) => m.scripts?.[s]).map((s) => `${s}: ${m.scripts?.[s]}`),
  ...(existsSync(join(dir, 'binding.gyp')) ? ['binding.gyp'] : []),
];

/** every package directory under node_modules, nested ones and scopes included */
function packageDirs(root: string): string[] {
  const out: string[] = [];
  const walk = (nm: string) => {
    if (!existsSync(nm)) return;
    for (const e of readdirSync(nm, { withFileTypes: true })) {
      if (!e.isDirectory() || e.name.startsWith('.')) continue;
      const dirs = e.name.startsWith('@')
        ? readdirSync(join(nm, e.name), { withFileTypes: true })
            .filter((s) => s.isDirectory())
            .map((s) => join(nm, e.name, s.name))
        : [join(nm, e.name)];
      for (const d of dirs) {
        if (!existsSync(join(d, 'package.json'))) continue;
        out.push(d);
        walk(join(d, 'node_modules'));
      }
    }
  };
  walk(join(root, 'node_modules'));
  return out;
}

if (runtime === 'node') {
  const own = read('.');

  test('install scripts: every installed dependency that has one is reviewed in allowScripts', () => {
    const reviewed = own.allowScripts ?? {};
    const withScripts = packageDirs('.')
      .map((d) => ({ m: read(d), scripts: installScripts(d, read(d)) }))
      .filter((p) => p.scripts.length > 0);
    // the ones the clone needs are there: a check that found nothing would prove nothing
    for (const n of ['bun', 'deno', 'workerd', 'esbuild'])
      assert(
        withScripts.some((p) => p.m.name === n),
        `${n} is installed with an install script`,
      );
    const unreviewed = withScripts.filter((p) => !(p.m.name in reviewed)).map((p) => `${p.m.name}@${p.m.version} (${p.scripts.join('; ')})`);
    assertEqual(unreviewed, [], 'dependencies with install scripts that package.json allowScripts does not name (npm approve-scripts / deny-scripts)');
    assertEqual(reviewed['onnxruntime-node'], false, 'onnxruntime-node: its install script only downloads CUDA binaries');
  });

  test("install scripts: gptedge's own dependencies run none, so `npm install gptedge` needs no approval", () => {
    // the tarball's package.json has none (its prepare runs in a clone, not from a registry)
    assertEqual(installScripts('.', own), [], 'gptedge itself');
    // its dependencies, and theirs, as installed here
    const seen = new Set<string>(),
      found: string[] = [];
    // node's resolution: the nearest node_modules from the dependent package up to the root
    const resolve = (name: string, from: string): string => {
      const chain = from === '.' ? [] : from.split(/\/?node_modules\//).filter(Boolean); // 'node_modules/a/node_modules/@s/b' → a, @s/b
      for (let i = chain.length; i >= 0; i--) {
        const base = i === 0 ? '.' : `node_modules/${chain.slice(0, i).join('/node_modules/')}`;
        if (existsSync(join(base, 'node_modules', name, 'package.json'))) return join(base, 'node_modules', name);
      }
      throw new Error(`${name} (a dependency of ${from}) is not installed`);
    };
    const visit = (name: string, from: string) => {
      const dir = resolve(name, from);
      if (seen.has(dir)) return;
      seen.add(dir);
      const m = read(dir);
      const s = installScripts(dir, m);
      if (s.length) found.push(`${name} (${s.join('; ')})`);
      for (const d of Object.keys(m.dependencies ?? {})) visit(d, dir);
    };
    for (const d of Object.keys(own.dependencies ?? {})) visit(d, '.');
    assert(seen.size >= Object.keys(own.dependencies ?? {}).length, 'every dependency visited');
    assertEqual(found, [], 'dependencies of gptedge with install scripts');
  });
}
