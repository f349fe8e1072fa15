// Packages the CLI uses for one job only (demo corpora, labelled data, Dawn, ONNX Runtime) are not
// dependencies of gptedge: each is loaded when that job runs, and its absence is one clear line that
// says what to install. Resolution starts from here, so a package installed beside gptedge is found.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export class MissingPackageError extends Error {}

const missing = (err: unknown) => ['MODULE_NOT_FOUND', 'ERR_MODULE_NOT_FOUND'].includes((err as { code?: string }).code ?? '');

/** require() of an optional CommonJS package, or a MissingPackageError naming it and what needs it. */
export function requireOptional<T>(pkg: string, purpose: string): T {
  try {
    return require(pkg) as T;
  } catch (err) {
    if (missing(err) && String((err as Error).message).includes(pkg))
      throw new MissingPackageError(`${purpose} needs the npm package ${pkg}, which is not installed: npm install ${pkg}`);
    throw err;
  }
}

/** The path of a file inside an optional package (require.resolve), or the same clear error. */
export function resolveOptional(specifier: string, pkg: string, purpose: string): string {
  try {
    return require.resolve(specifier);
  } catch (err) {
    if (missing(err)) throw new MissingPackageError(`${purpose} needs the npm package ${pkg}, which is not installed: npm install ${pkg}`);
    throw err;
  }
}

/** import() of an optional ES module package, or the same clear error. */
export async function importOptional<T>(pkg: string, purpose: string): Promise<T> {
  try {
    return (await import(pkg)) as T;
  } catch (err) {
    if (missing(err)) throw new MissingPackageError(`${purpose} needs the npm package ${pkg}, which is not installed: npm install ${pkg}`);
    throw err;
  }
}
