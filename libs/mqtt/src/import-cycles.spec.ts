import { describe, expect, it } from '@jest/globals';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/**
 * No runtime import cycle inside `libs/mqtt/src` (issue 10: the equivalent of `madge --circular`, without
 * another dependency). A cycle between ES modules makes evaluation order depend on which file is imported
 * first: one side sees the other's `const`/`class` bindings in their temporal dead zone, and a decorator or a
 * module-level constant that reads them throws `ReferenceError` or captures `undefined`.
 *
 * What counts as an edge: every static `import ... from`, side-effect `import '...'`, `export ... from` and
 * `export * from` with a relative specifier, resolved as NodeNext does for this repository (`./x.js` is
 * `./x.ts`, a directory is its `index.ts`). Package imports (`@nestjs/common`, `mqtt`) cannot close a cycle
 * in this folder and are skipped; so are `.spec.ts` files, which nothing imports.
 *
 * What does not count: edges that vanish at runtime. `import type ...`, `export type ... from`, and an
 * `import { type A, type B }` / `export { type A } from` whose every named binding is `type` are erased by
 * the compiler (tsc and swc alike), so they cannot form a runtime cycle and are ignored. A type-only cycle is
 * harmless. Dynamic `import()` runs after every module has been evaluated and is ignored too.
 *
 * Deliberately conservative: a plain `import { A }` whose `A` is used only as a type is also elided by tsc
 * and swc (this repository does not set `verbatimModuleSyntax`), but it is counted here, because
 * `emitDecoratorMetadata` can turn a type annotation on a decorated constructor into a runtime reference,
 * and reading the file's uses of `A` is beyond a parser-only check. If this spec reports such an edge, the
 * fix is to write it as `import type`, which also documents the intent.
 */

const SRC = dirname(fileURLToPath(import.meta.url));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return name.endsWith('.ts') && !name.endsWith('.spec.ts') && !name.endsWith('.d.ts') ? [path] : [];
  });
}

/** `./x.js` -> `./x.ts`; `./x` -> `./x.ts` or `./x/index.ts`; `./dir/index.js` -> `./dir/index.ts`. */
function resolveRelative(from: string, specifier: string): string | undefined {
  const base = resolve(dirname(from), specifier);
  const stem = base.replace(/\.(js|mjs|cjs|ts|mts|cts)$/, '');
  const candidates = [`${stem}.ts`, `${stem}.mts`, `${stem}.cts`, join(base, 'index.ts'), join(stem, 'index.ts')];
  return candidates.find((candidate) => existsSync(candidate) && statSync(candidate).isFile());
}

function isTypeOnlyImport(node: ts.ImportDeclaration): boolean {
  const clause = node.importClause;
  if (!clause) return false; // import './x.js': a side effect, always kept
  if (clause.isTypeOnly) return true; // import type ...
  if (clause.name) return false; // a default import is a value binding
  const bindings = clause.namedBindings;
  if (!bindings || ts.isNamespaceImport(bindings)) return false;
  // import { type A, type B } from: erased. import {} from: kept as a side-effect import.
  return bindings.elements.length > 0 && bindings.elements.every((element) => element.isTypeOnly);
}

function isTypeOnlyExport(node: ts.ExportDeclaration): boolean {
  if (node.isTypeOnly) return true; // export type { A } from ...
  const clause = node.exportClause;
  if (!clause || !ts.isNamedExports(clause)) return false; // export * from / export * as ns from
  return clause.elements.length > 0 && clause.elements.every((element) => element.isTypeOnly);
}

interface Graph {
  edges: Map<string, string[]>;
  unresolved: string[];
  typeOnlyEdges: number;
}

function runtimeImportGraph(files: string[]): Graph {
  const edges = new Map<string, string[]>();
  const unresolved: string[] = [];
  let typeOnlyEdges = 0;
  for (const file of files) {
    const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
    const targets = new Set<string>();
    for (const statement of source.statements) {
      let specifier: ts.Expression | undefined;
      let typeOnly = false;
      if (ts.isImportDeclaration(statement)) {
        specifier = statement.moduleSpecifier;
        typeOnly = isTypeOnlyImport(statement);
      } else if (ts.isExportDeclaration(statement) && statement.moduleSpecifier) {
        specifier = statement.moduleSpecifier;
        typeOnly = isTypeOnlyExport(statement);
      }
      if (!specifier || !ts.isStringLiteral(specifier) || !specifier.text.startsWith('.')) continue;
      const target = resolveRelative(file, specifier.text);
      if (!target) {
        unresolved.push(`${relative(SRC, file)}: '${specifier.text}'`);
        continue;
      }
      if (typeOnly) {
        typeOnlyEdges += 1;
        continue;
      }
      // An import that leaves libs/mqtt/src (there should be none) cannot be followed back here.
      if (files.includes(target)) targets.add(target);
    }
    edges.set(file, [...targets].sort());
  }
  return { edges, unresolved, typeOnlyEdges };
}

/**
 * Every cycle a depth-first walk closes (each back edge gives one), as `madge --circular` reports them,
 * each rotated to start at its alphabetically first file so the same cycle is listed once.
 */
function findCycles(edges: Map<string, string[]>): string[][] {
  const state = new Map<string, 'active' | 'done'>();
  const stack: string[] = [];
  const seen = new Set<string>();
  const cycles: string[][] = [];
  const visit = (file: string): void => {
    state.set(file, 'active');
    stack.push(file);
    for (const next of edges.get(file) ?? []) {
      if (state.get(next) === 'active') {
        const cycle = stack.slice(stack.indexOf(next));
        const start = cycle.indexOf([...cycle].sort()[0]);
        const rotated = [...cycle.slice(start), ...cycle.slice(0, start)];
        const key = rotated.join('\n');
        if (!seen.has(key)) {
          seen.add(key);
          cycles.push(rotated);
        }
      } else if (!state.has(next)) {
        visit(next);
      }
    }
    stack.pop();
    state.set(file, 'done');
  };
  for (const file of [...edges.keys()].sort()) if (!state.has(file)) visit(file);
  return cycles;
}

describe('import cycles in libs/mqtt/src', () => {
  const files = sourceFiles(SRC).sort();
  const graph = runtimeImportGraph(files);

  it('finds the library sources and their relative imports', () => {
    expect(files.length).toBeGreaterThan(20);
    expect(files).toContain(join(SRC, 'index.ts'));
    const runtimeEdges = [...graph.edges.values()].reduce((sum, targets) => sum + targets.length, 0);
    expect(runtimeEdges).toBeGreaterThan(files.length / 2);
  });

  it('resolves every relative import to a file', () => {
    expect(graph.unresolved).toEqual([]);
  });

  it('has no runtime import cycle (import type edges ignored)', () => {
    const cycles = findCycles(graph.edges).map((cycle) => [...cycle, cycle[0]].map((file) => relative(SRC, file)).join(' -> '));
    expect(cycles).toEqual([]);
  });
});
