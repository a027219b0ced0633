// The prepack and postpack steps of the nestjs-mqtt package (libs/mqtt), run by `npm pack` and `npm publish`:
//   node ../../scripts/pack-lib.js prepack    empties dist/, builds it from src/ with tsconfig.lib.json, checks that
//                                             every file package.json points to or lists in `files` exists, then
//                                             copies README.md and LICENSE in from the repository root
//   node ../../scripts/pack-lib.js postpack   removes those copies again
// The repository root holds the one copy of README.md and LICENSE; the copies in libs/mqtt are git-ignored and live
// only while npm packs. CHANGELOG.md is the package's own (libs/mqtt/CHANGELOG.md, written by changesets) and is not
// copied. dist/ is emptied first so that a file moved or deleted in src/ never ships from an old build.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const lib = join(root, 'libs', 'mqtt');
/** Files copied from the repository root into the package while it is packed. */
const SHARED = ['README.md', 'LICENSE'];

function fail(message) {
  console.error(`pack-lib: ${message}`);
  process.exit(1);
}

/** Every path package.json names for consumers (main, types, exports, typesVersions), relative to the package. */
function declaredFiles(pkg) {
  const files = new Set([pkg.main, pkg.types]);
  const walk = (target) => {
    if (typeof target === 'string') files.add(target);
    else if (target && typeof target === 'object') for (const value of Object.values(target)) walk(value);
  };
  walk(pkg.exports);
  for (const mapping of Object.values(pkg.typesVersions ?? {})) walk(mapping);
  return [...files].filter((file) => typeof file === 'string' && !file.includes('*'));
}

function prepack() {
  rmSync(join(lib, 'dist'), { recursive: true, force: true });
  const tsc = join(dirname(createRequire(join(lib, 'package.json')).resolve('typescript/package.json')), 'bin', 'tsc');
  const build = spawnSync(process.execPath, [tsc, '-p', join(lib, 'tsconfig.lib.json')], { stdio: 'inherit' });
  if (build.status !== 0) fail(`the build (tsc -p libs/mqtt/tsconfig.lib.json) failed with ${build.status ?? build.signal}`);

  const pkg = JSON.parse(readFileSync(join(lib, 'package.json'), 'utf8'));
  const missing = declaredFiles(pkg).filter((file) => !existsSync(join(lib, file)));
  if (missing.length > 0) fail(`package.json points to files the build did not produce: ${missing.join(', ')}`);
  // npm pack skips a name in `files` that matches nothing, without a word.
  const unlisted = (pkg.files ?? []).filter((file) => !SHARED.includes(file) && !file.includes('*') && !existsSync(join(lib, file)));
  if (unlisted.length > 0) fail(`package.json lists files that libs/mqtt does not have: ${unlisted.join(', ')}`);

  const absent = SHARED.filter((name) => !existsSync(join(root, name)));
  if (absent.length > 0) fail(`missing at the repository root, and the package ships them: ${absent.join(', ')}`);
  for (const name of SHARED) copyFileSync(join(root, name), join(lib, name));
}

function postpack() {
  for (const name of SHARED) {
    const copy = join(lib, name);
    // Only a copy identical to the root's is ours to remove.
    if (existsSync(copy) && readFileSync(copy).equals(readFileSync(join(root, name)))) rmSync(copy);
  }
}

const step = process.argv[2];
if (step === 'prepack') prepack();
else if (step === 'postpack') postpack();
else fail(`unknown step ${JSON.stringify(step)}: use prepack or postpack`);
