// What a fresh clone of the repository holds, for the specs that run the project as a new user would
// (`npm pack` in test/package.e2e-spec.ts, `npm start` in test/dashboard-start.e2e-spec.ts).
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';

export const REPO = process.cwd();

/** The environment of every child: no NODE_OPTIONS of Jest's, no npm_* of an outer `npm test` (its prefix, say). */
export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (key !== 'NODE_OPTIONS' && !/^npm_/i.test(key)) env[key] = value;
  }
  return { ...env, ...extra };
}

export interface CleanCopyOptions {
  /**
   * 'whole': node_modules is one link to the repository's. 'workspace': each package is linked on its own, except
   * the workspace's `nestjs-mqtt`, which points at the copy's libs/mqtt (so the copy's build is the one used).
   */
  nodeModules: 'whole' | 'workspace';
}

/** A copy of what a clean checkout of the working tree holds (tracked and new files, nothing git ignores). */
export function cleanCopy(to: string, options: CleanCopyOptions): void {
  let listed: string;
  try {
    listed = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
      cwd: REPO,
      encoding: 'utf8',
      maxBuffer: 16 * 1024 * 1024,
    });
  } catch (error) {
    throw new Error(`this test copies the git working tree and needs git and a checkout of the repository: ${String(error)}`, { cause: error });
  }
  listed
    .split('\0')
    .filter((file) => file && existsSync(join(REPO, file)))
    .forEach((file) => {
      mkdirSync(dirname(join(to, file)), { recursive: true });
      copyFileSync(join(REPO, file), join(to, file));
    });
  // What `npm ci` would install; linked, as a clean checkout has no node_modules of its own.
  const modules = join(REPO, 'node_modules');
  if (!existsSync(modules)) throw new Error(`${modules} is missing: run npm ci`);
  if (options.nodeModules === 'whole') {
    symlinkSync(modules, join(to, 'node_modules'), 'dir');
    return;
  }
  mkdirSync(join(to, 'node_modules'));
  for (const name of readdirSync(modules)) {
    const target = name === 'nestjs-mqtt' ? join(to, 'libs', 'mqtt') : join(modules, name);
    symlinkSync(target, join(to, 'node_modules', name));
  }
}
