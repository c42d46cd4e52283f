/**
 * The type-check and the lint skipped when nothing they read changed since they last passed
 * on this machine: the digest of every file under src/ and test/, the root configs, the
 * lockfile and Node's version, kept per check under <data>/cache/checks/ after a pass. A
 * run after any edit checks everything again (the lint's type-aware rules read across
 * files, so no per-file cache is sound); an unchanged tree re-run skips 50 s of CPU. A
 * clean clone (CI) has no digest and always checks.
 */
import { createHash } from 'node:crypto';
import { existsSync, globSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT_FILES = ['package.json', 'package-lock.json', 'tsconfig.json', 'eslint.config.js'];

/** The digest of everything a check reads (file names and contents, in name order). */
export function inputsDigest(root: string): string {
  const files = [...globSync(['src/**/*', 'test/**/*'], { cwd: root, withFileTypes: true })]
    .filter((d) => d.isFile())
    .map((d) => join(d.parentPath, d.name).slice(root.length).replace(/^\//, ''))
    .concat(ROOT_FILES.filter((f) => existsSync(join(root, f))))
    .sort();
  const hash = createHash('sha256').update(process.version);
  for (const f of files) hash.update(`\0${f}\0`).update(readFileSync(join(root, f)));
  return hash.digest('hex');
}

const digestFile = (cacheDir: string, name: string) => join(cacheDir, 'checks', `${name}.digest`);

/** Whether check `name` passed on exactly these inputs. */
export function passedOn(cacheDir: string, name: string, digest: string): boolean {
  const file = digestFile(cacheDir, name);
  return existsSync(file) && readFileSync(file, 'utf8') === digest;
}

/** Notes that check `name` passed on these inputs. */
export function notePassed(cacheDir: string, name: string, digest: string): void {
  mkdirSync(join(cacheDir, 'checks'), { recursive: true });
  writeFileSync(digestFile(cacheDir, name), digest);
}
