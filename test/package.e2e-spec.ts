// The package as a user gets it: packed by `npm pack` from a clean copy of the working tree (no dist/ to reuse),
// installed into two fresh consumer apps outside the repository, an ES module one and a CommonJS one, compiled with
// tsc without skipLibCheck, and run against a private Mosquitto. No registry is needed: the tarball is extracted
// into each app's node_modules, and only the dependencies the packed package.json declares (plus @types/node) are
// linked in from the repository's node_modules, so a file, an export or a dependency the package forgot fails here.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, parse } from 'node:path';
import { MosquittoBroker } from './fixtures/mosquitto.js';
import { mosquittoPub, mosquittoSub } from './fixtures/mosquitto-clients.js';
import { childEnv, cleanCopy, REPO } from './support/clean-copy.js';

const CONSUMER_SOURCES = join(REPO, 'test', 'support', 'consumer');
const TSC = join(REPO, 'node_modules', 'typescript', 'bin', 'tsc');

interface PackedFile {
  path: string;
  size: number;
}
interface PackResult {
  filename: string;
  size: number;
  unpackedSize: number;
  files: PackedFile[];
}
interface PackageJson {
  name: string;
  main?: string;
  types?: string;
  exports?: Record<string, unknown>;
  typesVersions?: Record<string, Record<string, string[]>>;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}
interface RunResult {
  stdout: string;
  /** stdout and stderr. */
  output: string;
}

/** Runs a program to its end; rejects, with everything it printed, when it fails or outlives `timeoutMs`. */
function run(what: string, file: string, args: string[], options: { cwd: string; timeoutMs: number; env?: Record<string, string> }): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    execFile(
      file,
      args,
      { cwd: options.cwd, env: childEnv(options.env), timeout: options.timeoutMs, killSignal: 'SIGKILL', maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const output = `${stdout}${stderr}`.trim();
        if (error) {
          const why = error.killed ? `did not finish within ${options.timeoutMs} ms` : `failed (exit ${String(error.code)})`;
          reject(new Error(`${what} ${why}: ${file} ${args.join(' ')} in ${options.cwd}\n${output}`));
        } else {
          resolvePromise({ stdout, output });
        }
      },
    );
  });
}

/** Module resolution walks up from the consumer apps: a node_modules above them would hide a missing dependency. */
function assertNoNodeModulesAbove(dir: string): void {
  for (let current = dir; ; current = dirname(current)) {
    const candidate = join(current, 'node_modules');
    if (existsSync(candidate)) {
      throw new Error(`${candidate} exists above the consumer apps' folder (${dir}): packages there would resolve for them; set TMPDIR to another folder`);
    }
    if (current === parse(current).root) return;
  }
}

function execFileSyncText(file: string, args: string[]): string {
  return execFileSync(file, args, { cwd: REPO, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
}

function writeJson(file: string, value: unknown): void {
  writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);
}

type Kind = 'esm' | 'cjs';

/** The peers the package declares, less the optional ones when `withOptionalPeers` is false; and @types/node. */
function linkedPackages(packed: PackageJson, withOptionalPeers = true): string[] {
  const optional = (name: string): boolean => packed.peerDependenciesMeta?.[name]?.optional === true;
  const peers = Object.keys(packed.peerDependencies ?? {}).filter((name) => withOptionalPeers || !optional(name));
  return [...Object.keys(packed.dependencies ?? {}), ...peers, '@types/node'];
}

/** Extracts the tarball into `dir`/node_modules and links each of `linked` from the repository's node_modules. */
async function installPackage(dir: string, tarball: string, packed: PackageJson, linked: string[]): Promise<void> {
  const target = join(dir, 'node_modules', packed.name);
  mkdirSync(target, { recursive: true });
  await run('extracting the tarball', 'tar', ['-xzf', tarball, '-C', target, '--strip-components=1'], { cwd: dir, timeoutMs: 20_000 });
  for (const name of linked) {
    const from = join(REPO, 'node_modules', name);
    if (!existsSync(from)) throw new Error(`${name}, which the packed package.json declares, is not in the repository's node_modules: run npm ci`);
    mkdirSync(dirname(join(dir, 'node_modules', name)), { recursive: true });
    symlinkSync(from, join(dir, 'node_modules', name), 'dir');
  }
}

/**
 * A fresh consumer app: the consumer sources, its package.json and tsconfig, the packed package extracted into
 * node_modules/nestjs-mqtt, and each dependency and peer the package declares linked from the repository.
 */
async function createConsumer(kind: Kind, tarball: string, packed: PackageJson, root: string): Promise<string> {
  const dir = join(root, `consumer-${kind}`);
  mkdirSync(join(dir, 'src'), { recursive: true });
  for (const file of ['thermostat.ts', 'main.ts', 'thermostat.test.ts']) copyFileSync(join(CONSUMER_SOURCES, file), join(dir, 'src', file));
  const linked = linkedPackages(packed);
  writeJson(join(dir, 'package.json'), {
    name: `consumer-${kind}`,
    private: true,
    type: kind === 'esm' ? 'module' : 'commonjs',
    dependencies: { [packed.name]: `file:${tarball}`, ...Object.fromEntries(linked.map((name) => [name, '*'])) },
  });
  const compilerOptions = {
    target: 'ES2022',
    module: kind === 'esm' ? 'nodenext' : 'commonjs',
    strict: true,
    experimentalDecorators: true,
    emitDecoratorMetadata: true,
    skipLibCheck: false,
    types: ['node'],
    rootDir: 'src',
    outDir: 'dist',
  };
  writeJson(join(dir, 'tsconfig.json'), { compilerOptions, include: ['src'] });
  if (kind === 'cjs') {
    // The resolution of older CommonJS projects: exports ignored, subpaths found through typesVersions.
    writeJson(join(dir, 'tsconfig.node10.json'), {
      extends: './tsconfig.json',
      compilerOptions: { moduleResolution: 'node10', ignoreDeprecations: '6.0', noEmit: true },
    });
  }

  await installPackage(dir, tarball, packed, linked);
  return dir;
}

/** Starts a consumer app; collects what it prints and resolves `exited` with its exit code. */
function startApp(dir: string, mqttUrl: string): { child: ChildProcess; output: () => string; ready: Promise<void>; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [join(dir, 'dist', 'main.js')], { cwd: dir, env: childEnv({ MQTT_URL: mqttUrl }), stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  let markReady: () => void = () => undefined;
  const ready = new Promise<void>((resolveReady) => (markReady = resolveReady));
  const collect = (chunk: Buffer): void => {
    output += chunk.toString();
    if (/^READY$/m.test(output)) markReady();
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  const exited = new Promise<number | null>((resolveExit) => child.once('close', (code) => resolveExit(code)));
  return { child, output: () => output, ready, exited };
}

/** Rejects with `message` and the app's output when `promise` has not settled within `ms`. */
async function within<T>(promise: Promise<T>, ms: number, message: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(message())), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

let work: string;
let pack: PackResult;
let tarball: string;
let packed: PackageJson;
let broker: MosquittoBroker;
const apps: ChildProcess[] = [];

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'nestjs-mqtt-package-'));
  assertNoNodeModulesAbove(work);
  const checkout = join(work, 'checkout');
  cleanCopy(checkout, { nodeModules: 'whole' });
  const { stdout } = await run(
    'npm pack of libs/mqtt (prepack builds dist/ first)',
    'npm',
    ['pack', '-w', 'libs/mqtt', '--pack-destination', work, '--json', '--offline', '--loglevel=error'],
    { cwd: checkout, timeoutMs: 60_000 },
  );
  [pack] = JSON.parse(stdout) as PackResult[];
  // postpack removed the copies prepack made of the root's README.md and LICENSE; CHANGELOG.md is the package's own.
  expect(['README.md', 'LICENSE', 'CHANGELOG.md'].filter((file) => existsSync(join(checkout, 'libs', 'mqtt', file)))).toEqual(['CHANGELOG.md']);
  tarball = join(work, pack.filename);
  packed = JSON.parse(execFileSyncText('tar', ['-xzOf', tarball, 'package/package.json'])) as PackageJson;
  broker = await MosquittoBroker.start();
}, 90_000);

afterAll(async () => {
  for (const child of apps) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await broker?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

it('ships the build, a declaration beside every module, README, LICENSE and CHANGELOG, and no source maps', () => {
  const files = pack.files.map((file) => file.path).sort();
  expect(files.filter((file) => !file.startsWith('dist/'))).toEqual(['CHANGELOG.md', 'LICENSE', 'README.md', 'package.json']);
  const dist = files.filter((file) => file.startsWith('dist/'));
  expect(dist.filter((file) => !/\.(js|d\.ts)$/.test(file))).toEqual([]);
  expect(dist.filter((file) => /\.spec\./.test(file))).toEqual([]);
  const modules = dist.filter((file) => file.endsWith('.js'));
  expect(modules.filter((file) => !files.includes(file.replace(/\.js$/, '.d.ts')))).toEqual([]);
  expect(modules).toEqual(expect.arrayContaining(['dist/index.js', 'dist/testing/index.js', 'dist/terminus/index.js']));

  // Every path package.json gives consumers is in the tarball.
  const declared = new Set<string>([packed.main ?? '', packed.types ?? '']);
  const walk = (target: unknown): void => {
    if (typeof target === 'string') declared.add(target);
    else if (target && typeof target === 'object') Object.values(target).forEach(walk);
  };
  walk(packed.exports);
  walk(packed.typesVersions);
  expect([...declared].map((path) => path.replace(/^\.\//, '')).filter((path) => !files.includes(path))).toEqual([]);
  expect(Object.keys(packed.exports ?? {}).sort()).toEqual(['.', './package.json', './terminus', './testing']);
  expect(packed.typesVersions?.['*']).toEqual({ testing: ['./dist/testing/index.d.ts'], terminus: ['./dist/terminus/index.d.ts'] });

  // The library needs nothing at install time but its peers; the two for the subpaths are optional.
  expect(packed.dependencies ?? {}).toEqual({});
  expect(packed.devDependencies).toBeUndefined();
  expect(packed.peerDependenciesMeta).toEqual({ aedes: { optional: true }, '@nestjs/terminus': { optional: true }, '@opentelemetry/api': { optional: true } });
  expect(Object.keys(packed.peerDependencies ?? {}).sort()).toEqual([
    '@nestjs/common',
    '@nestjs/core',
    '@nestjs/terminus',
    '@opentelemetry/api',
    'aedes',
    'mqtt',
    'reflect-metadata',
    'rxjs',
  ]);

  const license = execFileSyncText('tar', ['-xzOf', tarball, 'package/LICENSE']);
  expect(license).toMatch(/^MIT License\n\nCopyright \(c\) 2026 nestjs-mqtt contributors\n/);
  expect(execFileSyncText('tar', ['-xzOf', tarball, 'package/README.md'])).toBe(readFileSync(join(REPO, 'README.md'), 'utf8'));
  // The changelog changesets writes (libs/mqtt/CHANGELOG.md), not the root's pointer to it.
  expect(execFileSyncText('tar', ['-xzOf', tarball, 'package/CHANGELOG.md'])).toBe(readFileSync(join(REPO, 'libs', 'mqtt', 'CHANGELOG.md'), 'utf8'));
});

describe.each<[Kind, string, string]>([
  ['esm', 'an ES module app (type: module, module: nodenext)', 'kitchen'],
  ['cjs', 'a CommonJS app (module: commonjs)', 'attic'],
])('%s: %s', (kind, _title, room) => {
  let dir: string;

  beforeAll(async () => {
    dir = await createConsumer(kind, tarball, packed, work);
  });

  it(`compiles with tsc without skipLibCheck${kind === 'cjs' ? ', also with moduleResolution node10' : ''}`, async () => {
    const configs = kind === 'cjs' ? ['tsconfig.json', 'tsconfig.node10.json'] : ['tsconfig.json'];
    await Promise.all(
      configs.map((config) =>
        run(`tsc -p ${config} in the ${kind} consumer`, process.execPath, [TSC, '-p', join(dir, config)], { cwd: dir, timeoutMs: 60_000 }),
      ),
    );
    const main = readFileSync(join(dir, 'dist', 'main.js'), 'utf8');
    expect(main).toContain(kind === 'esm' ? "from 'nestjs-mqtt/terminus'" : 'require("nestjs-mqtt/terminus")');
  }, 90_000);

  it('runs against Mosquitto: the home/+room/temperature handler gets the room, its publish arrives, the app exits by itself', async () => {
    expect(existsSync(join(dir, 'dist', 'main.js'))).toBe(true);
    const port = broker.ports.plain as number;
    const heater = await mosquittoSub(port, 'home/+/heater', { qos: 1 });
    try {
      const app = startApp(dir, broker.url());
      apps.push(app.child);
      const early = app.exited.then((code) => {
        throw new Error(`the ${kind} consumer exited (code ${String(code)}) before it was ready:\n${app.output()}`);
      });
      early.catch(() => undefined);
      await within(Promise.race([app.ready, early]), 15_000, () => `the ${kind} consumer did not print READY within 15 s:\n${app.output()}`);
      await mosquittoPub(port, `home/${room}/temperature`, JSON.stringify({ celsius: 15 }), { qos: 1 });
      const [command] = await heater.waitForCount(1, 10_000);
      expect(command.topic).toBe(`home/${room}/heater`);
      expect(JSON.parse(command.payload.toString())).toEqual({ on: true, room });
      const code = await within(app.exited, 15_000, () => `the ${kind} consumer did not exit within 15 s after handling the reading:\n${app.output()}`);
      expect({ code, output: app.output() }).toEqual({ code: 0, output: expect.stringContaining(`HEALTH ok\nREADY\n`) });
      expect(app.output()).toMatch(new RegExp(`^HANDLED ${room}$`, 'm'));
    } finally {
      await heater.stop();
    }
  }, 60_000);

  it("the app's own test passes with createTestBroker() from nestjs-mqtt/testing", async () => {
    const { output } = await run(`node --test in the ${kind} consumer`, process.execPath, ['--test', join(dir, 'dist', 'thermostat.test.js')], {
      cwd: dir,
      timeoutMs: 30_000,
    });
    expect(output).toMatch(/# pass 1\n# fail 0/);
  }, 60_000);
});

describe('an app without the optional peers aedes and @nestjs/terminus', () => {
  let dir: string;

  beforeAll(async () => {
    dir = join(work, 'consumer-without-optional-peers');
    mkdirSync(dir, { recursive: true });
    for (const file of ['missing-peers.js', 'missing-peers.cjs']) copyFileSync(join(CONSUMER_SOURCES, file), join(dir, file));
    const linked = linkedPackages(packed, false);
    writeJson(join(dir, 'package.json'), {
      name: 'consumer-without-optional-peers',
      private: true,
      type: 'module',
      dependencies: { [packed.name]: `file:${tarball}`, ...Object.fromEntries(linked.map((name) => [name, '*'])) },
    });
    await installPackage(dir, tarball, packed, linked);
  });

  it.each([
    ['an ES module', 'missing-peers.js'],
    ['CommonJS (require(esm))', 'missing-peers.cjs'],
  ])(
    '%s: imports nestjs-mqtt/testing and nestjs-mqtt/terminus; using them fails with an MqttError naming the package to install',
    async (_kind, file) => {
      expect(['aedes', '@nestjs/terminus'].filter((name) => existsSync(join(dir, 'node_modules', name)))).toEqual([]);
      const { output } = await run(`node ${file} without the optional peers`, process.execPath, [join(dir, file)], { cwd: dir, timeoutMs: 20_000 });
      expect(output).toBe(
        [
          'testing: MqttError: nestjs-mqtt/testing needs the optional peer "aedes": npm install aedes',
          'terminus: MqttError: nestjs-mqtt/terminus needs the optional peer "@nestjs/terminus": npm install @nestjs/terminus',
        ].join('\n'),
      );
    },
    30_000,
  );
});
