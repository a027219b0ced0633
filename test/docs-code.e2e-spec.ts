// Every ```ts / ```typescript block of README.md and docs/**/*.md is type-checked as its own ES module with the
// repository's tsconfig.json (strict; `nestjs-mqtt`, `nestjs-mqtt/testing`, `nestjs-mqtt/terminus` resolve to
// libs/mqtt/src through `paths`), so an example that drifts from the API fails here, named by file, block and line.
//
// Markers: a block that is deliberately not standalone is preceded by `<!-- ts-check: fragment -->`; it is then
// checked after FRAGMENT_PRELUDE (test/support/docs-code.ts), which declares the context values such fragments use
// without printing them in the docs. Used by README.md's API › Module block (`options`, and the `imports`, `inject`,
// `useFactory` of a forRootAsync() call) and its Health checks block (a Terminus `health` service and an injected
// `mqttHealth`). The blocks still import what they use from the library themselves.
//
// A synthetic document is checked in the same Program, so the test also shows that a broken block is reported with
// the right block number and document line (one Program: the library is type-checked once for all blocks).
import { beforeAll, describe, expect, it } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { checkDocsCode, type DocsCheckResult, type MarkdownDocument } from './support/docs-code.js';

const REPO = process.cwd();
const PROBE = 'docs-code-probe.md';

function markdownFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return markdownFiles(path);
    return entry.name.endsWith('.md') ? [path] : [];
  });
}

const documents: MarkdownDocument[] = [join(REPO, 'README.md'), ...markdownFiles(join(REPO, 'docs'))].map((path) => ({
  name: relative(REPO, path),
  text: readFileSync(path, 'utf8'),
}));

const probe: MarkdownDocument = {
  name: PROBE,
  text: [
    '# probe', // line 1
    '',
    '```ts',
    "import { MqttModule } from 'nestjs-mqtt';", // line 4: block 1
    'MqttModule.forRoot({ url: 42 });', // line 5
    '```',
    '',
    '<!-- ts-check: fragment -->',
    '```typescript',
    "import { MqttModule } from 'nestjs-mqtt';", // line 10: block 2
    'MqttModule.forRoot({ ...options, name: "plant" });',
    'const unknown: string = mqttHealth;', // line 12
    '```',
    '',
    '```sh',
    'echo not TypeScript',
    '```',
  ].join('\n'),
};

describe('TypeScript code blocks in README.md and docs/', () => {
  let result: DocsCheckResult;

  beforeAll(() => {
    result = checkDocsCode(REPO, [...documents, probe]);
  }, 60_000);

  it('finds the blocks', () => {
    const found = result.blocks.filter((block) => block.document !== PROBE);
    expect(found.length).toBeGreaterThan(0);
    expect(found.some((block) => block.document === 'README.md')).toBe(true);
  });

  it('type-checks every block', () => {
    expect(result.problems.filter((problem) => !problem.startsWith(PROBE))).toEqual([]);
  });

  it('reports a broken block by document, block number and line', () => {
    const probeProblems = result.problems.filter((problem) => problem.startsWith(PROBE));
    expect(result.blocks.filter((block) => block.document === PROBE).map((block) => block.fragment)).toEqual([false, true]);
    expect(probeProblems).toHaveLength(2);
    expect(probeProblems[0]).toMatch(/^docs-code-probe\.md block 1 \(line 5:\d+\): TS2322 /);
    expect(probeProblems[1]).toMatch(/^docs-code-probe\.md block 2 \(line 12:7\): TS2322 /);
  });
});
