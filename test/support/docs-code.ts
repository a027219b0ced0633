// Extracts the TypeScript code blocks of Markdown documents and type-checks each one as its own ES module, with the
// repository's tsconfig.json (strict, NodeNext, `paths`, so `nestjs-mqtt`, `nestjs-mqtt/testing` and
// `nestjs-mqtt/terminus` resolve to libs/mqtt/src). The blocks are served from memory at virtual paths inside the
// repository (under test/.docs-code/, which never exists on disk), so their bare imports resolve from the
// repository's node_modules and package.json's "type": "module" makes them ES modules (top-level await works).
// All blocks share one ts.Program, so the library is checked once however many blocks there are.
//
// A block is a ```ts or ```typescript fence. A block that is deliberately not standalone is preceded (on the nearest
// non-blank line) by `<!-- ts-check: fragment -->`: the checker then prepends FRAGMENT_PRELUDE, which declares the
// context values docs fragments use (an `options` object, a Terminus `health` service, ...) without showing them in
// the rendered page. Any other `ts-check:` value is reported as an error, so a typo cannot switch a check off.
import { dirname, join, relative } from 'node:path';
import ts from 'typescript';

export interface MarkdownDocument {
  /** Path shown in reports, relative to the repository (e.g. `README.md`). */
  name: string;
  text: string;
}

export interface CodeBlock {
  document: string;
  /** 1-based index among the document's TypeScript blocks. */
  index: number;
  /** 1-based line in the document of the block's first code line (the line after the opening fence). */
  firstLine: number;
  code: string;
  fragment: boolean;
}

export interface DocsCheckResult {
  blocks: CodeBlock[];
  /** One line per problem: `README.md block 2 (line 93:5): TS2304 Cannot find name 'x'.` */
  problems: string[];
}

const TS_LANGUAGES = new Set(['ts', 'typescript']);
const MARKER = /^<!--\s*ts-check:\s*(.*?)\s*-->$/;

/**
 * Context values that documented fragments refer to. Types are imported under aliases so they cannot clash with
 * a fragment's own imports; keep this list short and in step with the `<!-- ts-check: fragment -->` blocks.
 */
export const FRAGMENT_PRELUDE = [
  "import type { HealthCheckService as DocsHealthCheckService } from '@nestjs/terminus';",
  "import type { MqttModuleAsyncOptions as DocsAsyncOptions, MqttModuleOptions as DocsOptions } from 'nestjs-mqtt';",
  "import type { MqttHealthIndicator as DocsMqttHealthIndicator } from 'nestjs-mqtt/terminus';",
  '/** README API: a client options object, and the parts of a forRootAsync() call. */',
  'declare const options: DocsOptions;',
  "declare const imports: DocsAsyncOptions['imports'];",
  "declare const inject: DocsAsyncOptions['inject'];",
  "declare const useFactory: NonNullable<DocsAsyncOptions['useFactory']>;",
  '/** README health checks: what a Terminus controller has injected. */',
  'declare const health: DocsHealthCheckService;',
  'declare const mqttHealth: DocsMqttHealthIndicator;',
];

/** The TypeScript blocks of one Markdown document, and any malformed `ts-check` markers. */
export function extractCodeBlocks(document: MarkdownDocument): { blocks: CodeBlock[]; problems: string[] } {
  const lines = document.text.split(/\r?\n/);
  const blocks: CodeBlock[] = [];
  const problems: string[] = [];
  let open: { fence: string; language: string; start: number; marker: string | undefined } | undefined;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (!open) {
      const start = /^ {0,3}(`{3,}|~{3,})\s*([^\s`]*)/.exec(line);
      if (!start) continue;
      let previous = i - 1;
      while (previous >= 0 && lines[previous]!.trim() === '') previous--;
      const marker = previous >= 0 ? MARKER.exec(lines[previous]!.trim())?.[1] : undefined;
      open = { fence: start[1]!, language: start[2]!.toLowerCase(), start: i, marker };
      continue;
    }
    const fenceChar = open.fence[0]!;
    const close = new RegExp(`^ {0,3}\\${fenceChar}{${open.fence.length},}\\s*$`);
    if (!close.test(line)) continue;
    if (TS_LANGUAGES.has(open.language)) {
      const index = blocks.length + 1;
      if (open.marker !== undefined && open.marker !== 'fragment') {
        problems.push(`${document.name} block ${index} (line ${open.start}): unknown marker "ts-check: ${open.marker}"; the only one is "ts-check: fragment"`);
      }
      blocks.push({
        document: document.name,
        index,
        firstLine: open.start + 2,
        code: lines.slice(open.start + 1, i).join('\n'),
        fragment: open.marker === 'fragment',
      });
    } else if (open.marker !== undefined) {
      problems.push(`${document.name} line ${open.start}: "ts-check: ${open.marker}" marks a \`\`\`${open.language} block, not a TypeScript one`);
    }
    open = undefined;
  }
  if (open) problems.push(`${document.name} line ${open.start + 1}: code fence never closed`);
  return { blocks, problems };
}

/** Reads tsconfig.json of `repo` as tsc would, then switches emit off. */
function compilerOptions(repo: string): ts.CompilerOptions {
  const configPath = join(repo, 'tsconfig.json');
  const read = ts.readConfigFile(configPath, (path) => ts.sys.readFile(path));
  if (read.error) throw new Error(ts.flattenDiagnosticMessageText(read.error.messageText, '\n'));
  const parsed = ts.parseJsonConfigFileContent(read.config, ts.sys, dirname(configPath), undefined, configPath);
  if (parsed.errors.length > 0) throw new Error(parsed.errors.map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n')).join('\n'));
  return { ...parsed.options, noEmit: true, declaration: false, sourceMap: false };
}

function virtualName(block: CodeBlock): string {
  return `${block.document.replace(/[^A-Za-z0-9]+/g, '-')}-block-${block.index}.ts`;
}

/** Type-checks every TypeScript block of `documents` in one Program; returns the blocks and every problem found. */
export function checkDocsCode(repo: string, documents: MarkdownDocument[]): DocsCheckResult {
  const blocks: CodeBlock[] = [];
  const problems: string[] = [];
  for (const document of documents) {
    const extracted = extractCodeBlocks(document);
    blocks.push(...extracted.blocks);
    problems.push(...extracted.problems);
  }

  const virtualRoot = join(repo, 'test', '.docs-code');
  const sources = new Map<string, { block: CodeBlock; text: string; preludeLines: number }>();
  for (const block of blocks) {
    const prelude = block.fragment ? FRAGMENT_PRELUDE : [];
    // `export {}` keeps a block without imports a module, so blocks never share a global scope.
    const text = [...prelude, block.code, 'export {};', ''].join('\n');
    sources.set(join(virtualRoot, virtualName(block)), { block, text, preludeLines: prelude.length });
  }

  const options = compilerOptions(repo);
  const host = ts.createCompilerHost(options, true);
  const { fileExists, readFile, getSourceFile } = host;
  host.fileExists = (path) => sources.has(path) || fileExists.call(host, path);
  host.readFile = (path) => sources.get(path)?.text ?? readFile.call(host, path);
  host.getSourceFile = (path, languageVersion, onError, shouldCreate) => {
    const source = sources.get(path);
    return source ? ts.createSourceFile(path, source.text, languageVersion, true) : getSourceFile.call(host, path, languageVersion, onError, shouldCreate);
  };
  const program = ts.createProgram({ rootNames: [...sources.keys()], options, host });

  const diagnostics = [
    ...program.getOptionsDiagnostics(),
    ...program.getGlobalDiagnostics(),
    ...[...sources.keys()].flatMap((path) => {
      const file = program.getSourceFile(path);
      return file ? [...program.getSyntacticDiagnostics(file), ...program.getSemanticDiagnostics(file)] : [];
    }),
  ];
  for (const diagnostic of diagnostics) {
    const message = `TS${diagnostic.code} ${ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n  ')}`;
    const file = diagnostic.file;
    if (!file || diagnostic.start === undefined) {
      problems.push(message);
      continue;
    }
    const { line, character } = file.getLineAndCharacterOfPosition(diagnostic.start);
    const source = sources.get(file.fileName);
    if (!source) {
      problems.push(`${relative(repo, file.fileName)}:${line + 1}:${character + 1}: ${message}`);
      continue;
    }
    const where =
      line < source.preludeLines ? `fragment prelude line ${line + 1}` : `line ${source.block.firstLine + line - source.preludeLines}:${character + 1}`;
    problems.push(`${source.block.document} block ${source.block.index} (${where}): ${message}`);
  }
  return { blocks, problems };
}
