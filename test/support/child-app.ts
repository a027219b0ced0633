// Runs a small Nest app of the tests in a child Node process, on the library's sources, without `npm run build`.
// Jest maps `nestjs-mqtt` to libs/mqtt/src and compiles TypeScript in memory; a child `node` has neither. So the
// app's directory and libs/mqtt/src are transpiled with swc (the options of jest.config.ts: legacy decorators and
// design:* metadata, which Nest's DI needs and which Node's own type stripping and esbuild do not emit) into a
// folder under the repository's .tmp/, keeping their layout. Being inside the repository, the output resolves bare
// imports (`@nestjs/core`, `mqtt`, ...) from the repository's node_modules and is an ES module by its package.json.
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { transformFile, type Options } from '@swc/core';
import { findBinary } from '../fixtures/binaries.js';
import { childEnv, REPO } from './clean-copy.js';

const SWC_OPTIONS: Options = {
  jsc: {
    parser: { syntax: 'typescript', decorators: true },
    transform: { legacyDecorator: true, decoratorMetadata: true },
    target: 'es2022',
  },
  module: { type: 'es6' },
  sourceMaps: 'inline',
  swcrc: false,
  configFile: false,
};

const LIB = join(REPO, 'libs', 'mqtt', 'src');

/** `import ... from 'nestjs-mqtt'` and `'nestjs-mqtt/<subpath>'`, static or dynamic. */
const PACKAGE_SPECIFIER = /(['"])nestjs-mqtt(\/[a-z]+)?\1/g;

export interface ChildApp {
  /** The transpiled entry point. */
  readonly entry: string;
  /** Starts the app; `env` is added to the test process's environment (without Jest's NODE_OPTIONS). */
  start(env: Record<string, string>): ChildProcess;
  /** Removes the transpiled files. */
  dispose(): Promise<void>;
}

/** Transpiles `entry` (a path relative to the repository), the rest of its directory and the library; once per test file. */
export async function compileChildApp(entry: string): Promise<ChildApp> {
  const out = join(REPO, '.tmp', 'child-apps', `${process.pid}-${Math.random().toString(16).slice(2, 10)}`);
  const appDir = dirname(join(REPO, entry));
  const lib = (await sources(LIB)).filter((file) => !file.endsWith('.spec.ts'));
  const app = await sources(appDir);
  await Promise.all([...lib.map((file) => transpile(file, out, false)), ...app.map((file) => transpile(file, out, true))]);
  const compiled = join(out, entry.replace(/\.ts$/, '.js'));
  return {
    entry: compiled,
    start: (env) => startOwned(compiled, env),
    dispose: () => rm(out, { recursive: true, force: true }),
  };
}

async function sources(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts'))
    .map((entry) => join(entry.parentPath, entry.name));
}

async function transpile(file: string, out: string, rewritePackage: boolean): Promise<void> {
  const target = join(out, relative(REPO, file)).replace(/\.ts$/, '.js');
  let { code } = await transformFile(file, { ...SWC_OPTIONS, filename: file });
  if (rewritePackage) {
    // The app imports the package as users do; here that is the transpiled sources, by relative path.
    code = code.replace(PACKAGE_SPECIFIER, (_match, quote: string, subpath: string | undefined) => {
      const index = join(out, 'libs', 'mqtt', 'src', ...(subpath ? [subpath.slice(1)] : []), 'index.js');
      const path = relative(dirname(target), index).split(sep).join('/');
      return `${quote}${path.startsWith('.') ? path : `./${path}`}${quote}`;
    });
  }
  await mkdir(dirname(target), { recursive: true });
  await writeFile(target, code);
}

/**
 * A Node child with an IPC channel that cannot outlive the test process: on Linux it runs under `setpriv --pdeathsig
 * KILL`, which execs node (so the pid is node's), as spawnOwned() in test/fixtures/mosquitto.ts does for brokers;
 * spawn() with an 'ipc' stdio entry gives node the same channel fork() would. No execArgv: Jest's flags stay out.
 */
function startOwned(entry: string, env: Record<string, string>): ChildProcess {
  const stdio: StdioOptions = ['ignore', 'pipe', 'pipe', 'ipc'];
  const setpriv = process.platform === 'linux' ? optionalBinary('setpriv') : undefined;
  const [command, args] = setpriv ? [setpriv, ['--pdeathsig', 'KILL', process.execPath, entry]] : [process.execPath, [entry]];
  return spawn(command, args, { stdio, env: childEnv(env), cwd: REPO });
}

function optionalBinary(name: string): string | undefined {
  try {
    return findBinary(name);
  } catch {
    return undefined;
  }
}
